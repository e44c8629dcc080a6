/**
 * Subscription<T>: one watched key or prefix as the user sees it: `ready`, `current`, `entries`, `state`
 * and typed events. It is fed raw changes by its query (src/watch/watcher.ts) and turns them into decoded,
 * validated values.
 *
 * Two values are kept: the candidate (what Consul holds now, decoded) and the last good one (what `current`
 * serves). A change batch updates the candidate; if it decodes and validates it becomes the good value and
 * a `change` event lists every key that differs from the previous good value, however many invalid states
 * came between.
 *
 * With a last-known-good cache, a subscription that has no value yet when its query first fails (or when
 * `startTimeout` ends) restores the cached snapshot through the same decode and validation, serves it as
 * `stale`, and treats the first live answer as a replacement of the whole snapshot: `change` lists only
 * the keys that really differ.
 * @module
 */
import type * as zc from 'zod/v4/core';
import type { LkgStore } from '../cache/lkg-store.js';
import { watchChangeChannel, watchErrorChannel } from '../diagnostics.js';
import {
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  TimeoutError,
  type ValidationIssue,
} from '../errors.js';
import { SafeEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import { CandidateStore, sourcesOf, type WatchEntry } from './candidate.js';
import type { DecodeCache } from './decode.js';
import type { RawChange } from './diff.js';
import { Readiness } from './readiness.js';
import { type Folder, rewind } from './tree.js';
import type {
  ChangeEvent,
  LoopState,
  SubscriptionEvents,
  SubscriptionState,
  UnknownKeysMode,
  WatchedEntry,
  WatchFormat,
} from './types.js';
import { UnknownKeysPolicy } from './unknown-keys.js';
import { ValueVersion } from './value-history.js';

/** Internal entry points, called by the query that feeds the subscription. Not part of the public API. */
export const kApply: unique symbol = Symbol('consul-hotreload.apply');
/** @see kApply */
export const kHealth: unique symbol = Symbol('consul-hotreload.health');
/** @see kApply */
export const kError: unique symbol = Symbol('consul-hotreload.error');
/** @see kApply */
export const kEvaluated: unique symbol = Symbol('consul-hotreload.evaluated');

/** Everything a subscription needs from its watcher, resolved once. Times in ms. */
export interface SubscriptionInit {
  /** The key, or the prefix when it ends in `/`. */
  key: string;
  format: WatchFormat;
  schema: zc.$ZodType | undefined;
  unknownKeys: UnknownKeysMode;
  debounce: { minMs: number; maxMs: number } | undefined;
  /** 0 = no start timeout. */
  startTimeoutMs: number;
  cache: DecodeCache;
  logger: Required<Logger>;
  /** Called once by `close()`: stops feeding the subscription (and the query, if it was the last). */
  detach: (subscription: Subscription<unknown>) => Promise<void>;
  /** The watcher's last-known-good cache; undefined without one. */
  store?: LkgStore | undefined;
}

/**
 * A watched key or prefix. Created by `Watcher.watch()`; `T` is the schema's output type.
 *
 * Events carry one payload object each (see {@link SubscriptionEvents}). State is updated before an event is
 * emitted, so `current` is already new when `change` fires. A listener that throws is logged and published
 * on `consul-hotreload:watch:error`; every other listener of that event still gets it, and the watch
 * carries on (see src/events.ts).
 */
export class Subscription<T> extends SafeEmitter<SubscriptionEvents<T>> {
  /** The watched key, or prefix when it ends in `/`. */
  readonly key: string;
  /**
   * Resolves with the first valid value. Rejects with ConfigValidationError when the first value Consul
   * holds is invalid, with the error when Consul refuses the read (403, unknown datacenter, 400), with
   * TimeoutError after `startTimeout`, with ClosedError when closed first. After a rejection the watch keeps
   * going: a later valid value sets `current` and is announced by a `change` event. Never an unhandled
   * rejection, even when nobody awaits it.
   */
  readonly ready: Promise<T>;

  readonly #init: SubscriptionInit;
  // Typed without T so that Subscription<T> stays assignable to Subscription<unknown>.
  readonly #readiness: Readiness<unknown>;
  #lastError: ConsulError | undefined;

  // The last good value.
  #hasGood = false;
  #current: T | undefined;
  /** The last value announced by `change`, for events whose `current` is read late. */
  #version: ValueVersion | undefined;
  /** The candidate and the good value's entries. */
  readonly #values: CandidateStore;
  readonly #unknownKeys: UnknownKeysPolicy;
  /** Changes received and not yet evaluated (debounce, or the first evaluation's microtask). */
  #pending = new Map<string, WatchEntry | undefined>();
  #index = 0;
  #evaluated = false;
  /** Whether the query is stale: a late subscription's first value, from old data, starts `stale`. */
  #queryStale = false;
  #evaluationScheduled = false;
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #debounceMaxTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  /** `current` came from the last-known-good cache and no live answer has been applied since. */
  #fromCache = false;
  /** The one attempt to start from the cache: resolves true when it served `ready`. */
  #cacheAttempt: Promise<boolean> | undefined;

  /** @internal Use `Watcher.watch()`. */
  constructor(init: SubscriptionInit) {
    super((event, error) => listenerThrew(init, event, error));
    this.key = init.key;
    this.#init = init;
    this.#unknownKeys = new UnknownKeysPolicy(init.unknownKeys, init.logger, init.key);
    this.#values = new CandidateStore({
      key: init.key,
      format: init.format,
      schema: init.schema,
      findUnknownKeys: init.unknownKeys !== 'ignore',
      cache: init.cache,
    });
    this.#readiness = new Readiness({
      startTimeoutMs: init.startTimeoutMs,
      onStartTimeout: () => this.#startTimedOut(),
      onState: (event) => this.emit('state', event),
    });
    this.ready = this.#readiness.ready as Promise<T>;
  }

  /** The last valid value (the schema's output); undefined before the first. */
  get current(): T | undefined {
    // Handed out: the next change copies what it writes rather than changing this value in place.
    this.#values.exposeTree();
    return this.#current;
  }

  /**
   * Per-key view of the last valid value: full key → decoded value, ModifyIndex, flags. For a key, at most
   * one entry; for a prefix, every key below it except folder keys (ending in `/`). A new Map per change;
   * do not modify it.
   */
  get entries(): ReadonlyMap<string, WatchedEntry> {
    return this.#values.exposeEntries();
  }

  /** See {@link SubscriptionState}. */
  get state(): SubscriptionState {
    return this.#readiness.state;
  }

  /** `X-Consul-Index` of the last answer that reached this subscription; 0 before the first. */
  get index(): number {
    return this.#index;
  }

  /**
   * Stops the subscription: `ready` rejects with ClosedError if still pending, a last `state` event
   * (`closed`) is emitted, listeners are removed, timers cleared. When it was the last subscription of its
   * query, the query's request is aborted; the promise resolves once it has ended. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#clearTimers();
    this.#pending.clear();
    this.#readiness.reject(
      new ClosedError(`watch ${this.key}: closed before a valid value arrived`, {
        operation: 'watch',
        key: this.key,
        cause: this.#lastError,
      }),
    );
    this.#readiness.setState('closed');
    this.removeAllListeners();
    this.#closing = this.#init.detach(this as Subscription<unknown>);
    return this.#closing;
  }

  /** Same as {@link Subscription.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * @internal Whether a first evaluation of live data is done or scheduled: the query then only sends
   * changes. A value restored from the cache does not count: the first live answer must reach it.
   */
  get [kEvaluated](): boolean {
    return (this.#evaluated && !this.#fromCache) || this.#evaluationScheduled;
  }

  /**
   * @internal Feeds one answer's changes for this subscription's keys. The first call schedules the first
   * evaluation on a microtask, so listeners attached right after `watch()` see its events.
   * @param replace - `changes` list every key the subscription has (a query it moved to hands over its
   *   whole view): a key held now and not listed is gone, and only real differences are reported.
   */
  [kApply](changes: readonly RawChange<WatchEntry>[], index: number, replace = false): void {
    if (this.#readiness.state === 'closed') return;
    this.#index = index;
    // The first live answer after a restore from the cache holds every key (the query had never answered,
    // so its diff lists all as added): it replaces the cached snapshot, and a cached key it lacks is gone.
    // So does the first view of a query the subscription moved to; what the old query sent and is still
    // held back (debounce) is superseded by it.
    if (replace) this.#pending.clear();
    if (this.#fromCache || replace) for (const key of this.#values.keys()) this.#pending.set(key, undefined);
    for (const change of changes) {
      // Folder keys (`db/`) and the prefix's own key hold no value of the tree.
      if (!this.#values.owns(change.key)) continue;
      this.#pending.set(change.key, change.entry);
    }
    if (this.#fromCache) {
      // Never debounced: it ends the `stale` state of the cached value.
      this.#evaluate();
      return;
    }
    if (!this.#evaluated) {
      if (!this.#evaluationScheduled) {
        this.#evaluationScheduled = true;
        queueMicrotask(() => this.#evaluate());
      }
      return;
    }
    if (this.#pending.size === 0) return;
    const debounce = this.#init.debounce;
    if (debounce === undefined || !this.#hasGood) {
      this.#evaluate();
      return;
    }
    // consul-template-style quiescence: restart the short timer on each change, never pass the long one.
    if (this.#debounceTimer !== undefined) clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => this.#evaluate(), debounce.minMs);
    this.#debounceMaxTimer ??= setTimeout(() => this.#evaluate(), debounce.maxMs);
  }

  /** @internal The query's health changed (or, for a late subscription, is this). */
  [kHealth](state: LoopState): void {
    this.#queryStale = state === 'stale';
    // A value from the cache stays `stale` until the first live answer is applied (see kApply), which comes
    // right after the query turns `ready`.
    if (this.#fromCache) return;
    this.#readiness.followHealth(state);
  }

  /** @internal A request of the query failed (already logged and published by the query). */
  [kError](error: ConsulError): void {
    if (this.#readiness.state === 'closed') return;
    this.#lastError = error;
    // Retrying will not fix a 403, an unknown datacenter or a 400 soon: fail `ready` now, keep trying. Such
    // an answer is Consul's word, so the cache does not hide it. A retryable failure (Consul unreachable,
    // 5xx, 429, timeout) starts from the cache at once rather than after `startTimeout`.
    if (!error.retryable) this.#readiness.reject(error);
    else if (this.#init.store !== undefined && this.#readiness.pending) void this.#useCache();
    this.emit('error', error);
  }

  #evaluate(): void {
    this.#evaluationScheduled = false;
    if (this.#readiness.state === 'closed') return;
    this.#clearDebounce();
    const batch = this.#pending;
    const leftCache = this.#fromCache;
    if (batch.size === 0 && this.#evaluated && !leftCache) return;
    // Taken, not shared: were the check to throw, the batch must not come back as the next `#pending`. A
    // new Map rather than a cleared one: clearing costs as much (V8 allocates a new table), and more in
    // code not yet optimized.
    this.#pending = new Map();
    this.#evaluated = true;
    this.#fromCache = false;
    const outcome = this.#check(batch);
    if (outcome.ok) this.#commit(outcome.value, leftCache);
    else this.#reject(outcome.issues, leftCache);
  }

  /** Starts from the cache once; later calls share the first attempt. Never rejects. */
  #useCache(): Promise<boolean> {
    this.#cacheAttempt ??= this.#restoreFromCache().catch((error: unknown) => {
      this.#init.logger.error(
        { key: this.key, err: error },
        `watch ${this.key}: internal error while restoring the last-known-good value`,
      );
      return false;
    });
    return this.#cacheAttempt;
  }

  /** No live value, answer or rejection yet: only then may the cache serve `ready`. */
  #canRestore(): boolean {
    return (
      this.#readiness.state === 'connecting' &&
      this.#readiness.pending &&
      !this.#evaluated &&
      !this.#evaluationScheduled
    );
  }

  /**
   * Decodes and validates the cached snapshot exactly as a live answer; a valid one resolves `ready` and
   * turns the subscription `stale`. A snapshot that no longer validates (the schema changed since) is
   * dropped with a warning, leaving the subscription as it was.
   */
  async #restoreFromCache(): Promise<boolean> {
    const store = this.#init.store!;
    const snapshot = await store.load(this.key);
    // Consul may have answered while the file was read: the live value wins.
    if (snapshot === undefined || !this.#canRestore()) return false;
    const batch = new Map<string, WatchEntry>();
    for (const cached of snapshot.entries) if (this.#values.owns(cached.key)) batch.set(cached.key, cached);
    const outcome = this.#check(batch);
    if (!outcome.ok) {
      this.#values.reset();
      const error = new ConfigValidationError('watch', this.key, outcome.issues);
      this.#init.logger.warn(
        { key: this.key, path: store.path, savedAt: snapshot.savedAt, issues: outcome.issues.length },
        `last-known-good cache not used for ${this.key}: the saved value no longer validates\n${error.message}`,
      );
      return false;
    }
    this.#evaluated = true;
    this.#fromCache = true;
    this.#index = snapshot.index;
    this.#init.logger.warn(
      { key: this.key, path: store.path, savedAt: snapshot.savedAt, index: snapshot.index },
      `watch ${this.key}: Consul has not answered; serving the last-known-good value saved at ${snapshot.savedAt}`,
    );
    this.#commit(outcome.value, false);
    return true;
  }

  /** Queues the good value's entries for the cache (fire-and-forget; the store logs failures). */
  #persist(): void {
    const store = this.#init.store;
    if (store === undefined) return;
    // The snapshot is built later, from this very Map: exposed, it never changes.
    const entries = this.#values.exposeEntries();
    store.save(this.key, this.#index, () => sourcesOf(entries));
  }

  /** Applies the batch to the candidate, validates it and applies the `unknownKeys` policy. */
  #check(
    batch: ReadonlyMap<string, WatchEntry | undefined>,
  ): { ok: true; value: unknown } | { ok: false; issues: ValidationIssue[] } {
    return this.#unknownKeys.apply(this.#values.apply(batch));
  }

  /** @param leftCache - this is the first live value after a restore from the cache */
  #commit(value: unknown, leftCache: boolean): void {
    const changes = this.#values.commit();
    const first = !this.#hasGood;
    // Nothing really changed (e.g. A → invalid B → A again, or Consul holds what the cache held): keep
    // `current` and its identity, and write nothing.
    const changed = first || changes.length > 0;
    if (changed) {
      this.#hasGood = true;
      this.#current = value as T;
      this.#readiness.clearStartTimer();
      // Only values that decoded and validated get here; a restored value is already in the cache.
      if (!this.#fromCache) this.#persist();
    }
    if (this.#readiness.state === 'connecting' || leftCache) {
      this.#readiness.setState(this.#fromCache || this.#queryStale ? 'stale' : 'ready');
    }
    if (!changed) return;
    if (first && this.#readiness.pending) {
      this.#values.exposeTree();
      this.#readiness.resolve(value);
      return;
    }
    // Not the first value, or `ready` already rejected: the value is announced as a change. `current` is
    // handed out only when a listener reads it; until then the next change may write the tree in place, and
    // a late read rewinds the live tree to this value (value-history.ts).
    const values = this.#values;
    let event: ChangeEvent<T>;
    if (!values.isPrefix) {
      // A key's value is never written in place: nothing to rewind, so the event is a plain object, without
      // the getter V8 builds through a runtime call (a key's change is on the latency path users feel).
      values.exposeTree();
      event = { index: this.#index, changes, current: value as T };
    } else {
      const version = new ValueVersion(changes, values.committedInPlace, values.committedOutputUndo);
      if (this.#version !== undefined) this.#version.next = version;
      this.#version = version;
      const read = (): T => {
        values.exposeTree();
        // The tree (no schema) or a schema's output: a later batch may have written either in place.
        if (this.#init.schema !== undefined) {
          return (version.outputFrom(value as Record<string, unknown>) ?? value) as T;
        }
        const later = version.later();
        return later === undefined ? (value as T) : (rewind(this.#current as Folder, this.key, later) as T);
      };
      let seen: { value: T } | undefined;
      event = {
        index: this.#index,
        changes,
        get current(): T {
          seen ??= { value: read() };
          return seen.value;
        },
      };
    }
    if (watchChangeChannel.hasSubscribers)
      watchChangeChannel.publish({ key: this.key, index: this.#index, changes });
    this.emit('change', event);
  }

  /** @param leftCache - Consul's first answer after a restore from the cache: the cached value keeps serving */
  #reject(issues: ValidationIssue[], leftCache: boolean): void {
    this.#values.reject();
    const error = new ConfigValidationError('watch', this.key, issues);
    this.#lastError = error;
    // A first value that is refused reaches the caller through `ready`; later ones only through the log.
    if (!this.#readiness.pending)
      this.#init.logger.warn({ key: this.key, issues: issues.length }, error.message);
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    this.#readiness.reject(error);
    // Consul answered: the watch is healthy again, and the cached value is the last good one.
    if (leftCache) this.#readiness.setState(this.#queryStale ? 'stale' : 'ready');
    this.emit('invalid', error);
  }

  #startTimedOut(): void {
    if (this.#init.store === undefined) {
      this.#rejectTimedOut();
      return;
    }
    // Consul has not answered in time (a hung connection never fails): start from the cache if possible.
    void this.#useCache().then((restored) => {
      if (!restored) this.#rejectTimedOut();
    });
  }

  #rejectTimedOut(): void {
    const ms = this.#init.startTimeoutMs;
    const last =
      this.#lastError === undefined ? '' : `; last error: ${this.#lastError.message.split('\n')[0]}`;
    this.#readiness.reject(
      new TimeoutError(`watch ${this.key}: no valid value within ${ms} ms${last}`, {
        operation: 'watch',
        key: this.key,
        cause: this.#lastError,
      }),
    );
  }

  #clearDebounce(): void {
    if (this.#debounceTimer !== undefined) clearTimeout(this.#debounceTimer);
    if (this.#debounceMaxTimer !== undefined) clearTimeout(this.#debounceMaxTimer);
    this.#debounceTimer = undefined;
    this.#debounceMaxTimer = undefined;
  }

  #clearTimers(): void {
    this.#readiness.clearStartTimer();
    this.#clearDebounce();
  }
}

/** A listener of the subscription threw: logged and published, never passed on. */
function listenerThrew(init: SubscriptionInit, event: string, error: unknown): void {
  init.logger.error({ key: init.key, event, err: error }, `watch ${init.key}: a '${event}' listener threw`);
  if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: init.key, error });
}
