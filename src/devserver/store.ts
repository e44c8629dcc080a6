/**
 * The dev server's KV state: entries, their indexes from the shared Raft log, tombstones, locks and transactions, with
 * the index rules of Consul's state store (consul-semantics §3), the CAS and transaction rules of consul-semantics §2
 * and §6, and the lock rules of consul-semantics §L5–§L7.
 *
 * Every change runs in a {@link StoreTxn} overlay that is committed at once under one new index, so a
 * single PUT and a 128-op transaction follow the same code path. A write that changes nothing (an identical
 * value) commits nothing: no index bump, no wake-ups (consul-semantics §2).
 * @module
 */

import { goQuote } from './go-strconv.js';
import { compareCodePoints } from './go-url.js';
import { RaftLog } from './raft-log.js';

/** One stored key. Values are immutable; a write replaces the entry. */
export interface KvEntry {
  readonly key: string;
  /** The value bytes; `null` for an empty value (consul-semantics §2: shown as `"Value": null`). */
  readonly value: Buffer | null;
  /** Consul's opaque uint64 flags. */
  readonly flags: bigint;
  /** How many times a session newly acquired the key (consul-semantics §L5); kept when the lock is released. */
  readonly lockIndex: number;
  /** The session holding the lock, or undefined when the key is not locked. */
  readonly session: string | undefined;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** Options of {@link KvStore}; the server resolves their defaults. */
export interface KvStoreOptions {
  /** How long a tombstone keeps a prefix's index from going backwards (consul-semantics §3), in ms. */
  tombstoneTtlMs: number;
  /** Clock for tombstone ages, in ms. */
  now: () => number;
  /** Called after every commit with the keys whose entries changed (for waking blocking queries). */
  onCommit?: ((keys: readonly string[]) => void) | undefined;
  /** The Raft log to take indexes from. @default a log of its own */
  raft?: RaftLog;
}

/** A read's answer with the `X-Consul-Index` Consul would send for it (consul-semantics §3, never 0). */
export interface IndexedResult<T> {
  readonly value: T;
  readonly index: number;
}

/** One KV operation of a transaction, already decoded from the request (consul-semantics §6). */
export interface TxnKvOp {
  /** `set`, `cas`, `get`, `get-or-empty`, `get-tree`, `check-index`, `check-not-exists`, `delete`, `delete-tree`, `delete-cas`. */
  readonly verb: string;
  readonly key: string;
  readonly value: Buffer | null;
  readonly flags: bigint;
  /** The `Index` field: the CAS or check index. */
  readonly index: bigint;
  /** The `Session` field of `lock`, `unlock` and `check-session` (consul-semantics §L7); `''` when absent. */
  readonly session: string;
}

/**
 * What the store asks of the session store during a transaction (consul-semantics §L7): whether a session
 * exists, and whether a key is inside a lock-delay. The default knows no sessions and no delays.
 */
export interface SessionRules {
  exists(sessionId: string): boolean;
  lockDelayed(key: string): boolean;
}

const NO_SESSIONS: SessionRules = { exists: () => false, lockDelayed: () => false };

/** What an invalidated session does to the keys it holds (consul-semantics §L4). */
export type SessionBehavior = 'release' | 'delete';

/** One entry of a transaction's `Results`; `withValue` is false for write results, which blank `Value` (consul-semantics §6). */
export interface TxnResult {
  readonly entry: KvEntry;
  readonly withValue: boolean;
}

/** One entry of a failed transaction's `Errors` (consul-semantics §6). */
export interface TxnError {
  readonly opIndex: number;
  readonly what: string;
}

/** What a transaction did: committed with results, or rolled back with every error found. */
export type TxnOutcome = { ok: true; results: TxnResult[] } | { ok: false; errors: TxnError[] };

/** Verbs that make a transaction a write (consul-semantics §6); a transaction without any is served by the read path. */
export const TXN_WRITE_VERBS: ReadonlySet<string> = new Set([
  'set',
  'cas',
  'lock',
  'unlock',
  'delete',
  'delete-tree',
  'delete-cas',
]);

interface Tombstone {
  readonly index: number;
  readonly createdAtMs: number;
}

/** Read access to committed state, used by the transaction overlay. */
interface CommittedView {
  entry(key: string): KvEntry | undefined;
  entriesWithPrefix(prefix: string): KvEntry[];
}

/** Keys kept in code-point (= Go byte) order, so prefix scans are a binary search plus a walk (consul-semantics §2: sorted lists). */
class SortedKeys {
  #keys: string[] = [];

