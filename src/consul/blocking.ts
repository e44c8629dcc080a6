/**
 * Blocking-query timing, in one place: Consul's default and maximum query time, its wait/16 jitter, the
 * `rpc_hold_timeout` and our network margin, and from them the `wait` parameter and the client timeout.
 * @module
 */

/** Consul's `default_query_time`: how long it holds a blocking query sent without `wait` (consul-semantics §4). */
export const DEFAULT_QUERY_TIME_MS = 300_000;
/** Consul's `max_query_time`: a longer `wait` is clamped to it (consul-semantics §4). */
export const MAX_QUERY_TIME_MS = 600_000;
/** The `wait` the watcher sends when none is configured: Consul's own default. */
export const DEFAULT_WAIT_MS = DEFAULT_QUERY_TIME_MS;
/** Consul adds a random stagger in [0, wait/16) after clamping (`JitterFraction`, consul-semantics §4). */
export const JITTER_FRACTION = 16;
/** Consul's `rpc_hold_timeout`: a forwarded RPC may wait this long for a leader on top (consul-semantics §4). */
export const RPC_HOLD_TIMEOUT_MS = 7_000;
/** Ours, not Consul's: time for the answer to cross the network once Consul lets go of it. */
export const NETWORK_MARGIN_MS = 2_000;

/** The wait Consul will apply: `waitMs` clamped to 600 s, or 300 s when 0 or unset (consul-semantics §4). */
export function effectiveWaitMs(waitMs: number | undefined): number {
  return waitMs === undefined || waitMs <= 0 ? DEFAULT_QUERY_TIME_MS : Math.min(waitMs, MAX_QUERY_TIME_MS);
}

/**
 * Client-side timeout of a blocking read (consul-semantics §4): Consul may hold it for the effective wait plus
 * up to wait/16 of jitter, plus up to 7 s of `rpc_hold_timeout`; 2 s more for the network.
 * @param waitMs - the `wait` sent, in ms; 0 or undefined means Consul's default of 300 s
 */
export function blockingTimeoutMs(waitMs: number | undefined): number {
  const effective = effectiveWaitMs(waitMs);
  return effective + effective / JITTER_FRACTION + RPC_HOLD_TIMEOUT_MS + NETWORK_MARGIN_MS;
}

/**
 * The `wait` query value for `waitMs`, or undefined when none is sent (0: Consul's default). Like the Go
 * client, always in ms with a unit, a positive sub-millisecond wait rounded up to `1ms` (consul-semantics §1).
 */
export function waitParam(waitMs: number): string | undefined {
  return waitMs > 0 ? `${Math.max(1, Math.trunc(waitMs))}ms` : undefined;
}
