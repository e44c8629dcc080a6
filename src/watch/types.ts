/**
 * Public option and event types of the Watcher and its subscriptions.
 * @module
 */
import type * as zc from 'zod/v4/core';
import type { Consistency, ConsulClientOptions } from '../consul/config.js';
import type { ServiceInstance } from '../consul/health.js';
import type { ConfigValidationError, ConsulError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * A custom decoder: gets the raw bytes (null for an empty value) and the full key, returns the value.
 * Throwing marks the key invalid (an `invalid` event naming the key); the last good value keeps serving.
 */
export type Decoder = (value: Buffer | null, key: string) => unknown;

/**
 * How a value's bytes become a value:
 * - `'text'`: UTF-8 string; an empty value is `''`;
 * - `'json'` (the default): `JSON.parse` of the UTF-8 text (a leading BOM is ignored); text that is not JSON
 *   at all and does not start like a JSON object, array or string is the string itself (`db.internal`);
 *   an empty value is `undefined`;
 * - `'yaml'`: one YAML document (the `yaml` package, YAML 1.2); an empty value is `undefined`;
 * - a {@link Decoder} function.
 */
export type WatchFormat = 'text' | 'json' | 'yaml' | Decoder;

/**
 * Health of a blocking query:
 * - `connecting`: no successful answer yet;
 * - `ready`: the last request succeeded, or failures began less than `staleAfter` ago;
 * - `stale`: requests have failed for `staleAfter` with no success since;
 * - `closed`: the query was stopped.
 */
export type LoopState = 'connecting' | 'ready' | 'stale' | 'closed';

/** What to do with keys under a watched prefix that the schema does not describe; see {@link WatchOptions.unknownKeys}. */
export type UnknownKeysMode = 'warn' | 'error' | 'ignore';

/**
 * Where a subscription stands:
 * - `connecting`: no valid value yet (`ready` pending, or rejected while the watch keeps retrying);
 * - `ready`: `current` holds the last valid value and the watch is healthy;
 * - `stale`: `current` holds a value, but requests have been failing for `staleAfter` ms, or `current` was
 *   restored from the last-known-good cache (see {@link WatcherOptions.cache}) and Consul has not answered
 *   yet;
 * - `closed`: closed; no more events.
 */
export type SubscriptionState = 'connecting' | 'ready' | 'stale' | 'closed';

/** Quiescence before a change is applied, like consul-template's `wait`. Times in ms or Go durations. */
export interface DebounceOptions {
  /** Apply once no further change came for this long. */
  min: number | string;
  /** Apply at most this long after the first change held back, even if changes keep coming. */
  max: number | string;
}

/** Where the last-known-good cache lives; see {@link WatcherOptions.cache}. */
export interface WatcherCacheOptions {
  /**
   * Path of the cache file (JSON, mode 0600; its folder is created with mode 0700 if missing). One file
   * per app: it holds one snapshot per watched key or prefix. Temporary files are written beside it, so the
   * folder must be writable.
   */
  path: string;
  /**
   * Largest cache file read or written, in bytes. A bigger file is ignored with a warning (never read into
   * memory); a write that would exceed it leaves out the largest snapshots, each logged with its key.
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
}

/**
 * Options of {@link Watcher}: every {@link ConsulClientOptions} field (address, token, TLS, `dispatcher`…;
 * unset fields come from `CONSUL_*` environment variables), plus how to watch.
 */
export interface WatcherOptions extends ConsulClientOptions {
  /**
   * How long Consul may hold a blocking query open when nothing changes: ms, or a Go duration (`'55s'`).
   * At most 10 minutes (Consul's `max_query_time`, consul-semantics §4). The HTTP timeout is set above it by the client.
   * @default '5m'
   */
  wait?: number | string;
  /**
   * Least time, in ms, between the starts of two successive requests of one query while its answers block
   * normally: a blocking query that waited and then brought a change is never held back longer (consul-semantics §4).
   *
   * Answers that come back less than 1 s after their request started did not block (a proxy stripping
   * `X-Consul-Index`, an index of 0, spurious wake-ups, an empty-prefix root on a busy cluster, changes in
   * quick succession). Two in a row keep this spacing; each further one doubles it, up to one request every
   * 15 s, so a query never busy-loops (consul-semantics §4: rate-limit the loop). The first answer held 1 s or more restores
   * this spacing at once. Full reads (index 0) and failures do not count either way. `0` disables all rate
   * limiting, the 15 s ceiling included.
   * @default 100
   */
  minInterval?: number;
  /**
   * The slowest polling a query degrades to, in ms, while answers keep coming back at once (more than two in a
   * row answered in under 1 s: a proxy stripping `X-Consul-Index`, spurious wake-ups, a busy empty-prefix
   * root). The spacing doubles from `minInterval` up to this, and drops back to `minInterval` after an answer
   * that blocked (consul-semantics §4: rate-limit the loop, ~15 s under churn). `0` keeps a fixed `minInterval`.
   * @default 15_000
   */
  churnInterval?: number;
  /**
   * Retry delays after errors, in ms: exponential with full jitter (the delay after the n-th consecutive
   * failure is random in [0, min(max, min × 2ⁿ))), reset by a success. 403, unknown datacenter and other
   * errors that retrying will not fix soon wait `max` every time.
   * @default { min: 250, max: 30_000 }
   */
  backoff?: { min?: number; max?: number };
  /**
   * After this many ms of failing requests (counted from the first failure after the last success) a ready
   * subscription turns `stale`; it turns `ready` again on the next successful answer. A blocking request
   * that is simply waiting for a change is healthy.
   * @default 60_000
   */
  staleAfter?: number;
  /**
   * Prefixes (normally ending in `/`) that each get one blocking query shared by every subscription below
   * them: 1,000 subscriptions under one root make one connection. Each subscription filters the root's
   * entries by its own key. A subscription under several roots uses the longest. Roots are queried with the
   * watcher's `consistency`; a subscription asking for another one gets its own query.
   * @default []
   */
  roots?: readonly string[];
  /**
   * Read consistency (consul-semantics §1): `'default'` (the leader), `'stale'` (any server; spreads load, may lag),
   * `'consistent'` (the leader after a quorum check).
   * @default 'default'
   */
  consistency?: Consistency;
  /**
   * With `consistency: 'stale'`: an answer whose `X-Consul-LastContact` exceeds this many ms is read again
   * at once with `'consistent'`, non-blocking. Unset: stale answers are always accepted.
   * @default undefined
   */
  maxStale?: number;
  /**
   * Hold changes back until Consul has been quiet for `min`, but at most `max` after the first held-back
   * change. Applies after the first value (which is never delayed). Unset: every change is applied at once.
   * @default undefined
   */
  debounce?: DebounceOptions;
  /**
   * `ready` of a subscription rejects (TimeoutError, the last error as `cause`) when no valid value came
   * within this many ms; the subscription keeps trying. `0` waits forever.
   * @default 30_000
   */
  startTimeout?: number;
  /**
   * Decoded values kept for reuse: the latest version of each key + format. Unchanged keys are never decoded again
   * whatever its size (their decoded values live in each subscription's snapshot); the cache saves work when
   * several subscriptions with the same format see one key, and when a key comes back after a full re-read.
   * Each entry costs memory beside the snapshot, so it is kept small. `0` disables it.
   * @default 1_000
   */
  decodeCacheSize?: number;
  /**
   * The last-known-good cache: every value of a subscription that decoded and validated is saved (its
   * keys' raw values, ModifyIndex and flags, and the Consul index) to one file, atomically and in the
   * background; an invalid value is never saved. A failed write is logged and published on
   * `consul-hotreload:watch:error`, never thrown or emitted.
   *
   * At startup, a subscription that has no value yet when its first request fails with a retryable error
   * (Consul unreachable, 5xx, 429, timeout), or when `startTimeout` ends, whichever comes first, resolves
   * `ready` from the cache, through the same decode and schema as a live value, and is `stale` until
   * Consul answers; then only the keys that really differ are reported by `change`. 403, unknown datacenter
   * and other answers retrying will not fix still reject `ready`, and so does an invalid value from Consul.
   * A missing or damaged file, or a saved value the schema now refuses, is ignored with a warning.
   * {@link Watcher.close} waits for the pending writes. See docs/last-known-good.md.
   * @default undefined (no cache: `ready` waits for Consul, or `startTimeout`)
   */
  cache?: WatcherCacheOptions;
  /** Closes the watcher when aborted. */
  signal?: AbortSignal;
  /**
   * Randomness in [0, 1) for the backoff jitter; tests pass a fixed function.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Most blocking queries this watcher holds open at once; past it, KV watches are coalesced under common prefixes and service watches share one multiplexed watch. Default 32 (Consul caps one client at 200 connections).
   */
  maxBlockingQueries?: number;
}

/** Options of {@link Watcher.watch}. */
export interface WatchOptions<S extends zc.$ZodType = zc.$ZodType> {
  /**
   * How each value's bytes are decoded; see {@link WatchFormat}.
   * @default 'json'
   */
  format?: WatchFormat;
  /**
   * A zod schema for the value: for a key, its decoded value (`undefined` when the key does not exist); for
   * a prefix, the tree of decoded values below it. `current` is the schema's output. Without a schema
   * nothing is validated and `current` is the decoded value or tree itself. Must be synchronous.
   */
  schema?: S;
  /**
   * For a prefix with a schema: what to do with keys in Consul that the schema does not describe (often a
   * typo: `db/hots`). `'warn'` logs each one once when it appears, `'error'` makes them validation issues
   * (so `ready` rejects and a later change that adds one is refused), `'ignore'` says nothing. Objects built
   * with `z.looseObject()`, `z.record()` or a catchall describe every key below them.
   * @default 'ignore'
   */
  unknownKeys?: UnknownKeysMode;
  /**
   * Where this subscription's warnings go (refused values, unknown keys, listener failures).
   * @default the watcher's `logger`
   */
  logger?: Logger;
  /** Closes the subscription when aborted. */
  signal?: AbortSignal;
  /** @default the watcher's `consistency` */
  consistency?: Consistency;
  /** `false` turns off the watcher's debounce for this subscription. @default the watcher's `debounce` */
  debounce?: DebounceOptions | false;
  /** @default the watcher's `startTimeout` */
  startTimeout?: number;
}

/** One key as a subscription sees it: its decoded value (before the schema), ModifyIndex and flags. */
export interface WatchedEntry {
  readonly value: unknown;
  readonly modifyIndex: number;
  readonly flags: number;
}

/** One key that changed between two valid values of a subscription. */
export interface KeyChange {
  /** The full Consul key. */
  readonly key: string;
  readonly type: 'added' | 'updated' | 'deleted';
  /** Decoded value now (before the schema); undefined when deleted. */
  readonly value: unknown;
  /** Decoded value in the last valid value; undefined when added. */
  readonly previous: unknown;
}

/** Payload of a subscription's `change` event. */
export interface ChangeEvent<T> {
  /** `X-Consul-Index` of the answer that brought the change. */
  readonly index: number;
  /** Every key that changed since the last valid value, in the order first seen, deletions last. */
  readonly changes: readonly KeyChange[];
  /** The new value; equal to `subscription.current`. */
  readonly current: T;
}

/** Payload of a subscription's `state` event. */
export interface StateEvent {
  readonly state: SubscriptionState;
  readonly previous: SubscriptionState;
}

/** Events of a {@link Subscription}, one payload object each. */
export interface SubscriptionEvents<T> {
  /** A new valid value is in `current` (not emitted for the first value: `ready` resolves with it). */
  change: (event: ChangeEvent<T>) => void;
  /** Consul holds a value that does not decode or validate; `current` keeps the last valid value. */
  invalid: (error: ConfigValidationError) => void;
  /** A request failed; the watch keeps retrying and `current` keeps its value. */
  error: (error: ConsulError) => void;
  /** `state` changed. */
  state: (event: StateEvent) => void;
}

/** Counters of one blocking query, from {@link Watcher.stats}. */
export interface QueryStats {
  /** The key or prefix queried. */
  key: string;
  /** `'prefix'` (a recursive list) or `'key'` (one key). */
  kind: 'key' | 'prefix';
  consistency: Consistency;
  /** Open subscriptions served by this query. */
  subscriptions: number;
  /** Requests started (stale re-reads included). */
  requests: number;
  /** Failed requests. */
  errors: number;
  /** Answers that changed at least one key (the first answer counts when it holds keys). */
  changes: number;
  /** Answers after the first that changed nothing (timeouts, wake-ups for unrelated writes, consul-semantics §4). */
  spurious: number;
  /** Times Consul's index went backwards and the query started over (consul-semantics §3). */
  indexResets: number;
  /** Body bytes received. */
  bytes: number;
  /** `X-Consul-Index` of the last answer (1 when it was missing or 0); 0 before the first. */
  lastIndex: number;
  /** `X-Consul-LastContact` (ms) of the last answer; undefined before the first. */
  lastContact: number | undefined;
  /** `Date.now()` of the last successful answer; undefined before the first. */
  lastSuccessAt: number | undefined;
  state: LoopState;
}

/** How the KV watches of a watcher share its connection budget; see {@link WatcherOptions.maxBlockingQueries}. */
export interface KvBudgetStats {
  /** The budget in force: `maxBlockingQueries`, or the client's `connections` when lower. */
  maxBlockingQueries: number;
  /** KV blocking queries open now. */
  blockingQueries: number;
  /** Distinct KV keys and prefixes watched (after `roots`). */
  watchedKeys: number;
  /** Of those, how many are served by a query on a common folder chosen because of the budget. */
  coalesced: number;
  /** Of those, how many wait for the next plan (a microtask away). */
  waiting: number;
  /** Times the watches were planned again because the budget was reached or fitted again. */
  replans: number;
}

/** Result of {@link Watcher.stats}. */
export interface WatcherStats {
  /** One row per blocking query. */
  queries: QueryStats[];
  /** Open subscriptions. */
  subscriptions: number;
  /** Values decoded so far (cache misses). */
  decodes: number;
  /** The KV watches and the connection budget (always set by `Watcher.stats()`). */
  budget?: KvBudgetStats;
  /**
   * One row per service-health query ({@link Watcher.service}). Always set by `Watcher.stats()`; optional
   * so that stats built by other code (fakes, older copies) still type-check.
   */
  services?: ServiceQueryStats[];
}

// ---- Service discovery (Watcher.service) ----

/**
 * What a service list does with instances whose worst check is `warning` (none critical) when `passing`
 * is on: `'exclude'` drops them, as Consul's `?passing` does; `'include'` keeps them (their status says
 * `warning`, and a weighted balancer gives them `Weights.Warning`). Ignored when `passing` is off.
 */
export type WarningPolicy = 'exclude' | 'include';

/** Options of {@link Watcher.service}. */
export interface ServiceWatchOptions {
  /**
   * Only instances whose every check passes, node and maintenance checks included. With `warning:
   * 'exclude'` Consul filters (`?passing`); with `'include'` the list filters out `critical` and
   * `maintenance` itself. `false` lists every instance with its status.
   * @default true
   */
  passing?: boolean;
  /** @default 'exclude' */
  warning?: WarningPolicy;
  /** Only instances carrying every one of these tags (`?tag`). @default [] */
  tags?: readonly string[];
  /** Datacenter to read. @default the watcher's `datacenter`, else the agent's */
  dc?: string;
  /** A go-bexpr expression over `Service.*`, `Node.*`, `Checks.*` (`?filter`). @default undefined */
  filter?: string;
  /** Sort instances by round-trip time from this node (`?near`, `_agent` for the local agent). @default undefined */
  near?: string;
  /** @default the watcher's `consistency` */
  consistency?: Consistency;
  /** @default the watcher's `startTimeout` */
  startTimeout?: number;
  /** Where this list's warnings go. @default the watcher's `logger` */
  logger?: Logger;
  /** Closes the list when aborted. */
  signal?: AbortSignal;
}

/** One instance whose registration or checks changed, before and after. */
export interface InstanceChange {
  readonly instance: ServiceInstance;
  readonly previous: ServiceInstance;
}

/** Payload of a service list's `change` event: one per Consul answer that changed the list. */
export interface ServiceChangeEvent {
  /** `X-Consul-Index` of the answer. */
  readonly index: number;
  /** The list now; equal to `list.instances`. */
  readonly instances: readonly ServiceInstance[];
  /** Instances that joined the list. */
  readonly added: readonly ServiceInstance[];
  /** Instances that left it (deregistered, failing, in maintenance, or no longer matching). */
  readonly removed: readonly ServiceInstance[];
  /** Instances still listed whose address, port, tags, meta, weights, status or checks changed. */
  readonly changed: readonly InstanceChange[];
}

/** Payload of a service list's `empty` event. */
export interface ServiceEmptyEvent {
  /** `X-Consul-Index` of the answer that left no instance. */
  readonly index: number;
  /** The instances the answer removed (`[]` when the first answer was empty). */
  readonly removed: readonly ServiceInstance[];
}

/** Events of a service list, one payload object each. */
export interface ServiceListEvents {
  /** The list changed (not emitted for the first list: `ready` resolves with it). */
  change: (event: ServiceChangeEvent) => void;
  /**
   * No instance is left: a real answer, never a failure. Emitted after `change` when a change empties
   * the list, and alone when the first answer is empty.
   */
  empty: (event: ServiceEmptyEvent) => void;
  /** A request failed; the list keeps its instances and the watch keeps retrying. */
  error: (error: ConsulError) => void;
  /** `state` changed. */
  state: (event: StateEvent) => void;
}

/** Counters of one service-health query, from {@link Watcher.stats}. */
export interface ServiceQueryStats {
  /** The service name. */
  service: string;
  /** Whether Consul filters with `?passing`. */
  passing: boolean;
  tags: readonly string[];
  consistency: Consistency;
  /**
   * Whether the watcher's shared watch serves it (past {@link WatcherOptions.maxBlockingQueries}): then
   * `requests` counts its targeted non-blocking reads, and `errors`, `indexResets` and `state` are the
   * shared watch's.
   */
  shared: boolean;
  /** Open service lists served by this query. */
  subscriptions: number;
  /** Requests started (stale re-reads included). */
  requests: number;
  errors: number;
  /** Answers whose entries differ from the previous answer's. */
  changes: number;
  /** Answers after the first with the same entries (check output unchanged, timeouts). */
  spurious: number;
  indexResets: number;
  bytes: number;
  lastIndex: number;
  lastSuccessAt: number | undefined;
  state: LoopState;
}