  #lowerBound(target: string): number {
    let low = 0;
    let high = this.#keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareCodePoints(this.#keys[mid] ?? '', target) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  insert(key: string): void {
    const at = this.#lowerBound(key);
    if (this.#keys[at] !== key) this.#keys.splice(at, 0, key);
  }

  remove(keys: readonly string[]): void {
    if (keys.length === 1) {
      const at = this.#lowerBound(keys[0] ?? '');
      if (this.#keys[at] === keys[0]) this.#keys.splice(at, 1);
      return;
    }
    const removed = new Set(keys);
    this.#keys = this.#keys.filter((key) => !removed.has(key));
  }

  withPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (let i = this.#lowerBound(prefix); i < this.#keys.length; i++) {
      const key = this.#keys[i] ?? '';
      if (!key.startsWith(prefix)) break;
      out.push(key);
    }
    return out;
  }
}

/** The writable fields of an entry. */
interface EntryContent {
  readonly value: Buffer | null;
  readonly flags: bigint;
  readonly session: string | undefined;
  readonly lockIndex: number;
}

/** consul-semantics §2.5: value, flags, session and lock index all equal means the write changes nothing. */
function sameContent(entry: KvEntry, next: EntryContent): boolean {
  if (entry.flags !== next.flags || entry.session !== next.session || entry.lockIndex !== next.lockIndex) {
    return false;
  }
  if (entry.value === null || next.value === null) return entry.value === next.value;
  return entry.value.equals(next.value);
}

/**
 * A transaction over the committed state: reads see its own writes; nothing is visible to others until
 * the store commits it. All writes share one index, as all ops of a Consul transaction share one Raft index.
 */
export class StoreTxn {
  /** The index every write of this transaction gets if it commits. */
  readonly index: number;
  readonly #committed: CommittedView;
  /** key -> new entry, or null when deleted. */
  readonly #changes = new Map<string, KvEntry | null>();
  readonly #tombstones = new Map<string, number>();

  constructor(committed: CommittedView, index: number) {
    this.#committed = committed;
    this.index = index;
  }

  /** The keys written or deleted, for commit. */
  get changes(): ReadonlyMap<string, KvEntry | null> {
    return this.#changes;
  }

  /** Tombstones to insert on commit: key -> index. */
  get tombstones(): ReadonlyMap<string, number> {
    return this.#tombstones;
  }

  /** A key as this transaction sees it. */
  get(key: string): KvEntry | undefined {
    const changed = this.#changes.get(key);
    if (changed !== undefined) return changed ?? undefined;
    return this.#committed.entry(key);
  }

  /** Entries under a raw prefix as this transaction sees them, sorted by key. */
  list(prefix: string): KvEntry[] {
    const merged = new Map<string, KvEntry>();
    for (const entry of this.#committed.entriesWithPrefix(prefix)) merged.set(entry.key, entry);
    let touched = false;
    for (const [key, entry] of this.#changes) {
      if (!key.startsWith(prefix)) continue;
      touched = true;
      if (entry === null) merged.delete(key);
      else merged.set(key, entry);
    }
    const entries = [...merged.values()];
    return touched ? entries.sort((a, b) => compareCodePoints(a.key, b.key)) : entries;
  }

  /**
   * Upserts; an identical value and flags change nothing and return the existing entry (consul-semantics §2). A plain
   * set keeps the key's lock holder and `LockIndex` (consul-semantics §L6).
   */
  set(key: string, value: Buffer | null, flags: bigint): KvEntry {
    const existing = this.get(key);
    return this.#write(key, existing, {
      value,
      flags,
      session: existing?.session,
      lockIndex: existing?.lockIndex ?? 0,
    });
  }

  /**
   * consul-semantics §L5 acquire: a free key (or a new one) gets the session and `LockIndex` + 1; the holder itself
   * rewrites value and flags with `LockIndex` unchanged; another holder → undefined, nothing written.
   */
  lock(key: string, value: Buffer | null, flags: bigint, session: string): KvEntry | undefined {
    const existing = this.get(key);
    if (existing?.session !== undefined && existing.session !== session) return undefined;
    const lockIndex =
      existing === undefined ? 1 : existing.lockIndex + (existing.session === session ? 0 : 1);
    return this.#write(key, existing, { value, flags, session, lockIndex });
  }

