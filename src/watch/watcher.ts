/**
 * Watcher: the engine's facade. Owns a ConsulClient, resolves options once, routes each `watch()` to the
 * query that serves it (query-kv.ts), and closes everything in one call.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { LkgStore } from '../cache/lkg-store.js';
import { ConsulClient } from '../consul/client.js';
import { validateKey } from '../consul/kv-args.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { DecodeCache, decodeFailure, decoderFor } from './decode.js';
import { KvPlanner } from './kv-planner.js';
import {
  checkWatchOptions,
  type ResolvedWatcherOptions,
  resolveServiceWatchOptions,
  resolveWatcherOptions,
  resolveWatchOptions,
} from './options.js';
import { HealthQuery, type HealthTarget, healthTarget, type ServiceSource } from './query-health.js';
import { SharedHealthWatch } from './query-health-shared.js';
import { ServiceList } from './service-list.js';
import { Subscription } from './subscription.js';
import type {
  ServiceWatchOptions,
  WatcherOptions,
  WatcherStats,
  WatchFormat,
  WatchOptions,
} from './types.js';
import { UnknownKeysPolicy } from './unknown-keys.js';
import { type TreeValidationContext, type ValidationOutcome, validate } from './validate.js';

/** The live list {@link Watcher.service} returns, for views built on it (a balancer). */
export { ServiceList } from './service-list.js';
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
  readonly #healthQueries = new Map<string, HealthQuery>();
  /** Serves every service list once `maxBlockingQueries` was reached; made on first need. */
  #sharedHealth: SharedHealthWatch | undefined;
  /** What serves each open list: it moves when the lists switch to the shared watch. */
  readonly #sourceOf = new WeakMap<ServiceList, ServiceSource>();
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
    // Service watches share the budget: their own queries, or the shared watch's two.
    this.#kv = new KvPlanner(
      this.#client,
      this.#options,
      () => this.#healthQueries.size + (this.#sharedHealth?.sources().length ? 2 : 0),
    );
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

  /**
   * Watches the instances of a service (`/v1/health/service/<name>`, blocking), healthy ones only by
   * default. Lists asking Consul the same question (name, `passing` as sent, tags, dc, filter, near,
   * consistency) share one blocking query.
   *
   * @param name - the service's name
   * @throws InvalidArgumentError for an empty name or a bad option
   * @throws ClosedError when the watcher is closed
   */
  service(name: string, options: ServiceWatchOptions = {}): ServiceList {
    const operation = 'watch.service';
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError('watch service: the service name must be a non-empty string', {
        operation,
      });
    }
    if (this.#closing !== undefined) {
      throw new ClosedError(`watch service ${name}: the watcher is closed`, { operation, key: name });
    }
    const resolved = resolveServiceWatchOptions(name, options, this.#options);
    const target = healthTarget({
      service: name,
      // With warning instances kept, Consul cannot filter: `?passing` drops them too (consul-semantics §S4.1).
      passing: resolved.passing && resolved.warning === 'exclude',
      tags: resolved.tags,
      dc: resolved.dc,
      filter: resolved.filter,
      near: resolved.near,
      consistency: resolved.consistency,
    });
    const { signal } = resolved;
    const query = signal?.aborted ? undefined : this.#serviceSourceFor(target);
    const onAbort = (): void => {
      void list.close();
    };
    const list = new ServiceList({
      service: name,
      passing: resolved.passing,
      warning: resolved.warning,
      startTimeoutMs: resolved.startTimeoutMs,
      logger: resolved.logger,
      cacheKey: `\u0000service${target.id}`,
      store: this.#store,
      detach: (closed) => {
        signal?.removeEventListener('abort', onAbort);
        const removed = this.#sourceOf.get(closed)?.remove(closed) ?? Promise.resolve();
        // A query it was the last list of is gone: KV may get that part of the budget back.
        this.#kv.rebalance();
        return removed;
      },
    });
    if (query === undefined) {
      void list.close();
      return list;
    }
    this.#sourceOf.set(list, query);
    query.add(list);
    signal?.addEventListener('abort', onAbort, { once: true });
    return list;
  }

  /**
   * The source serving `target`: a query already asking the same, else a new blocking query of its own
   * while the service queries and the one KV query all KV watches can share fit the budget (the KV planner
   * re-plans to make room), else the shared watch. The first time the budget is reached every service list
   * moves to the shared watch, with one warning.
   */
  #serviceSourceFor(target: HealthTarget): ServiceSource {
    if (this.#sharedHealth !== undefined) {
      const source = this.#sharedHealth.source(target);
      // The shared watch may have stopped with its last list and started again with this one.
      this.#kv.rebalance();
      return source;
    }
    const own = this.#healthQueries.get(target.id);
    if (own !== undefined) return own;
    const { logger } = this.#options;
    // KV watches give way down to one query (kv-planner.ts), so a service counts only that one against the
    // budget, which is the planner's: min(maxBlockingQueries, the client's connections).
    const maxBlockingQueries = this.#kv.budget;
    const held = this.#kv.budgetStats().blockingQueries + this.#healthQueries.size;
    if (this.#kv.floor + this.#healthQueries.size < maxBlockingQueries) {
      const query = new HealthQuery(target, this.#client, this.#options, (empty) => {
        if (this.#healthQueries.get(target.id) === empty) this.#healthQueries.delete(target.id);
      });
      this.#healthQueries.set(target.id, query);
      this.#kv.rebalance();
      return query;
    }
    const moved = this.#healthQueries.size;
    logger.warn(
      { maxBlockingQueries, held, moved, service: target.service },
      `watch service ${target.service}: ${held} blocking queries held, at maxBlockingQueries (${maxBlockingQueries}); every service watch (${moved} so far) now shares one watch of /v1/health/state/any and /v1/catalog/services that reads only the services that changed (see watcher.stats().services)`,
    );
    const shared = new SharedHealthWatch(this.#client, this.#options);
    this.#sharedHealth = shared;
    // Each list keeps its instances; the shared watch's first read of its service changes nothing.
    for (const query of this.#healthQueries.values()) {
      const source = shared.source(query.target);
      for (const list of query.all()) {
        this.#sourceOf.set(list, source);
        source.add(list);
      }
      void query.close();
    }
    this.#healthQueries.clear();
    const source = shared.source(target);
    this.#kv.rebalance();
    return source;
  }

  /** Counters per blocking query, plus totals. */
  stats(): WatcherStats {
    const queries = this.#kv.stats();
    const services = [...this.#healthQueries.values(), ...(this.#sharedHealth?.sources() ?? [])].map(
      (query) => query.stats(),
    );
    return {
      queries,
      subscriptions: queries.reduce((sum, query) => sum + query.subscriptions, 0),
      decodes: this.#cache.decodes,
      budget: this.#kv.budgetStats(),
      services,
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
    const healthQueries: ServiceSource[] = [
      ...this.#healthQueries.values(),
      ...(this.#sharedHealth?.sources() ?? []),
    ];
    this.#healthQueries.clear();
    // Every loop stops synchronously here (aborting its request); then each subscription says goodbye.
    // A shared source's close() stops the shared watch: every one returns the same promise.
    const { stopped, subscriptions } = this.#kv.close();
    for (const query of healthQueries) stopped.push(query.close());
    for (const subscription of subscriptions) stopped.push(subscription.close());
    for (const query of healthQueries) for (const list of query.all()) stopped.push(list.close());
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
