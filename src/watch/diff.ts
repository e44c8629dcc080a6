/**
 * Snapshot of one query's entries and the per-key diff of each answer against it (consul-semantics §4: "treat every return
 * as maybe changed and diff by ModifyIndex/Value/Flags before emitting events").
 *
 * Cost per answer: one string comparison and one number comparison per entry. Consul lists keys sorted (consul-semantics §2),
 * so each entry is first matched against the slot at the same place in the previous answer, which compares
 * the key text without hashing it (the keys of a fresh JSON.parse have no hash yet). Only an entry that is not
 * where the previous answer had it (a key added or deleted before it, or an answer out of order) costs a Map
 * lookup, which also resynchronises the walk. Values are compared (as base64 text, never decoded) only for
 * keys whose ModifyIndex moved. No Set of all keys is built: deletions are found only when fewer known keys
 * came back than the snapshot holds.
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
  /** The key as first stored (its hash is already computed by the Map). */
  readonly key: string;
  entry: E;
  /** The {@link Snapshot.apply} generation that last saw this key. */
  seen: number;
  /** Where this slot is in the order of the answer of generation `seen`. */
  position: number;
}

/**
 * The last answer of one query, by key. {@link Snapshot.apply} diffs an answer against it and updates it
 * in place.
 */
export class Snapshot<E extends DiffableEntry> {
  readonly #slots = new Map<string, Slot<E>>();
  /**
   * Every slot of `#slots`, in the order of the last answer (each once). Only a hint for matching the next
   * answer: a slot is used only when its key is the entry's key, so an answer in any order stays correct.
   */
  #order: Slot<E>[] = [];
  /** The array the next answer's order is built in; swapped with `#order` to allocate nothing per answer. */
  #spareOrder: Slot<E>[] = [];
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
   *   same ModifyIndex again for other bytes (consul-semantics §3). Those answers are rare, so the hot path after a real
   *   change stays one number comparison per key;
   * - new ModifyIndex but identical Value and Flags (a delete + re-create of the same value, a session
   *   change, consul-semantics §4) → not a change; the snapshot takes the new ModifyIndex silently;
   * - a key no longer present → `deleted`, including the whole prefix becoming empty (404 → `[]`).
   */
  apply(entries: Iterable<E>, verifyValues = false): RawChange<E>[] {
    const generation = ++this.#generation;
    const slots = this.#slots;
    const knownBefore = slots.size;
    const previousOrder = this.#order;
    const order = this.#spareOrder;
    // Filled by index and cut to length at the end, so a same-sized answer reuses the array's storage.
    let count = 0;
    const changes: RawChange<E>[] = [];
    let matched = 0;
    // Where in the previous answer the next entry is expected.
    let expected = 0;
    for (const entry of entries) {
      const key = entry.key;
      let slot = previousOrder[expected];
      if (slot !== undefined && slot.key === key) {
        expected++;
      } else {
        // Not where the previous answer had it: find it by key (consul-semantics §2 order is a hint, never trusted).
        slot = slots.get(key);
        if (slot === undefined) {
          const added: Slot<E> = { key, entry, seen: generation, position: count };
          slots.set(key, added);
          order[count++] = added;
          changes.push({ key, type: 'added', entry, previous: undefined });
          continue;
        }
        // Resume the walk after it; a slot already seen holds this answer's position, not the last one's.
        if (slot.seen !== generation) expected = slot.position + 1;
      }
      if (slot.seen === generation) continue; // a key listed twice: keep the first
      slot.seen = generation;
      slot.position = count;
      order[count++] = slot;
      matched++;
      const previous = slot.entry;
      if (previous.modifyIndex === entry.modifyIndex && (!verifyValues || sameContent(previous, entry)))
        continue;
      slot.entry = entry;
      if (!sameContent(previous, entry)) {
        changes.push({ key, type: 'updated', entry, previous });
      }
    }
    order.length = count;
    this.#order = order;
    this.#spareOrder = previousOrder;
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
