/**
 * Snapshot of one query's entries and the per-key diff of each answer against it (consul-semantics §4: "treat every return
 * as maybe changed and diff by ModifyIndex/Value/Flags before emitting events").
 *
 * Cost per answer: when the list parser tells which run of entries its bytes replaced (consul-semantics
 * §2.3), only that run is diffed: every other entry is the same object as before. Otherwise each entry is
 * matched against the one at the same place in the last answer (Consul lists keys sorted, consul-semantics
 * §2), which compares the key text without hashing it; the first entry found elsewhere builds a key → place
 * Map once. Values are compared (as base64 text, never decoded) only for keys whose ModifyIndex moved, or
 * whose entry is a new object. The snapshot is the answer's own array, so it costs no memory per key.
 * @module
 */

/** The fields of a KV entry the diff reads; `KVEntry` from src/consul/kv.ts has them. */
export interface DiffableEntry {
  readonly key: string;
  readonly modifyIndex: number;
  readonly flags: number;
  /** The value as Consul sent it (base64, null for an empty value). Read only when the ModifyIndex moved. */
  readonly rawValue: string | null;
}

/** One key that differs between two answers. */
export interface RawChange<E extends DiffableEntry> {
  readonly key: string;
  readonly type: 'added' | 'updated' | 'deleted';
  /** The entry now; undefined when deleted. */
  readonly entry: E | undefined;
  /** The entry before; undefined when added. */
  readonly previous: E | undefined;
}

/** True when two versions of a key carry the same bytes and flags, whatever their ModifyIndex. */
export function sameContent(a: DiffableEntry, b: DiffableEntry): boolean {
  // Padded base64 is canonical, so equal bytes have equal text: no need to decode either side.
  return a.flags === b.flags && a.rawValue === b.rawValue;
}

/**
 * How an answer differs from the one before it, as the list parser found it from the bytes: the entries
 * `[from, from + removed)` of `base` were replaced by `[from, from + added)` of the new answer, and every
 * other entry is the same object at the same place (consul-semantics §2.3).
 */
export interface AnswerRun<E> {
  readonly base: readonly E[];
  readonly from: number;
  readonly removed: number;
  readonly added: number;
}

/**
 * The last answer of one query, as the array of its entries (shared with the list parser, never copied for
 * an answer that lists every key once). {@link Snapshot.apply} diffs an answer against it.
 */
export class Snapshot<E extends DiffableEntry> {
  #entries: readonly E[] = [];
  /** Keys strictly increasing (JavaScript order): lookups bisect, and a run can be checked for duplicates. */
  #sorted = true;

  /** Number of keys held. */
  get size(): number {
    return this.#entries.length;
  }

  /** The entry held for `key`, if any. */
  get(key: string): E | undefined {
    const entries = this.#entries;
    if (!this.#sorted) return entries.find((entry) => entry.key === key);
    const at = lowerBound(entries, key);
    return entries[at]?.key === key ? entries[at] : undefined;
  }

  /** Every entry held, in answer order. */
  entries(): IterableIterator<E> {
    return this.#entries.values();
  }

  /**
   * Makes the snapshot equal to `entries` (the whole answer: every key of the query) and returns what
   * changed, in answer order, deletions last.
   *
   * - same ModifyIndex → unchanged; the value is compared only when the entry is another object (a full
   *   parse), and a different value with the same ModifyIndex is not announced and not taken, unless
   *   `verifyValues` (the watcher sets it for full reads, index resets and wait timeouts): a restarted or
   *   rebuilt cluster can hand out the same ModifyIndex again for other bytes (consul-semantics §3);
   * - new ModifyIndex but identical Value and Flags (a delete + re-create of the same value, a session
   *   change, consul-semantics §4) → not a change; the snapshot takes the new ModifyIndex silently;
   * - a key no longer present → `deleted`, including the whole prefix becoming empty (404 → `[]`);
   * - a key listed twice → the first is kept.
   * @param run - what the list parser saw change; used only when it is relative to the answer held
   */
  apply(entries: readonly E[], verifyValues = false, run?: AnswerRun<E>): RawChange<E>[] {
    if (run !== undefined && run.base === this.#entries && this.#sorted && !verifyValues) {
      const changes = this.#applyRun(entries, run);
      if (changes !== undefined) return changes;
    }
    return this.#applyAll(entries, verifyValues);
  }

  /** Diffs only the replaced run; undefined when the answer needs the full walk. */
  #applyRun(entries: readonly E[], run: AnswerRun<E>): RawChange<E>[] | undefined {
    const old = this.#entries;
    const { from, removed, added } = run;
    if (entries.length !== old.length - removed + added) return undefined;
    // Still strictly sorted with the run in place: then no key of the run appears outside it.
    const before = from > 0 ? entries[from - 1]!.key : undefined;
    const after = from + added < entries.length ? entries[from + added]!.key : undefined;
    let last = before;
    for (let i = from; i < from + added; i++) {
      const key = entries[i]!.key;
      if (last !== undefined && !(last < key)) return undefined;
      last = key;
    }
    if (last !== undefined && after !== undefined && !(last < after)) return undefined;
    const gone = new Map<string, E>();
    for (let i = from; i < from + removed; i++) gone.set(old[i]!.key, old[i]!);
    const changes: RawChange<E>[] = [];
    for (let i = from; i < from + added; i++) {
      const entry = entries[i]!;
      const previous = gone.get(entry.key);
      if (previous === undefined) {
        changes.push({ key: entry.key, type: 'added', entry, previous: undefined });
        continue;
      }
      gone.delete(entry.key);
      if (previous === entry || sameContent(previous, entry)) continue;
      // Other bytes under the same ModifyIndex: the full walk keeps the old entry (see apply).
      if (previous.modifyIndex === entry.modifyIndex) return undefined;
      changes.push({ key: entry.key, type: 'updated', entry, previous });
    }
    for (const [key, previous] of gone) changes.push({ key, type: 'deleted', entry: undefined, previous });
    this.#entries = entries;
    return changes;
  }

