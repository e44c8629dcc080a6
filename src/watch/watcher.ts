/**
 * Watcher: owns a ConsulClient, runs one blocking query per watched key/prefix (or per root), and feeds each
 * query's changes to the subscriptions it serves.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { createFlag, type Flag, type FlagOptions, type FlagValue, type WidenFlag } from '../bindings/flag.js';
import { MAX_QUERY_TIME_MS } from '../consul/blocking.js';
import { ConsulClient } from '../consul/client.js';
import type { Consistency } from '../consul/config.js';
import { parseDuration } from '../consul/duration.js';
import { validateKey } from '../consul/kv-args.js';
import type { KVEntry } from '../consul/kv-entry.js';
import { watchErrorChannel } from '../diagnostics.js';
import {
  ClosedError,
  type ConsulError,
  InvalidArgumentError,
  isConsulError,
  TransportError,
} from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import { DecodeCache, isWatchFormat } from './decode.js';
import { type RawChange, Snapshot } from './diff.js';
import { sanitizeIndex } from './index-rules.js';
import { LkgStore } from './lkg-store.js';
import { BlockingLoop, type LoopAnswer, type LoopState, type RetryInfo } from './loop.js';
import { kApply, kError, kEvaluated, kHealth, Subscription } from './subscription.js';
import type { QueryStats, WatcherOptions, WatcherStats, WatchOptions } from './types.js';

export type {
  ChangeEvent,
  DebounceOptions,
  KeyChange,
  QueryStats,
  StateEvent,
  SubscriptionEvents,
  SubscriptionState,
  WatchedEntry,
  WatcherCacheOptions,
  WatcherOptions,
  WatcherStats,
  WatchOptions,
} from './types.js';

/** Defaults of {@link WatcherOptions}, in ms. */
export const WATCHER_DEFAULTS = {
  waitMs: 300_000,
  minIntervalMs: 100,
  churnIntervalMs: 15_000,
  backoffMinMs: 250,
  backoffMaxMs: 30_000,
  staleAfterMs: 60_000,
  startTimeoutMs: 30_000,
  decodeCacheSize: 1_000,
} as const;

const OPERATION = 'watch';

interface ResolvedWatcherOptions {
  waitMs: number;
  minIntervalMs: number;
  churnIntervalMs: number;
  backoff: { minMs: number; maxMs: number };
  staleAfterMs: number;
  roots: readonly string[];
  consistency: Consistency;
  maxStaleMs: number | undefined;
  debounce: { minMs: number; maxMs: number } | undefined;
  startTimeoutMs: number;
  decodeCacheSize: number;
  random: (() => number) | undefined;
  cachePath: string | undefined;
}

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`Watcher: ${message}`, { operation: OPERATION });
}

function nonNegative(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(`${name} must be a non-negative number of milliseconds; got ${String(value)}`);
  }
  return value;
}

function resolveConsistency(value: unknown, name: string): Consistency {
  if (value === 'default' || value === 'stale' || value === 'consistent') return value;
  throw invalid(`${name} must be 'default', 'stale' or 'consistent'; got ${String(value)}`);
}

function resolveDebounce(
  value: WatcherOptions['debounce'],
  name: string,
): { minMs: number; maxMs: number } | undefined {
  if (value === undefined) return undefined;
  const minMs = parseDuration(value.min, `${name}.min`, OPERATION);
  const maxMs = parseDuration(value.max, `${name}.max`, OPERATION);
  if (maxMs < minMs)
    throw invalid(`${name}.max (${maxMs} ms) must not be less than ${name}.min (${minMs} ms)`);
  return { minMs, maxMs };
}

