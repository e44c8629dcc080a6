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
import { EventEmitter } from 'eventemitter3';
import type * as zc from 'zod/v4/core';
import type { LkgEntry, LkgSnapshot } from '../cache/lkg-file.js';
import { KVEntry } from '../consul/kv-entry.js';
import { watchChangeChannel, watchErrorChannel } from '../diagnostics.js';
import {
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  TimeoutError,
  type ValidationIssue,
} from '../errors.js';
import type { Logger } from '../logger.js';
import { type DecodableEntry, type DecodeCache, validate, type WatchFormat } from './decode.js';
import { type DiffableEntry, type RawChange, sameContent } from './diff.js';
import type { LkgStore } from './lkg-store.js';
import type { LoopState } from './loop.js';
import {
  buildTree,
  emptyTree,
  type Folder,
  locate,
  type TreeConflict,
  TreeWriter,
  treePath,
} from './tree.js';
import type {
  ChangeEvent,
  KeyChange,
  StateEvent,
  SubscriptionEvents,
  SubscriptionState,
  WatchedEntry,
} from './types.js';

/** What a subscription reads of a KV entry; `KVEntry` from src/consul/kv.ts has it all. */
export type WatchEntry = DiffableEntry & DecodableEntry;

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

/** The decoded bytes each record came from, to tell a real change from a rewrite of the same value. */
const sourceOf = new WeakMap<WatchedEntry, WatchEntry>();

function differs(before: WatchedEntry, after: WatchedEntry): boolean {
  if (before === after) return false;
  const a = sourceOf.get(before);
  const b = sourceOf.get(after);
  // Compare the bytes even when the ModifyIndex is equal: a value restored from the cache, or read from a
  // restarted cluster, can carry the same ModifyIndex as other bytes (§3). Only keys the diff reported get here.
  if (a === undefined || b === undefined) return before.modifyIndex !== after.modifyIndex;
  return !sameContent(a, b);
}

type ReadyState = 'pending' | 'resolved' | 'rejected';

type Events<T> = SubscriptionEvents<T>;
type EventName<T> = EventEmitter.EventNames<Events<T>>;
type Listener<T, E extends EventName<T>> = EventEmitter.EventListener<Events<T>, E>;
/** Every event has one payload, so a guard passes one argument and allocates nothing per call. */
type Guarded = (this: unknown, payload: unknown) => void;
type AnyListener = (this: unknown, payload: never) => unknown;

/** The listener each guard wraps, so `listeners()` returns what the user registered. */
const originalOf = new WeakMap<Guarded, AnyListener>();

/** A cached entry as the decode pipeline reads a Consul one. */
function cachedEntry(cached: LkgEntry): KVEntry {
  return new KVEntry({
    key: cached.key,
    flags: cached.flags,
    createIndex: 0,
    modifyIndex: cached.modifyIndex,
    lockIndex: 0,
    session: undefined,
    value: cached.value,
  });
}

/**
 * A watched key or prefix. Created by `Watcher.watch()`; `T` is the schema's output type.
 *
 * Events carry one payload object each (see {@link SubscriptionEvents}). State is updated before an event is
 * emitted, so `current` is already new when `change` fires. A listener that throws is logged and published
 * on `consul-hotreload:watch:error`; every other listener of that event still gets it, and the watch
 * carries on. (Plain eventemitter3 stops an emit at the first listener that throws: each listener is
 * registered inside a guard instead, which costs one function call per listener and nothing when nothing
 * throws. `listeners()` and `off()` take and give the listeners as registered.)
 */
export class Subscription<T> extends EventEmitter<SubscriptionEvents<T>> {
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
  readonly #prefix: boolean;
  #state: SubscriptionState = 'connecting';
  #readyState: ReadyState = 'pending';
  // Typed without T so that Subscription<T> stays assignable to Subscription<unknown>.
  #resolveReady!: (value: unknown) => void;
  #rejectReady!: (error: Error) => void;
  #lastError: ConsulError | undefined;