  #applyAll(entries: readonly E[], verifyValues: boolean): RawChange<E>[] {
    const old = this.#entries;
    // Until an entry is looked up elsewhere, the entries matched are exactly old[0, expected), so the marks
    // are made only then (most answers never need them).
    let matched: Uint8Array | undefined;
    let matchedCount = 0;
    /** Built on the first entry not where the last answer had it (consul-semantics §2 order is a hint). */
    let positions: Map<string, number> | undefined;
    let addedKeys: Set<string> | undefined;
    const kept: E[] = [];
    // True while `kept` equals `entries` element by element: then `entries` itself is held.
    let same = true;
    const changes: RawChange<E>[] = [];
    let expected = 0;
    for (const entry of entries) {
      const key = entry.key;
      let at = expected < old.length && old[expected]!.key === key ? expected : -1;
      if (at < 0 && old.length > 0) {
        positions ??= new Map(old.map((e, i) => [e.key, i]));
        if (matched === undefined) {
          matched = new Uint8Array(old.length);
          matched.fill(1, 0, expected);
        }
        at = positions.get(key) ?? -1;
      }
      if (at < 0) {
        addedKeys ??= new Set();
        if (addedKeys.has(key)) {
          same = false;
          continue;
        }
        addedKeys.add(key);
        kept.push(entry);
        changes.push({ key, type: 'added', entry, previous: undefined });
        continue;
      }
      if (matched !== undefined) {
        if (matched[at] === 1) {
          same = false; // a key listed twice: keep the first
          continue;
        }
        matched[at] = 1;
      }
      matchedCount++;
      expected = at + 1;
      const previous = old[at]!;
      if (previous === entry) {
        kept.push(entry);
        continue;
      }
      if (previous.modifyIndex === entry.modifyIndex && !verifyValues) {
        // Unchanged; the new object is held, so the next answer's reused entries are this array's own.
        if (sameContent(previous, entry)) kept.push(entry);
        else {
          kept.push(previous);
          same = false;
        }
        continue;
      }
      kept.push(entry);
      if (!sameContent(previous, entry)) changes.push({ key, type: 'updated', entry, previous });
    }
    if (matchedCount < old.length) {
      for (let i = matched === undefined ? expected : 0; i < old.length; i++) {
        const previous = old[i]!;
        if (matched === undefined || matched[i] === 0)
          changes.push({ key: previous.key, type: 'deleted', entry: undefined, previous });
      }
    }
    const held = same ? entries : kept;
    this.#entries = held;
    this.#sorted = isStrictlySorted(held);
    return changes;
  }
}

function isStrictlySorted(entries: readonly DiffableEntry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (!(entries[i - 1]!.key < entries[i]!.key)) return false;
  return true;
}

/** First position whose key is not below `key`, in entries sorted by key. */
function lowerBound(entries: readonly DiffableEntry[], key: string): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (entries[mid]!.key < key) low = mid + 1;
    else high = mid;
  }
  return low;
}
