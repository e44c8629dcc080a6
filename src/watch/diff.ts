/**
 * Snapshot of one query's entries and the per-key diff of each answer against it (§4: "treat every return
 * as maybe changed and diff by ModifyIndex/Value/Flags before emitting events").
 *
 * Cost per answer: one Map lookup and one number comparison per entry. Values are compared (as base64 text,
 * never decoded) only for keys whose ModifyIndex moved. No Set of all keys is built: deletions are found only
 * when fewer known keys came back than the snapshot holds.
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

interface Slot<E> {
  entry: E;
  /** The {@link Snapshot.apply} generation that last saw this key. */
  seen: number;
}

/**
 * The last answer of one query, by key. {@link Snapshot.apply} diffs an answer against it and updates it
 * in place.
 */
export class Snapshot<E extends DiffableEntry> {
  readonly #slots = new Map<string, Slot<E>>();
  #generation = 0;

  /** Number of keys held. */
  get size(): number {
    return this.#slots.size;
  }

  /** The entry held for `key`, if any. */
  get(key: string): E | undefined {
    return this.#slots.get(key)?.entry;
  }

  /** Every entry held, in insertion order. */
  *entries(): IterableIterator<E> {
    for (const slot of this.#slots.values()) yield slot.entry;
  }

  /**
   * Makes the snapshot equal to `entries` (the whole answer: every key of the query) and returns what
   * changed, in answer order, deletions last.
   *
   * - same ModifyIndex → unchanged, and the value is not looked at, unless `verifyValues` (the watcher sets
   *   it for full reads, index resets and wait timeouts): a restarted or rebuilt cluster can hand out the
   *   same ModifyIndex again for other bytes (§3). Those answers are rare, so the hot path after a real
   *   change stays one number comparison per key;
   * - new ModifyIndex but identical Value and Flags (a delete + re-create of the same value, a session
   *   change, §4) → not a change; the snapshot takes the new ModifyIndex silently;
   * - a key no longer present → `deleted`, including the whole prefix becoming empty (404 → `[]`).
   */
  apply(entries: Iterable<E>, verifyValues = false): RawChange<E>[] {
    const generation = ++this.#generation;
    const slots = this.#slots;
    const knownBefore = slots.size;
    const changes: RawChange<E>[] = [];
    let matched = 0;
    for (const entry of entries) {
      const slot = slots.get(entry.key);
      if (slot === undefined) {
        slots.set(entry.key, { entry, seen: generation });
        changes.push({ key: entry.key, type: 'added', entry, previous: undefined });
        continue;
      }
      if (slot.seen === generation) continue; // a key listed twice: keep the first
      slot.seen = generation;
      matched++;
      const previous = slot.entry;
      if (previous.modifyIndex === entry.modifyIndex && (!verifyValues || sameContent(previous, entry)))
        continue;
      slot.entry = entry;
      if (!sameContent(previous, entry)) {
        changes.push({ key: entry.key, type: 'updated', entry, previous });
      }
    }
    if (matched < knownBefore) {
      for (const [key, slot] of slots) {
        if (slot.seen === generation) continue;
        slots.delete(key);
        changes.push({ key, type: 'deleted', entry: undefined, previous: slot.entry });
      }
    }
    return changes;
  }
}