  // The last good value.
  #hasGood = false;
  #current: T | undefined;
  #entries: ReadonlyMap<string, WatchedEntry> = new Map();
  /**
   * `#entries` has left this object (the `entries` getter, or a cache write that builds its snapshot later):
   * it must never change again. Until then a change batch may update it in place (see #applyBatch), which
   * saves copying a whole prefix per change.
   */
  #entriesExposed = false;
  // The candidate: what Consul holds now, decoded. `#tree` is undefined while two keys conflict. After a
  // commit it IS `#entries`, until the next batch.
  #candidate: Map<string, WatchedEntry> = new Map();
  /**
   * While a batch updates `#entries` in place (it is the candidate and was never exposed): the good record of
   * each key changed (undefined: the key was absent), to diff against in #commit and to restore in #reject.
   */
  #goodBefore: Map<string, WatchedEntry | undefined> | undefined;
  #tree: Folder | undefined;
  #decodeIssues = new Map<string, ValidationIssue>();
  /** Keys changed since the last good value: the `change` event compares exactly these. */
  readonly #changedSinceGood = new Set<string>();
  /** Changes received and not yet evaluated (debounce, or the first evaluation's microtask). */
  #pending = new Map<string, WatchEntry | undefined>();
  #index = 0;
  #evaluated = false;
  /** Whether the query is stale: a late subscription's first value, from old data, starts `stale`. */
  #queryStale = false;
  #evaluationScheduled = false;
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #debounceMaxTimer: ReturnType<typeof setTimeout> | undefined;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  /** `current` came from the last-known-good cache and no live answer has been applied since. */
  #fromCache = false;
  /** The one attempt to start from the cache: resolves true when it served `ready`. */
  #cacheAttempt: Promise<boolean> | undefined;
  /** Guards by event, then by listener; made on the first registration. */
  #guards: Map<PropertyKey, WeakMap<AnyListener, Guarded>> | undefined;

  /** @internal Use `Watcher.watch()`. */
  constructor(init: SubscriptionInit) {
    super();
    this.key = init.key;
    this.#init = init;
    this.#prefix = init.key.endsWith('/');
    this.#tree = this.#prefix ? emptyTree() : undefined;
    this.ready = new Promise<T>((resolve, reject) => {
      this.#resolveReady = resolve as (value: unknown) => void;
      this.#rejectReady = reject;
    });
    // A rejection nobody awaits must not crash the process.
    this.ready.catch(() => {});
    if (init.startTimeoutMs > 0) {
      this.#startTimer = setTimeout(() => this.#startTimedOut(), init.startTimeoutMs);
    }
  }

  /** The last valid value (the schema's output); undefined before the first. */
  get current(): T | undefined {
    return this.#current;
  }

  /**
   * Per-key view of the last valid value: full key → decoded value, ModifyIndex, flags. For a key, at most
   * one entry; for a prefix, every key below it except folder keys (ending in `/`). A new Map per change;
   * do not modify it.
   */
  get entries(): ReadonlyMap<string, WatchedEntry> {
    // A Map handed out never changes afterwards: the next batch copies it rather than updating it in place.
    this.#entriesExposed = true;
    return this.#entries;
  }

  /** See {@link SubscriptionState}. */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** `X-Consul-Index` of the last answer that reached this subscription; 0 before the first. */
  get index(): number {
    return this.#index;
  }