  /** consul-semantics §L5 release: only the holder may; `Session` cleared, `LockIndex` kept, value and flags written. */
  unlock(key: string, value: Buffer | null, flags: bigint, session: string): KvEntry | undefined {
    const existing = this.get(key);
    if (existing === undefined || existing.session !== session) return undefined;
    return this.#write(key, existing, { value, flags, session: undefined, lockIndex: existing.lockIndex });
  }

  /** consul-semantics §L4: an invalidated session's keys lose their holder (`release`) or are deleted (`delete`). */
  dropLocks(keys: Iterable<string>, behavior: SessionBehavior): void {
    for (const key of keys) {
      const existing = this.get(key);
      if (existing === undefined) continue;
      if (behavior === 'delete') this.delete(key);
      else this.#write(key, existing, { ...existing, session: undefined });
    }
  }

  #write(key: string, existing: KvEntry | undefined, next: EntryContent): KvEntry {
    if (existing !== undefined && sameContent(existing, next)) return existing;
    const entry: KvEntry = {
      key,
      value: next.value,
      flags: next.flags,
      lockIndex: next.lockIndex,
      session: next.session,
      createIndex: existing?.createIndex ?? this.index,
      modifyIndex: this.index,
    };
    this.#changes.set(key, entry);
    return entry;
  }

  /** consul-semantics §2 CAS: index 0 sets only if absent; index N only if the key exists with ModifyIndex N. */
  cas(key: string, value: Buffer | null, flags: bigint, casIndex: bigint): KvEntry | undefined {
    const existing = this.get(key);
    if (casIndex === 0n) {
      if (existing !== undefined) return undefined;
    } else if (existing === undefined || BigInt(existing.modifyIndex) !== casIndex) {
      return undefined;
    }
    return this.set(key, value, flags);
  }

  /** Deletes one key, leaving a tombstone at it (consul-semantics §3). Deleting a missing key changes nothing. */
  delete(key: string): void {
    if (this.get(key) === undefined) return;
    this.#changes.set(key, null);
    this.#tombstones.set(key, this.index);
  }

  /** consul-semantics §2: true if deleted or absent; false if the key exists with another ModifyIndex. */
  deleteCas(key: string, casIndex: bigint): boolean {
    const existing = this.get(key);
    if (existing === undefined) return true;
    if (BigInt(existing.modifyIndex) !== casIndex) return false;
    this.delete(key);
    return true;
  }

  /** Deletes every key with this raw prefix; one tombstone at the prefix, none for prefix `''` (consul-semantics §3). */
  deleteTree(prefix: string): void {
    const doomed = this.list(prefix);
    if (doomed.length === 0) return;
    for (const entry of doomed) this.#changes.set(entry.key, null);
    if (prefix !== '') this.#tombstones.set(prefix, this.index);
  }
}