/** Resolves every option once; bad input throws InvalidArgumentError naming the option. */
function resolveWatcherOptions(options: WatcherOptions): ResolvedWatcherOptions {
  const waitMs = parseDuration(options.wait ?? WATCHER_DEFAULTS.waitMs, 'wait', OPERATION);
  if (waitMs < 1 || waitMs > MAX_QUERY_TIME_MS) {
    throw invalid(`wait must be between 1 ms and 10 minutes (Consul's max_query_time); got ${waitMs} ms`);
  }
  const minMs = nonNegative(options.backoff?.min, 'backoff.min', WATCHER_DEFAULTS.backoffMinMs);
  const maxMs = nonNegative(options.backoff?.max, 'backoff.max', WATCHER_DEFAULTS.backoffMaxMs);
  if (maxMs < minMs) throw invalid(`backoff.max (${maxMs}) must not be less than backoff.min (${minMs})`);
  const roots = options.roots ?? [];
  if (!Array.isArray(roots)) throw invalid('roots must be an array of prefixes');
  for (const root of roots) validateKey(root, 'Watcher roots', true);
  const staleAfterMs = nonNegative(options.staleAfter, 'staleAfter', WATCHER_DEFAULTS.staleAfterMs);
  if (staleAfterMs === 0) throw invalid('staleAfter must be above 0');
  const random = options.random;
  if (random !== undefined && typeof random !== 'function') throw invalid('random must be a function');
  const cachePath = options.cache?.path;
  if (options.cache !== undefined && (typeof cachePath !== 'string' || cachePath === '')) {
    throw invalid('cache.path must be a non-empty file path');
  }
  return {
    waitMs,
    minIntervalMs: nonNegative(options.minInterval, 'minInterval', WATCHER_DEFAULTS.minIntervalMs),
    churnIntervalMs: nonNegative(options.churnInterval, 'churnInterval', WATCHER_DEFAULTS.churnIntervalMs),
    backoff: { minMs, maxMs },
    staleAfterMs,
    roots: [...roots],
    consistency: resolveConsistency(options.consistency ?? 'default', 'consistency'),
    maxStaleMs: options.maxStale === undefined ? undefined : nonNegative(options.maxStale, 'maxStale', 0),
    debounce: resolveDebounce(options.debounce, 'debounce'),
    startTimeoutMs: nonNegative(options.startTimeout, 'startTimeout', WATCHER_DEFAULTS.startTimeoutMs),
    decodeCacheSize: nonNegative(
      options.decodeCacheSize,
      'decodeCacheSize',
      WATCHER_DEFAULTS.decodeCacheSize,
    ),
    random,
    cachePath,
  };
}

/** One answer of a query, whatever the kind: the entries under its key and Consul's metadata. */
interface QueryAnswer extends LoopAnswer {
  entries: readonly KVEntry[];
  lastContact: number;
  bytes: number;
}

interface QueryInit {
  key: string;
  kind: 'key' | 'prefix';
  consistency: Consistency;
  client: ConsulClient;
  options: ResolvedWatcherOptions;
  logger: Required<Logger>;
  /** Called when the last subscription left: the watcher forgets the query. */
  onEmpty: (query: KvQuery) => void;
}

/** The '/'-prefixes of a key, and the key itself: every subscription key that can contain it. */
function* containingKeys(key: string): Generator<string> {
  for (let slash = key.indexOf('/'); slash !== -1; slash = key.indexOf('/', slash + 1)) {
    yield key.slice(0, slash + 1);
  }
  if (!key.endsWith('/')) yield key;
}

/** One blocking query (a key, a prefix or a root) and the subscriptions it serves. */
class KvQuery {
  readonly key: string;
  readonly kind: 'key' | 'prefix';
  readonly consistency: Consistency;
  readonly #init: QueryInit;
  readonly #snapshot = new Snapshot<KVEntry>();
  readonly #loop: BlockingLoop<QueryAnswer>;
  /** Subscriptions by their own key, so an answer's changes reach them with a few Map lookups per key. */
  readonly #byKey = new Map<string, Set<Subscription<unknown>>>();
  /** Subscriptions added before the first answer: they need it even when none of their keys exist. */
  readonly #awaitingFirst = new Set<Subscription<unknown>>();
  #subscriptions = 0;
  #answered = false;
  /** The last failure while the query has never answered: a late subscription needs to know of it. */
  #failureBeforeFirst: ConsulError | undefined;
  #lastIndex = 0;
  #lastContact: number | undefined;
  #changes = 0;
  #spurious = 0;
  #bytes = 0;
  #rereads = 0;