  /** Adds a listener; a throw from it is reported and never keeps the event from the other listeners. */
  override on<E extends EventName<T>>(event: E, fn: Listener<T, E>, context?: unknown): this {
    return super.on(event, this.#guard(event, fn), context);
  }

  /** Same as {@link Subscription.on}. */
  override addListener<E extends EventName<T>>(event: E, fn: Listener<T, E>, context?: unknown): this {
    return super.addListener(event, this.#guard(event, fn), context);
  }

  /** Adds a listener for the next event only; guarded like {@link Subscription.on}. */
  override once<E extends EventName<T>>(event: E, fn: Listener<T, E>, context?: unknown): this {
    return super.once(event, this.#guard(event, fn), context);
  }

  /** Removes a listener, given as it was registered. */
  override removeListener<E extends EventName<T>>(
    event: E,
    fn?: Listener<T, E>,
    context?: unknown,
    once?: boolean,
  ): this {
    return super.removeListener(
      event,
      fn === undefined ? undefined : this.#guarded(event, fn),
      context,
      once,
    );
  }

  /** Same as {@link Subscription.removeListener}. */
  override off<E extends EventName<T>>(
    event: E,
    fn?: Listener<T, E>,
    context?: unknown,
    once?: boolean,
  ): this {
    return this.removeListener(event, fn, context, once);
  }

  /** The listeners of `event`, as they were registered. */
  override listeners<E extends EventName<T>>(event: E): Array<Listener<T, E>> {
    return super
      .listeners(event)
      .map((fn) => (originalOf.get(fn as unknown as Guarded) ?? fn) as Listener<T, E>);
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
    this.#settleReadyWithError(
      new ClosedError(`watch ${this.key}: closed before a valid value arrived`, {
        operation: 'watch',
        key: this.key,
        cause: this.#lastError,
      }),
    );
    this.#setState('closed');
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
   */
  [kApply](changes: readonly RawChange<WatchEntry>[], index: number): void {
    if (this.#state === 'closed') return;
    this.#index = index;
    // The first live answer after a restore from the cache holds every key (the query had never answered,
    // so its diff lists all as added): it replaces the cached snapshot, and a cached key it lacks is gone.
    if (this.#fromCache) for (const key of this.#candidate.keys()) this.#pending.set(key, undefined);
    for (const change of changes) {
      // Folder keys (`db/`) and the prefix's own key hold no value of the tree.
      if (this.#prefix && treePath(this.key, change.key) === undefined) continue;
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
    if (state === 'stale' && this.#state === 'ready') this.#setState('stale');
    else if (state === 'ready' && this.#state === 'stale') this.#setState('ready');
  }

  /** @internal A request of the query failed (already logged and published by the query). */
  [kError](error: ConsulError): void {
    if (this.#state === 'closed') return;
    this.#lastError = error;
    // Retrying will not fix a 403, an unknown datacenter or a 400 soon: fail `ready` now, keep trying. Such
    // an answer is Consul's word, so the cache does not hide it. A retryable failure (Consul unreachable,
    // 5xx, 429, timeout) starts from the cache at once rather than after `startTimeout`.
    if (!error.retryable) this.#settleReadyWithError(error);
    else if (this.#init.store !== undefined && this.#readyState === 'pending') void this.#useCache();
    this.#emitSafely('error', error);
  }

  #evaluate(): void {
    this.#evaluationScheduled = false;
    if (this.#state === 'closed') return;
    this.#clearDebounce();
    const batch = this.#pending;
    const leftCache = this.#fromCache;
    if (batch.size === 0 && this.#evaluated && !leftCache) return;
    this.#pending = new Map();
    this.#evaluated = true;
    this.#fromCache = false;
    const conflicts = this.#applyBatch(batch);
    const outcome = this.#validateCandidate(conflicts);
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
      this.#state === 'connecting' &&
      this.#readyState === 'pending' &&
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
    for (const cached of snapshot.entries) {
      const own = this.#prefix ? treePath(this.key, cached.key) !== undefined : cached.key === this.key;
      if (own) batch.set(cached.key, cachedEntry(cached));
    }
    const outcome = this.#validateCandidate(this.#applyBatch(batch));
    if (!outcome.ok) {
      this.#resetCandidate();
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

  /** Back to no candidate at all, as before the first answer. */
  #resetCandidate(): void {
    this.#restoreGood();
    this.#candidate = new Map();
    this.#tree = this.#prefix ? emptyTree() : undefined;
    this.#decodeIssues.clear();
    this.#changedSinceGood.clear();
  }

  /** Queues the good value's entries for the cache (fire-and-forget; the store logs failures). */
  #persist(): void {
    const store = this.#init.store;
    if (store === undefined) return;
    const entries = this.#entries;
    // The snapshot is built later, from this very Map: it must not change meanwhile.
    this.#entriesExposed = true;
    const index = this.#index;
    store.save(this.key, () => this.#snapshotOf(entries, index));
  }

  #snapshotOf(entries: ReadonlyMap<string, WatchedEntry>, index: number): LkgSnapshot {
    const cached: LkgEntry[] = [];
    for (const [key, record] of entries) {
      const source = sourceOf.get(record);
      if (source === undefined) continue;
      cached.push({ key, modifyIndex: source.modifyIndex, flags: source.flags, value: source.rawValue });
    }
    return { key: this.key, index, entries: cached };
  }

  /** Decodes the batch into the candidate map and a new tree; returns the tree conflicts, if any. */
  #applyBatch(batch: ReadonlyMap<string, WatchEntry | undefined>): TreeConflict[] {
    if (batch.size === 0) return [];
    let candidate = this.#candidate;
    // The candidate is private, so a batch updates it in place, except when it is the good value: then a
    // Map someone holds is copied (as a new Map per change), and one nobody saw is updated in place, with
    // the good records of the keys it changes kept aside.
    let goodBefore: Map<string, WatchedEntry | undefined> | undefined;
    // Never left over: every batch ends in #commit, #reject or #resetCandidate.
    if (candidate === this.#entries) {
      if (this.#entriesExposed) candidate = new Map(candidate);
      else goodBefore = this.#goodBefore ??= new Map();
    }
    const writer = this.#tree === undefined ? undefined : new TreeWriter(this.#tree);
    let conflicted = this.#tree === undefined && this.#prefix;
    for (const [key, entry] of batch) {
      this.#changedSinceGood.add(key);
      this.#decodeIssues.delete(key);
      if (goodBefore !== undefined && !goodBefore.has(key)) goodBefore.set(key, candidate.get(key));
      const path = this.#prefix ? treePath(this.key, key) : undefined;
      const outcome = entry === undefined ? undefined : this.#init.cache.decode(entry, this.#init.format);
      if (entry === undefined || outcome === undefined || !outcome.ok) {
        if (goodBefore !== undefined && candidate.has(key)) {
          // Putting a deleted key back would move it to the end of the good Map: give the candidate its
          // own Map now (only updates and additions happened in place so far, and those undo exactly).
          this.#candidate = candidate;
          this.#restoreGood();
          candidate = this.#candidate;
          goodBefore = undefined;
        }
        candidate.delete(key);
        if (path !== undefined) writer?.delete(path);
        if (outcome !== undefined && !outcome.ok) {
          this.#decodeIssues.set(key, { key, path: path ?? [], message: outcome.message });
        }
        continue;
      }
      const record: WatchedEntry = {
        value: outcome.value,
        modifyIndex: entry.modifyIndex,
        flags: entry.flags,
      };
      sourceOf.set(record, entry);
      candidate.set(key, record);
      if (path !== undefined && writer?.set(path, outcome.value) !== undefined) conflicted = true;
    }
    this.#candidate = candidate;
    if (!this.#prefix) return [];
    if (!conflicted) {
      this.#tree = writer!.root;
      return [];
    }
    // A conflict: rebuild from scratch to list every one, and keep rebuilding until none is left.
    const { root, conflicts } = buildTree(this.#treeValues());
    this.#tree = conflicts.length === 0 ? root : undefined;
    return conflicts;
  }

  *#treeValues(): Generator<readonly [readonly string[], unknown]> {
    for (const [key, record] of this.#candidate) {
      const path = treePath(this.key, key);
      if (path !== undefined) yield [path, record.value];
    }
  }

  #validateCandidate(
    conflicts: readonly TreeConflict[],
  ): { ok: true; value: unknown } | { ok: false; issues: ValidationIssue[] } {
    const issues = [...this.#decodeIssues.values(), ...conflicts.map((c) => this.#conflictIssue(c))];
    if (conflicts.length > 0 || (issues.length > 0 && !this.#prefix)) return { ok: false, issues };
    const input = this.#prefix ? this.#tree : this.#candidate.get(this.key)?.value;
    const { schema } = this.#init;
    if (schema === undefined) return issues.length === 0 ? { ok: true, value: input } : { ok: false, issues };
    const result = validate(schema, input, (path) => this.#keyAt(path));
    if (result.ok) return issues.length === 0 ? result : { ok: false, issues };
    // Keys that failed to decode are missing from the tree: drop the schema's complaints about them.
    for (const issue of result.issues) if (!this.#decodeIssues.has(issue.key)) issues.push(issue);
    return { ok: false, issues };
  }

  /** The Consul key behind a path of the validated value (see `locate` in tree.ts). */
  #keyAt(path: readonly PropertyKey[]): string {
    if (!this.#prefix || this.#tree === undefined) return this.key;
    const { keyPath, folder } = locate(this.#tree, path);
    if (keyPath.length === 0) return this.key;
    return `${this.key}${keyPath.join('/')}${folder ? '/' : ''}`;
  }

  #conflictIssue(conflict: TreeConflict): ValidationIssue {
    const valueKey = this.key + conflict.valuePath.join('/');
    const nestedKey = this.key + conflict.nestedPath.join('/');
    return {
      key: valueKey,
      path: [...conflict.valuePath],
      message: `${valueKey} holds a value but is also a folder of ${nestedKey}; a key cannot be both`,
    };
  }

  /** @param leftCache - this is the first live value after a restore from the cache */
  #commit(value: unknown, leftCache: boolean): void {
    const good = this.#entries;
    const candidate = this.#candidate;
    // Set when the batch updated the good Map in place: it then holds the candidate already.
    const goodBefore = this.#goodBefore;
    this.#goodBefore = undefined;
    const changes: KeyChange[] = [];
    const deletions: KeyChange[] = [];
    for (const key of this.#changedSinceGood) {
      const before = goodBefore?.has(key) === true ? goodBefore.get(key) : good.get(key);
      const after = candidate.get(key);
      if (before === undefined && after === undefined) continue;
      if (before === undefined) {
        changes.push({ key, type: 'added', value: after!.value, previous: undefined });
      } else if (after === undefined) {
        deletions.push({ key, type: 'deleted', value: undefined, previous: before.value });
      } else if (differs(before, after)) {
        changes.push({ key, type: 'updated', value: after.value, previous: before.value });
      }
    }
    // Deletions last, as within one answer (diff.ts), even when the changes span several answers.
    changes.push(...deletions);
    this.#changedSinceGood.clear();
    const first = !this.#hasGood;
    if (candidate !== good) {
      this.#entries = candidate;
      this.#entriesExposed = false;
    }
    // Nothing really changed (e.g. A → invalid B → A again, or Consul holds what the cache held): keep
    // `current` and its identity, and write nothing.
    const changed = first || changes.length > 0;
    if (changed) {
      this.#hasGood = true;
      this.#current = value as T;
      this.#clearStartTimer();
      // Only values that decoded and validated get here; a restored value is already in the cache.
      if (!this.#fromCache) this.#persist();
    }
    if (this.#state === 'connecting' || leftCache) {
      this.#setState(this.#fromCache || this.#queryStale ? 'stale' : 'ready');
    }
    if (!changed) return;
    if (first && this.#readyState === 'pending') {
      this.#readyState = 'resolved';
      this.#resolveReady(value);
      return;
    }
    // Not the first value, or `ready` already rejected: the value is announced as a change.
    const event: ChangeEvent<T> = { index: this.#index, changes, current: value as T };
    if (watchChangeChannel.hasSubscribers)
      watchChangeChannel.publish({ key: this.key, index: this.#index, changes });
    this.#emitSafely('change', event);
  }

  /** @param leftCache - Consul's first answer after a restore from the cache: the cached value keeps serving */
  #reject(issues: ValidationIssue[], leftCache: boolean): void {
    this.#restoreGood();
    const error = new ConfigValidationError('watch', this.key, issues);
    this.#lastError = error;
    this.#init.logger.warn({ key: this.key, issues: issues.length }, error.message);
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    this.#settleReadyWithError(error);
    // Consul answered: the watch is healthy again, and the cached value is the last good one.
    if (leftCache) this.#setState(this.#queryStale ? 'stale' : 'ready');
    this.#emitSafely('invalid', error);
  }

  /**
   * Undoes a batch that updated the good Map in place: the candidate moves to a Map of its own and the good
   * one gets its records back, in its own order (only updates, which keep a key's place, and additions, at
   * the end, are ever made in place). Costs a copy, but only when a value is rejected or a key deleted.
   */
  #restoreGood(): void {
    const goodBefore = this.#goodBefore;
    if (goodBefore === undefined) return;
    this.#goodBefore = undefined;
    const good = this.#candidate;
    this.#candidate = new Map(good);
    for (const [key, record] of goodBefore) {
      if (record === undefined) good.delete(key);
      else good.set(key, record);
    }
  }

  #startTimedOut(): void {
    this.#startTimer = undefined;
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
    this.#settleReadyWithError(
      new TimeoutError(`watch ${this.key}: no valid value within ${ms} ms${last}`, {
        operation: 'watch',
        key: this.key,
        cause: this.#lastError,
      }),
    );
  }

  #settleReadyWithError(error: Error): void {
    if (this.#readyState !== 'pending') return;
    this.#readyState = 'rejected';
    this.#clearStartTimer();
    this.#rejectReady(error);
  }

  #setState(state: SubscriptionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    const event: StateEvent = { state, previous };
    this.#emitSafely('state', event);
  }

  #emitSafely<E extends keyof SubscriptionEvents<T>>(
    event: E,
    ...args: Parameters<SubscriptionEvents<T>[E]>
  ): void {
    try {
      (this.emit as (event: E, ...args: Parameters<SubscriptionEvents<T>[E]>) => boolean)(event, ...args);
    } catch (error) {
      // Only a listener added around the guards (EventEmitter.prototype.on.call) can throw here.
      this.#listenerThrew(event, error);
    }
  }

  #listenerThrew(event: PropertyKey, error: unknown): void {
    const name = String(event);
    this.#init.logger.error(
      { key: this.key, event: name, err: error },
      `watch ${this.key}: a '${name}' listener threw`,
    );
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
  }

  /** The guard of `fn` for `event`, made once: the same listener added twice shares one guard, as in off(). */
  #guard<E extends EventName<T>>(event: E, fn: Listener<T, E>): Listener<T, E> {
    // eventemitter3 throws its own TypeError for a non-function.
    if (typeof fn !== 'function') return fn;
    const listener = fn as AnyListener;
    this.#guards ??= new Map();
    let byListener = this.#guards.get(event);
    if (byListener === undefined) {
      byListener = new WeakMap();
      this.#guards.set(event, byListener);
    }
    let guarded = byListener.get(listener);
    if (guarded === undefined) {
      const report = (error: unknown): void => this.#listenerThrew(event, error);
      guarded = function guarded(this: unknown, payload: unknown): void {
        try {
          listener.call(this, payload as never);
        } catch (error) {
          report(error);
        }
      };
      byListener.set(listener, guarded);
      originalOf.set(guarded, listener);
    }
    return guarded as unknown as Listener<T, E>;
  }

  /** The guard registered for `fn`, or `fn` itself when it never was (removing it then does nothing). */
  #guarded<E extends EventName<T>>(event: E, fn: Listener<T, E>): Listener<T, E> {
    const guarded = this.#guards?.get(event)?.get(fn as AnyListener);
    return guarded === undefined ? fn : (guarded as unknown as Listener<T, E>);
  }

  #clearStartTimer(): void {
    if (this.#startTimer !== undefined) clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
  }

  #clearDebounce(): void {
    if (this.#debounceTimer !== undefined) clearTimeout(this.#debounceTimer);
    if (this.#debounceMaxTimer !== undefined) clearTimeout(this.#debounceMaxTimer);
    this.#debounceTimer = undefined;
    this.#debounceMaxTimer = undefined;
  }

  #clearTimers(): void {
    this.#clearStartTimer();
    this.#clearDebounce();
  }
}
