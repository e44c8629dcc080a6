/**
 * The one rule for the index a blocking loop sends next (consul-semantics §4.7 "Documented client rules", consul-semantics §8.1).
 * Kept apart from the loop so the rule is stated, and tested, in one place.
 * @module
 */

/** What {@link nextIndex} decided. */
export interface IndexStep {
  /** The index to send with the next request; 0 means a non-blocking full read. */
  readonly next: number;
  /** True when Consul's index went backwards and the loop starts over from 0. */
  readonly reset: boolean;
}

/**
 * An `X-Consul-Index` as the watcher uses it: a missing, zero, negative or unparseable index is 1 (consul-semantics §4:
 * "sanity-check the index is ≥ 1 (treat 0 as 1)"). Consul itself never sends 0 (consul-semantics §1).
 */
export function sanitizeIndex(received: number): number {
  return Number.isFinite(received) && received >= 1 ? Math.floor(received) : 1;
}

/**
 * Returns the index for the next request, given the index the last request sent and the `X-Consul-Index`
 * the answer carried.
 *
 * - A missing, zero, negative or unparseable index counts as 1. Consul never sends 0 (consul-semantics §1), and treating it
 *   as 1 keeps a buggy proxy from turning the loop into a busy loop of non-blocking reads (consul-semantics §4).
 * - An index lower than the one sent means the data view went backwards: tombstones reaped ~15 min after a
 *   delete, a snapshot restore, a rebuilt cluster (consul-semantics §3). The next request is a full read from 0 (consul-semantics §4).
 * - Otherwise the received index is sent as is. An equal index is normal: the wait timed out (consul-semantics §4).
 *
 * @param sent - the index the last request sent (0 for a non-blocking read)
 * @param received - `X-Consul-Index` of its answer as parsed; 0 when missing
 */
export function nextIndex(sent: number, received: number): IndexStep {
  const index = sanitizeIndex(received);
  // consul-semantics §3/consul-semantics §4: the index went backwards, so it no longer orders anything: start over with a full read.
  if (index < sent) return { next: 0, reset: true };
  return { next: index, reset: false };
}
