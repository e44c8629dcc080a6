/**
 * Subscription<T>: one watched key or prefix as the user sees it: `ready`, `current`, `entries`, `state`
 * and typed events. It is fed raw changes by its query (src/watch/watcher.ts) and turns them into decoded,
 * validated values.
 *
 * Two values are kept: the candidate (what Consul holds now, decoded) and the last good one (what `current`
 * serves). A change batch updates the candidate; if it decodes and validates it becomes the good value and
 * a `change` event lists every key that differs from the previous good value, however many invalid states
 * came between.
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type * as zc from 'zod/v4/core';
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
}

/** The decoded bytes each record came from, to tell a real change from a rewrite of the same value. */
const sourceOf = new WeakMap<WatchedEntry, WatchEntry>();

function differs(before: WatchedEntry, after: WatchedEntry): boolean {
  if (before.modifyIndex === after.modifyIndex) return false;
  const a = sourceOf.get(before);
  const b = sourceOf.get(after);
  return a === undefined || b === undefined || !sameContent(a, b);
}

type ReadyState = 'pending' | 'resolved' | 'rejected';

/**
 * A watched key or prefix. Created by `Watcher.watch()`; `T` is the schema's output type.
 *
 * Events carry one payload object each (see {@link SubscriptionEvents}). State is updated before an event is
 * emitted, so `current` is already new when `change` fires. A listener that throws is logged and published
 * on `consul-hotreload:watch:error`; the watch carries on (later listeners of that same emit are skipped, as
 * with any EventEmitter).
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
  // The candidate: what Consul holds now, decoded. `#tree` is undefined while two keys conflict.
  #candidate: Map<string, WatchedEntry> = new Map();
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

  /** @internal Whether a first evaluation is done or scheduled: the query then only sends changes. */
  get [kEvaluated](): boolean {
    return this.#evaluated || this.#evaluationScheduled;
  }

  /**
   * @internal Feeds one answer's changes for this subscription's keys. The first call schedules the first
   * evaluation on a microtask, so listeners attached right after `watch()` see its events.
   */
  [kApply](changes: readonly RawChange<WatchEntry>[], index: number): void {
    if (this.#state === 'closed') return;
    this.#index = index;
    for (const change of changes) {
      // Folder keys (`db/`) and the prefix's own key hold no value of the tree.
      if (this.#prefix && treePath(this.key, change.key) === undefined) continue;
      this.#pending.set(change.key, change.entry);
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
    if (state === 'stale' && this.#state === 'ready') this.#setState('stale');
    else if (state === 'ready' && this.#state === 'stale') this.#setState('ready');
  }

  /** @internal A request of the query failed (already logged and published by the query). */
  [kError](error: ConsulError): void {
    if (this.#state === 'closed') return;
    this.#lastError = error;
    // Retrying will not fix a 403, an unknown datacenter or a 400 soon: fail `ready` now, keep trying.
    if (!error.retryable) this.#settleReadyWithError(error);
    this.#emitSafely('error', error);
  }

  #evaluate(): void {
    this.#evaluationScheduled = false;
    if (this.#state === 'closed') return;
    this.#clearDebounce();
    const batch = this.#pending;
    if (batch.size === 0 && this.#evaluated) return;
    this.#pending = new Map();
    this.#evaluated = true;
    const conflicts = this.#applyBatch(batch);
    const outcome = this.#validateCandidate(conflicts);
    if (outcome.ok) this.#commit(outcome.value);
    else this.#reject(outcome.issues);
  }

  /** Decodes the batch into a new candidate map and tree; returns the tree conflicts, if any. */
  #applyBatch(batch: ReadonlyMap<string, WatchEntry | undefined>): TreeConflict[] {
    if (batch.size === 0) return [];
    const candidate = new Map(this.#candidate);
    const writer = this.#tree === undefined ? undefined : new TreeWriter(this.#tree);
    let conflicted = this.#tree === undefined && this.#prefix;
    for (const [key, entry] of batch) {
      this.#changedSinceGood.add(key);
      this.#decodeIssues.delete(key);
      const path = this.#prefix ? treePath(this.key, key) : undefined;
      const outcome = entry === undefined ? undefined : this.#init.cache.decode(entry, this.#init.format);
      if (entry === undefined || outcome === undefined || !outcome.ok) {
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

  #commit(value: unknown): void {
    const good = this.#entries;
    const candidate = this.#candidate;
    const changes: KeyChange[] = [];
    const deletions: KeyChange[] = [];
    for (const key of this.#changedSinceGood) {
      const before = good.get(key);
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
    this.#entries = candidate;
    // Nothing really changed (e.g. A → invalid B → A again): keep `current` and its identity.
    if (!first && changes.length === 0) return;
    this.#hasGood = true;
    this.#current = value as T;
    this.#clearStartTimer();
    if (this.#state === 'connecting') this.#setState(this.#queryStale ? 'stale' : 'ready');
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

  #reject(issues: ValidationIssue[]): void {
    const error = new ConfigValidationError('watch', this.key, issues);
    this.#lastError = error;
    this.#init.logger.warn({ key: this.key, issues: issues.length }, error.message);
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    this.#settleReadyWithError(error);
    this.#emitSafely('invalid', error);
  }

  #startTimedOut(): void {
    this.#startTimer = undefined;
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
      this.#init.logger.error(
        { key: this.key, event, err: error },
        `watch ${this.key}: a '${event}' listener threw`,
      );
      if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    }
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