/** Consul's KV state store, reduced to what the dev server serves. */
export class KvStore {
  readonly #entries = new Map<string, KvEntry>();
  readonly #sortedKeys = new SortedKeys();
  readonly #tombstones = new Map<string, Tombstone>();
  /** The tombstones' keys, sorted like the entries, so a prefix's index costs what is under the prefix. */
  readonly #tombstoneKeys = new SortedKeys();
  #tombstonesVisited = 0;
  /** session -> keys it holds, kept in step with the entries at every commit. */
  readonly #locks = new Map<string, Set<string>>();
  readonly #options: KvStoreOptions;
  /** The Raft log KV writes take their index from, shared with the catalog and sessions (consul-semantics §S9.1). */
  readonly raft: RaftLog;
  #kvsTableIndex = 0;
  #tombstonesTableIndex = 0;
  #nextReapAtMs: number | undefined;
  #reapTimer: NodeJS.Timeout | undefined;
  #disposed = false;
  readonly #committedView: CommittedView = {
    entry: (key) => this.#entries.get(key),
    entriesWithPrefix: (prefix) => this.#committedWithPrefix(prefix),
  };

  constructor(options: KvStoreOptions) {
    this.#options = options;
    this.raft = options.raft ?? new RaftLog();
  }

  /** The global raft-like index: the index of the last committed change. */
  index(): number {
    return this.raft.last;
  }

  /** Number of tombstones not yet reaped. */
  get tombstoneCount(): number {
    this.#reapDue();
    return this.#tombstones.size;
  }

  /**
   * Tombstones looked at by prefix reads since start: the work counter that shows a read's cost follows
   * its prefix, not every tombstone in the store (for tests and the bench).
   */
  get tombstonesVisited(): number {
    return this.#tombstonesVisited;
  }

  /** consul-semantics §3 whole-KV index: max of the kvs and tombstones table indexes, never 0. */
  wholeIndex(): number {
    this.#reapDue();
    return Math.max(this.#kvsTableIndex, this.#tombstonesTableIndex, 1);
  }

  /** A single key; the index is its ModifyIndex, or the whole-KV index when missing (consul-semantics §3). */
  get(key: string): IndexedResult<KvEntry | undefined> {
    this.#reapDue();
    const entry = this.#entries.get(key);
    return { value: entry, index: entry?.modifyIndex ?? this.wholeIndex() };
  }

  /** Entries under a raw prefix, sorted; the index follows consul-semantics §3 (entries and tombstones under the prefix). */
  list(prefix: string): IndexedResult<KvEntry[]> {
    this.#reapDue();
    const entries = this.#committedWithPrefix(prefix);
    return { value: entries, index: this.#prefixIndex(prefix, entries) };
  }

  /**
   * Keys under a prefix, folded after the first `separator` following the prefix (consul-semantics §2); keys folded away
   * still count toward the index.
   */
  keys(prefix: string, separator: string): IndexedResult<string[]> {
    const { value: entries, index } = this.list(prefix);
    const keys: string[] = [];
    const seen = new Set<string>();
    for (const { key } of entries) {
      const at = separator === '' ? -1 : key.indexOf(separator, prefix.length);
      if (at < 0) {
        keys.push(key);
        continue;
      }
      const folded = key.slice(0, at + separator.length);
      if (!seen.has(folded)) {
        seen.add(folded);
        keys.push(folded);
      }
    }
    return { value: keys, index };
  }

  /** Plain set; returns the resulting entry (the existing one, unchanged, when identical). */
  set(key: string, value: Buffer | null, flags: bigint): KvEntry {
    return this.#transact((tx) => tx.set(key, value, flags));
  }

  /** CAS set (consul-semantics §2); true when the value was (or already was identically) set. */
  cas(key: string, value: Buffer | null, flags: bigint, casIndex: bigint): boolean {
    return this.#transact((tx) => tx.cas(key, value, flags, casIndex) !== undefined);
  }

  /**
   * `?acquire` (consul-semantics §L5): true when the session now holds the key. The caller has checked that the
   * session exists and that the key is not inside a lock-delay.
   */
  acquire(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    return this.#transact((tx) => tx.lock(key, value, flags, session) !== undefined);
  }

  /** `?release` (consul-semantics §L5): true when the session held the key and no longer does. */
  release(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    return this.#transact((tx) => tx.unlock(key, value, flags, session) !== undefined);
  }

  /** The keys a session holds now, sorted. */
  heldBy(session: string): string[] {
    return [...(this.#locks.get(session) ?? [])].sort(compareCodePoints);
  }

  /**
   * Commits a change outside KV under a new index of its own (a session created or invalidated, consul-semantics §L3),
   * together with what `work` does to KV in the same index; returns that index. Unlike a KV write it always
   * takes an index, even when KV is untouched.
   */
  commitWithIndex(work: (tx: StoreTxn) => void = () => {}): number {
    this.#reapDue();
    const tx = new StoreTxn(this.#committedView, this.raft.next);
    work(tx);
    this.#commit(tx);
    this.raft.commit(tx.index);
    return tx.index;
  }

  /** Deletes a key (missing key: no-op). */
  delete(key: string): void {
    this.#transact((tx) => tx.delete(key));
  }

  /** CAS delete (consul-semantics §2). */
  deleteCas(key: string, casIndex: bigint): boolean {
    return this.#transact((tx) => tx.deleteCas(key, casIndex));
  }

  /** Deletes every key under a raw prefix (`''` empties the store). */
  deleteTree(prefix: string): void {
    this.#transact((tx) => tx.deleteTree(prefix));
  }

  /**
   * Runs a transaction's KV ops (consul-semantics §6): every op runs even after a failure so that every error is reported;
   * any error rolls the whole transaction back.
   */
  runTxn(ops: readonly TxnKvOp[], sessions: SessionRules = NO_SESSIONS): TxnOutcome {
    // Consul's pre-apply check rejects an empty key for every verb but delete-tree, and a `lock` inside its
    // lock-delay (consul-semantics §L7), before running anything.
    const precheck: TxnError[] = [];
    ops.forEach((op, opIndex) => {
      if (op.key === '' && op.verb !== 'delete-tree') precheck.push({ opIndex, what: 'Must provide key' });
      else if (op.verb === 'lock' && sessions.lockDelayed(op.key)) {
        precheck.push({ opIndex, what: `failed to lock key ${goQuote(op.key)} due to lock delay` });
      }
    });
    if (precheck.length > 0) return { ok: false, errors: precheck };
    this.#reapDue();

    const tx = new StoreTxn(this.#committedView, this.raft.next);
    const results: TxnResult[] = [];
    const errors: TxnError[] = [];
    ops.forEach((op, opIndex) => {
      const what = applyTxnOp(tx, op, results, sessions);
      if (what !== undefined) errors.push({ opIndex, what });
    });
    if (errors.length > 0) return { ok: false, errors };
    this.#commit(tx);
    return { ok: true, results };
  }

  /** Removes every tombstone older than the TTL now; returns how many were reaped. */
  reapTombstones(): number {
    const nowMs = this.#options.now();
    const reaped: string[] = [];
    let nextReapAtMs: number | undefined;
    for (const [key, tombstone] of this.#tombstones) {
      const expiresAtMs = tombstone.createdAtMs + this.#options.tombstoneTtlMs;
      if (expiresAtMs <= nowMs) {
        this.#tombstones.delete(key);
        reaped.push(key);
      } else if (nextReapAtMs === undefined || expiresAtMs < nextReapAtMs) {
        nextReapAtMs = expiresAtMs;
      }
    }
    if (reaped.length > 0) this.#tombstoneKeys.remove(reaped);
    this.#nextReapAtMs = nextReapAtMs;
    this.#scheduleReap();
    return reaped.length;
  }

  /** Stops the reaping timer. The store stays readable. */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#reapTimer);
    this.#reapTimer = undefined;
  }

  #committedWithPrefix(prefix: string): KvEntry[] {
    const entries: KvEntry[] = [];
    for (const key of this.#sortedKeys.withPrefix(prefix)) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) entries.push(entry);
    }
    return entries;
  }

  #prefixIndex(prefix: string, entries: readonly KvEntry[]): number {
    // consul-semantics §3: the empty prefix always reports the whole-KV index.
    if (prefix === '') return this.wholeIndex();
    let index = 0;
    for (const entry of entries) index = Math.max(index, entry.modifyIndex);
    for (const key of this.#tombstoneKeys.withPrefix(prefix)) {
      this.#tombstonesVisited++;
      index = Math.max(index, this.#tombstones.get(key)?.index ?? 0);
    }
    // consul-semantics §3: nothing under the prefix, not even a tombstone, reports the whole-KV index.
    return index === 0 ? this.wholeIndex() : index;
  }

  #transact<T>(work: (tx: StoreTxn) => T): T {
    this.#reapDue();
    const tx = new StoreTxn(this.#committedView, this.raft.next);
    const result = work(tx);
    this.#commit(tx);
    return result;
  }

  #commit(tx: StoreTxn): void {
    if (tx.changes.size === 0) return; // consul-semantics §2: nothing changed, so no index bump and no wake-up.
    const added: string[] = [];
    const removed: string[] = [];
    for (const [key, entry] of tx.changes) {
      this.#trackLock(key, this.#entries.get(key)?.session, entry?.session);
      if (entry === null) {
        if (this.#entries.delete(key)) removed.push(key);
      } else {
        if (!this.#entries.has(key)) added.push(key);
        this.#entries.set(key, entry);
      }
    }
    if (removed.length > 0) this.#sortedKeys.remove(removed);
    for (const key of added) this.#sortedKeys.insert(key);

    const createdAtMs = this.#options.now();
    for (const [key, index] of tx.tombstones) {
      if (!this.#tombstones.has(key)) this.#tombstoneKeys.insert(key);
      this.#tombstones.set(key, { index, createdAtMs });
      this.#tombstonesTableIndex = index;
    }
    if (tx.tombstones.size > 0) {
      const expiresAtMs = createdAtMs + this.#options.tombstoneTtlMs;
      if (this.#nextReapAtMs === undefined || expiresAtMs < this.#nextReapAtMs)
        this.#nextReapAtMs = expiresAtMs;
      this.#scheduleReap();
    }
    this.raft.commit(tx.index);
    this.#kvsTableIndex = tx.index;
    this.#options.onCommit?.([...tx.changes.keys()]);
  }

  #trackLock(key: string, before: string | undefined, after: string | undefined): void {
    if (before === after) return;
    if (before !== undefined) {
      const held = this.#locks.get(before);
      held?.delete(key);
      if (held?.size === 0) this.#locks.delete(before);
    }
    if (after !== undefined) {
      let held = this.#locks.get(after);
      if (held === undefined) {
        held = new Set();
        this.#locks.set(after, held);
      }
      held.add(key);
    }
  }

  /** Lazy reaping on every read and write, so an injected clock takes effect without timers. */
  #reapDue(): void {
    if (this.#nextReapAtMs !== undefined && this.#options.now() >= this.#nextReapAtMs) this.reapTombstones();
  }

  #scheduleReap(): void {
    if (this.#disposed || this.#nextReapAtMs === undefined) {
      clearTimeout(this.#reapTimer);
      this.#reapTimer = undefined;
      return;
    }
    if (this.#reapTimer !== undefined) return;
    const ttlMs = this.#options.tombstoneTtlMs;
    const delayMs = Math.min(Math.max(this.#nextReapAtMs - this.#options.now(), 1), ttlMs, 2 ** 31 - 1);
    this.#reapTimer = setTimeout(() => {
      this.#reapTimer = undefined;
      this.reapTombstones();
    }, delayMs);
    this.#reapTimer.unref();
  }
}

/** Applies one op to the transaction; returns Consul's `What` text when it fails (consul-semantics §6). */
function applyTxnOp(
  tx: StoreTxn,
  op: TxnKvOp,
  results: TxnResult[],
  sessions: SessionRules,
): string | undefined {
  const key = goQuote(op.key);
  switch (op.verb) {
    case 'lock': {
      if (op.session === '') return 'missing session';
      if (!sessions.exists(op.session)) return `invalid session ${goQuote(op.session)}`;
      const entry = tx.lock(op.key, op.value, op.flags, op.session);
      if (entry === undefined) return `failed to lock key ${key}, lock is already held`;
      results.push({ entry, withValue: false });
      return undefined;
    }
    case 'unlock': {
      if (op.session === '') return 'missing session';
      const entry = tx.unlock(op.key, op.value, op.flags, op.session);
      if (entry === undefined) {
        return `failed to unlock key ${key}, lock isn't held, or is held by another session`;
      }
      results.push({ entry, withValue: false });
      return undefined;
    }
    case 'check-session': {
      const entry = tx.get(op.key);
      if (entry === undefined) return `failed to check session, key ${key} doesn't exist`;
      if ((entry.session ?? '') !== op.session) {
        return `failed session check for key ${key}, current session ${goQuote(entry.session ?? '')} != ${goQuote(op.session)}`;
      }
      results.push({ entry, withValue: false });
      return undefined;
    }
    case 'set':
      results.push({ entry: tx.set(op.key, op.value, op.flags), withValue: false });
      return undefined;
    case 'cas': {
      const entry = tx.cas(op.key, op.value, op.flags, op.index);
      if (entry === undefined) return `failed to set key ${key}, index is stale`;
      results.push({ entry, withValue: false });
      return undefined;
    }
    case 'get': {
      const entry = tx.get(op.key);
      if (entry === undefined) return `key ${key} doesn't exist`;
      results.push({ entry, withValue: true });
      return undefined;
    }
    case 'get-or-empty': {
      const entry = tx.get(op.key) ?? emptyEntry(op.key);
      results.push({ entry, withValue: true });
      return undefined;
    }
    case 'get-tree':
      for (const entry of tx.list(op.key)) results.push({ entry, withValue: true });
      return undefined;
    case 'check-index': {
      const entry = tx.get(op.key);
      if (entry === undefined) return `failed to check index, key ${key} doesn't exist`;
      if (BigInt(entry.modifyIndex) !== op.index) {
        return `failed index check for key ${key}, current modify index ${entry.modifyIndex} != ${op.index}`;
      }
      results.push({ entry, withValue: false });
      return undefined;
    }
    case 'check-not-exists':
      return tx.get(op.key) === undefined ? undefined : `key ${key} exists`;
    case 'delete':
      tx.delete(op.key);
      return undefined;
    case 'delete-tree':
      tx.deleteTree(op.key);
      return undefined;
    case 'delete-cas':
      return tx.deleteCas(op.key, op.index) ? undefined : `failed to delete key ${key}, index is stale`;
    default:
      return `unknown KV verb ${goQuote(op.verb)}`;
  }
}

function emptyEntry(key: string): KvEntry {
  return { key, value: null, flags: 0n, lockIndex: 0, session: undefined, createIndex: 0, modifyIndex: 0 };
}