  constructor(init: QueryInit) {
    this.key = init.key;
    this.kind = init.kind;
    this.consistency = init.consistency;
    this.#init = init;
    const { options } = init;
    this.#loop = new BlockingLoop<QueryAnswer>({
      fetch: (index, signal) => this.#fetch(index, signal),
      // Compare values even under an equal ModifyIndex on full reads, resets and wait timeouts (index
      // unchanged): a restarted or rebuilt cluster can reuse ModifyIndexes for other bytes (§3). These
      // answers are rare (one per `wait` when idle), so the hot path after a real change stays cheap.
      onResult: (answer, info) =>
        this.#onAnswer(answer, info.sentIndex === 0 || info.step.reset || info.step.next === info.sentIndex),
      onError: (error, info) => this.#onError(error, info),
      onState: (state) => this.#onState(state),
      onCallbackError: (error) =>
        init.logger.error(
          { key: this.key, err: error },
          `watch ${this.key}: internal error while applying an answer`,
        ),
      minIntervalMs: options.minIntervalMs,
      churnIntervalMs: options.churnIntervalMs,
      backoff: options.backoff,
      staleAfterMs: options.staleAfterMs,
      random: options.random,
    });
    this.#loop.start();
  }

  async #fetch(index: number, signal: AbortSignal): Promise<QueryAnswer> {
    const { maxStaleMs } = this.#init.options;
    let answer = await this.#read(index, this.consistency, signal);
    // With 'stale' reads, an answer from a server too long out of touch with the leader is read again
    // consistently, without blocking (§1 consistency modes).
    if (this.consistency === 'stale' && maxStaleMs !== undefined && answer.lastContact > maxStaleMs) {
      this.#rereads++;
      answer = await this.#read(0, 'consistent', signal);
    }
    return answer;
  }

  async #read(index: number, consistency: Consistency, signal: AbortSignal): Promise<QueryAnswer> {
    // `wait` means nothing without an index (§4), so a full read sends neither.
    const options =
      index > 0 ? { index, wait: this.#init.options.waitMs, consistency, signal } : { consistency, signal };
    const { kv } = this.#init.client;
    if (this.kind === 'prefix') return kv.list(this.key, options);
    const result = await kv.get(this.key, options);
    return { ...result, entries: result.entry === null ? [] : [result.entry] };
  }

  get subscriptions(): number {
    return this.#subscriptions;
  }

  /** Registers a subscription; if the query already has data, hands it the keys it covers as additions. */
  add(subscription: Subscription<unknown>): void {
    let set = this.#byKey.get(subscription.key);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(subscription.key, set);
    }
    set.add(subscription);
    this.#subscriptions++;
    if (this.#loop.state === 'stale') subscription[kHealth]('stale');
    if (!this.#answered) {
      this.#awaitingFirst.add(subscription);
      // Consul is already failing: a late subscription starts from the cache (or fails `ready` on a 403)
      // now rather than at the next failure, up to a backoff maximum away.
      if (this.#failureBeforeFirst !== undefined) subscription[kError](this.#failureBeforeFirst);
      return;
    }
    const initial: RawChange<KVEntry>[] = [];
    if (subscription.key.endsWith('/')) {
      for (const entry of this.#snapshot.entries()) {
        if (entry.key.startsWith(subscription.key)) {
          initial.push({ key: entry.key, type: 'added', entry, previous: undefined });
        }
      }
    } else {
      const entry = this.#snapshot.get(subscription.key);
      if (entry !== undefined) initial.push({ key: entry.key, type: 'added', entry, previous: undefined });
    }
    subscription[kApply](initial, this.#lastIndex);
  }

  /** Unregisters a subscription; the last one out stops the loop (aborting its request). */
  remove(subscription: Subscription<unknown>): Promise<void> {
    const set = this.#byKey.get(subscription.key);
    if (set?.delete(subscription) !== true) return Promise.resolve();
    this.#awaitingFirst.delete(subscription);
    if (set.size === 0) this.#byKey.delete(subscription.key);
    this.#subscriptions--;
    if (this.#subscriptions > 0) return Promise.resolve();
    this.#init.onEmpty(this);
    return this.#loop.close();
  }

  /** Stops the loop whatever the subscriptions. */
  close(): Promise<void> {
    return this.#loop.close();
  }

  /** Every subscription, copied first: a listener may close one (or watch another) while we iterate. */
  all(): Subscription<unknown>[] {
    const all: Subscription<unknown>[] = [];
    for (const set of this.#byKey.values()) all.push(...set);
    return all;
  }

  stats(): QueryStats {
    const loop = this.#loop.stats;
    return {
      key: this.key,
      kind: this.kind,
      consistency: this.consistency,
      subscriptions: this.#subscriptions,
      requests: loop.requests + this.#rereads,
      errors: loop.errors,
      changes: this.#changes,
      spurious: this.#spurious,
      indexResets: loop.indexResets,
      bytes: this.#bytes,
      lastIndex: this.#lastIndex,
      lastContact: this.#lastContact,
      lastSuccessAt: loop.lastSuccessAt,
      state: loop.state,
    };
  }

  /** @param verifyValues - equal ModifyIndexes are not trusted for this answer (see Snapshot.apply) */
  #onAnswer(answer: QueryAnswer, verifyValues: boolean): void {
    const first = !this.#answered;
    this.#answered = true;
    this.#failureBeforeFirst = undefined;
    const index = sanitizeIndex(answer.index);
    this.#lastIndex = index;
    this.#lastContact = answer.lastContact;
    this.#bytes += answer.bytes;
    const changes = this.#snapshot.apply(answer.entries, verifyValues);
    if (changes.length > 0) this.#changes++;
    else if (!first) this.#spurious++;
    // Group by subscription; each gets only its own keys, and nothing when none of them changed.
    const bySubscription = new Map<Subscription<unknown>, RawChange<KVEntry>[]>();
    for (const change of changes) {
      for (const candidate of containingKeys(change.key)) {
        const subscriptions = this.#byKey.get(candidate);
        if (subscriptions === undefined) continue;
        for (const subscription of subscriptions) {
          const list = bySubscription.get(subscription);
          if (list === undefined) bySubscription.set(subscription, [change]);
          else list.push(change);
        }
      }
    }
    for (const [subscription, list] of bySubscription) subscription[kApply](list, index);
    // A subscription waiting for its first value needs the answer even when none of its keys exist.
    if (first) {
      for (const subscription of this.#awaitingFirst) {
        if (!subscription[kEvaluated]) subscription[kApply]([], index);
      }
      this.#awaitingFirst.clear();
    }
  }

  #onError(raw: unknown, info: RetryInfo): void {
    const error = toConsulError(raw, this.key);
    const { logger } = this.#init;
    const log = error.retryable ? logger.warn : logger.error;
    log(
      { key: this.key, code: error.code, status: error.status, attempt: info.attempt, delayMs: info.delayMs },
      `${error.message}; retrying in ${info.delayMs} ms`,
    );
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    if (!this.#answered) this.#failureBeforeFirst = error;
    for (const subscription of this.all()) subscription[kError](error);
  }

  #onState(state: LoopState): void {
    for (const subscription of this.all()) subscription[kHealth](state);
  }
}

function toConsulError(error: unknown, key: string): ConsulError {
  if (isConsulError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new TransportError(`watch ${key}: ${detail}`, { operation: OPERATION, key, cause: error });
}

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
  readonly #logger: Required<Logger>;
  readonly #cache: DecodeCache;
  readonly #store: LkgStore | undefined;
  readonly #queries = new Map<string, KvQuery>();
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
    this.#logger = resolveLogger(options.logger);
    this.#cache = new DecodeCache(this.#options.decodeCacheSize);
    const { cachePath } = this.#options;
    this.#store = cachePath === undefined ? undefined : new LkgStore(cachePath, this.#logger);
    this.#client = new ConsulClient(options);
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
    const resolved = this.#options;
    const format = options.format ?? 'text';
    if (!isWatchFormat(format)) {
      throw new InvalidArgumentError(
        `watch ${key}: format must be 'text', 'json', 'yaml' or a function; got ${String(format)}`,
        { operation: OPERATION, key },
      );
    }
    const consistency =
      options.consistency === undefined
        ? resolved.consistency
        : resolveConsistency(options.consistency, 'consistency');
    const debounce =
      options.debounce === false
        ? undefined
        : (resolveDebounce(options.debounce, 'debounce') ?? resolved.debounce);
    const startTimeoutMs = nonNegative(options.startTimeout, 'startTimeout', resolved.startTimeoutMs);
    const { signal } = options;
    // An already-aborted signal gets a closed subscription and never starts a query.
    const query = signal?.aborted ? undefined : this.#queryFor(key, consistency);
    const onAbort = (): void => {
      void subscription.close();
    };
    const subscription = new Subscription<unknown>({
      key,
      format,
      schema: options.schema,
      debounce,
      startTimeoutMs,
      cache: this.#cache,
      logger: this.#logger,
      store: this.#store,
      detach: (sub) => {
        signal?.removeEventListener('abort', onAbort);
        return query?.remove(sub) ?? Promise.resolve();
      },
    });
    if (query === undefined) {
      void subscription.close();
      return subscription;
    }
    query.add(subscription);
    signal?.addEventListener('abort', onAbort, { once: true });
    return subscription;
  }

  /**
   * A live, typed feature flag stored in one Consul key. Its `value` is always safe to use: the default
   * while the key is missing or invalid (with an `invalid` event), the stored value otherwise. Flags under
   * one of the watcher's `roots` share the root's single query.
   *
   * @example
   * const newCheckout = watcher.flag('flags/new-checkout', { type: 'boolean', default: false });
   * if (newCheckout.value) { … }
   */
  flag<T extends FlagValue>(key: string, options: FlagOptions<T>): Flag<WidenFlag<T>> {
    return createFlag(this, key, options);
  }

  /** The query serving `key`: its root's when under a root (same consistency), else its own. */
  #queryFor(key: string, consistency: Consistency): KvQuery {
    let root: string | undefined;
    if (consistency === this.#options.consistency) {
      for (const candidate of this.#options.roots) {
        if (key.startsWith(candidate) && (root === undefined || candidate.length > root.length))
          root = candidate;
      }
    }
    const queryKey = root ?? key;
    const kind = root !== undefined || key.endsWith('/') ? 'prefix' : 'key';
    const id = `${kind}\u0000${consistency}\u0000${queryKey}`;
    let query = this.#queries.get(id);
    if (query === undefined) {
      query = new KvQuery({
        key: queryKey,
        kind,
        consistency,
        client: this.#client,
        options: this.#options,
        logger: this.#logger,
        onEmpty: (empty) => {
          if (this.#queries.get(id) === empty) this.#queries.delete(id);
        },
      });
      this.#queries.set(id, query);
    }
    return query;
  }

  /** Counters per blocking query, plus totals. */
  stats(): WatcherStats {
    const queries = [...this.#queries.values()].map((query) => query.stats());
    return {
      queries,
      subscriptions: queries.reduce((sum, query) => sum + query.subscriptions, 0),
      decodes: this.#cache.decodes,
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
    const queries = [...this.#queries.values()];
    this.#queries.clear();
    // Every loop stops synchronously here (aborting its request); then each subscription says goodbye.
    const stopped = queries.map((query) => query.close());
    for (const query of queries) for (const subscription of query.all()) stopped.push(subscription.close());
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
