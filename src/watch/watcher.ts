/**
 * Watcher: the engine's facade. Owns a ConsulClient, resolves options once, routes each `watch()` to the
 * query that serves it (query-kv.ts), and closes everything in one call.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { LkgStore } from '../cache/lkg-store.js';
import { ConsulClient } from '../consul/client.js';
import { validateKey } from '../consul/kv-args.js';
import { ClosedError } from '../errors.js';
import { DecodeCache, decodeFailure, decoderFor } from './decode.js';
import { KvPlanner } from './kv-planner.js';
import {
  checkWatchOptions,
  type ResolvedWatcherOptions,
  resolveWatcherOptions,
  resolveWatchOptions,
} from './options.js';
import { Subscription } from './subscription.js';
import type { WatcherOptions, WatcherStats, WatchFormat, WatchOptions } from './types.js';
import { UnknownKeysPolicy } from './unknown-keys.js';
import { type TreeValidationContext, type ValidationOutcome, validate } from './validate.js';

/** The `unknownKeys` policy of a subscription, for views that validate a tree of their own. */
export { UnknownKeysPolicy };

/**
 * Decodes one value as `format` does in a subscription, without throwing: the decoded value, or the message
 * a subscription would report (for a secret-looking key it names only the format). For views that report
 * per key, such as the CLI's `watch`.
 */
export function decodeValue(
  format: WatchFormat,
  value: Buffer | null,
  key: string,
): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: decoderFor(format)(value, key) };
  } catch (error) {
    return { ok: false, message: decodeFailure(format, key, error) };
  }
}

/**
 * Validates a tree a view assembled itself (a layered config's merge of several subscriptions) with the
 * engine's one mapper, so its issues read exactly like a subscription's.
 */
export const validateTree: <S extends zc.$ZodType>(
  schema: S,
  tree: unknown,
  context: TreeValidationContext,
) => ValidationOutcome<zc.output<S>> = validate;

/**
 * Throws the InvalidArgumentError `watch(key, options)` would throw for a bad format or `unknownKeys`, for
 * views that must refuse bad input when they are made rather than when they start watching.
 */
export const validateWatchOptions: (key: string, options: WatchOptions) => void = checkWatchOptions;

const OPERATION = 'watch';

/**
 * Watches Consul KV keys and prefixes with blocking queries and serves their decoded, validated values.
 *
 * Every subscription to the same key or prefix (and consistency) shares one blocking query; with `roots`,
 * every subscription below a root shares the root's query. A query stops when its last subscription
 * closes. The watcher owns its ConsulClient and closes it in {@link Watcher.close}.
 *
 * @example
 * ```ts
 * const watcher = new Watcher({ address: 'http://127.0.0.1:8500', roots: ['config/'] });
 * const sub = watcher.watch('config/app/', { format: 'json', schema: AppConfig });
 * const config = await sub.ready;
 * sub.on('change', ({ current, changes }) => apply(current, changes));
 * // later
 * await watcher.close();
 * ```
 */
export class Watcher {
  readonly #options: ResolvedWatcherOptions;
  readonly #client: ConsulClient;
  readonly #cache: DecodeCache;
  readonly #store: LkgStore | undefined;
  readonly #kv: KvPlanner;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    void this.close();
  };
  #closing: Promise<void> | undefined;

  /**
   * @throws InvalidArgumentError naming the option when an option cannot be used
   * @throws ConfigurationError when the client configuration (address, token file, TLS) cannot be used
   */
  constructor(options: WatcherOptions = {}) {
    this.#options = resolveWatcherOptions(options);
    this.#cache = new DecodeCache(this.#options.decodeCacheSize);
    const { cachePath, cacheMaxBytes, logger } = this.#options;
    this.#store =
      cachePath === undefined ? undefined : new LkgStore(cachePath, logger, { maxBytes: cacheMaxBytes });
    this.#client = new ConsulClient(options);
    this.#kv = new KvPlanner(this.#client, this.#options);
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** True once {@link Watcher.close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Watches a key, or every key below a prefix when `key` ends in `/`.
   *
   * @param key - a key (`config/app/flag`) or a prefix (`config/app/`)
   * @throws InvalidArgumentError for a key Consul cannot address or an unknown option value
   * @throws ClosedError when the watcher is closed
   */
  watch<S extends zc.$ZodType>(
    key: string,
    options: WatchOptions<S> & { schema: S },
  ): Subscription<zc.output<S>>;
  watch(key: string, options?: WatchOptions): Subscription<unknown>;
  watch(key: string, options: WatchOptions = {}): Subscription<unknown> {
    validateKey(key, OPERATION, false);
    if (this.#closing !== undefined) {
      throw new ClosedError(`watch ${key}: the watcher is closed`, { operation: OPERATION, key });
    }
    const resolved = resolveWatchOptions(key, options, this.#options);
    const { signal } = resolved;
    // An already-aborted signal gets a closed subscription and never starts a query.
    const aborted = signal?.aborted === true;
    const onAbort = (): void => {
      void subscription.close();
    };
    const subscription = new Subscription<unknown>({
      key,
      format: resolved.format,
      schema: resolved.schema,
      unknownKeys: resolved.unknownKeys,
      debounce: resolved.debounce,
      startTimeoutMs: resolved.startTimeoutMs,
      cache: this.#cache,
      logger: resolved.logger,
      store: this.#store,
      detach: (sub) => {
        signal?.removeEventListener('abort', onAbort);
        return this.#kv.remove(sub);
      },
    });
    if (aborted) {
      void subscription.close();
      return subscription;
    }
    this.#kv.add(subscription, resolved.consistency);
    signal?.addEventListener('abort', onAbort, { once: true });
    return subscription;
  }

  /** Counters per blocking query, plus totals. */
  stats(): WatcherStats {
    const queries = this.#kv.stats();
    return {
      queries,
      subscriptions: queries.reduce((sum, query) => sum + query.subscriptions, 0),
      decodes: this.#cache.decodes,
      budget: this.#kv.budgetStats(),
    };
  }

  /**
   * Closes every subscription (pending `ready` promises reject with ClosedError), aborts every request in
   * flight at once, clears every timer, waits for the last-known-good writes still pending and closes the
   * client. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    // Every loop stops synchronously here (aborting its request); then each subscription says goodbye.
    const { stopped, subscriptions } = this.#kv.close();
    for (const subscription of subscriptions) stopped.push(subscription.close());
    // Subscriptions are closed, so nothing new is queued: the last writes land, then the file closes.
    if (this.#store !== undefined) stopped.push(this.#store.close());
    this.#closing = Promise.all(stopped)
      .then(() => this.#client.close())
      .finally(() => this.#cache.clear());
    return this.#closing;
  }

  /** Same as {@link Watcher.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
