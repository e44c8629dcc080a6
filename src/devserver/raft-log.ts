/**
 * The dev server's one Raft log: KV, catalog and session writes take the next index of it, as they take the
 * next index of one Raft log in Consul (consul-semantics §S9.1); each table keeps its own table index.
 * @module
 */

/** The index counter every write shares. */
export class RaftLog {
  // consul-semantics §3.7: index 1 is the cluster's first internal write, so the first user write gets 2.
  #last = 1;

  /** The index of the last write. */
  get last(): number {
    return this.#last;
  }

  /** The index the next write will take. */
  get next(): number {
    return this.#last + 1;
  }

  /** Records that a write took `index` (what {@link RaftLog.next} gave, in this same turn). */
  commit(index: number): void {
    if (index > this.#last) this.#last = index;
  }
}
