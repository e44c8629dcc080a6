/**
 * The one retry timing of the library (the engine's blocking loops, the service registration): exponential
 * with full jitter, capped, reset on success (consul-semantics §8.1, §7.3: "back off with jitter on errors,
 * 429 and 503"). Consul's own api/watch waits 5 s × failures² with no jitter, so many watchers that failed
 * together retry together; full jitter spreads them out.
 * @module
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /**
   * Ceiling of the first delay, in ms; the ceiling doubles with each consecutive failure.
   * @default 250
   */
  minMs: number;
  /**
   * Largest ceiling, in ms. Errors that retrying will not fix soon (403, unknown datacenter, 400) always wait
   * exactly this long.
   * @default 30_000
   */
  maxMs: number;
  /**
   * Source of randomness in [0, 1), replaceable so tests get exact delays.
   * @default Math.random
   */
  random?: () => number;
}

/** Beyond this many doublings every ceiling is `maxMs` anyway; stops `2 ** attempt` from growing forever. */
const MAX_DOUBLINGS = 52;

/**
 * Counts consecutive failures and turns them into delays.
 *
 * "Full jitter": the delay after the n-th consecutive failure (n from 0) is uniform in
 * [0, min(maxMs, minMs × 2ⁿ)). A loop also spaces request starts by its minimum interval, so a delay near
 * 0 never makes a tight loop.
 */
export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#minMs = options.minMs;
    this.#maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** Consecutive failures since the last {@link Backoff.reset}. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * Delay in ms before retrying after a retryable failure (network, timeout, 429, 5xx, malformed body).
   * `capMs` lowers `maxMs` for this delay only (a registration must beat again before its TTL runs out).
   */
  next(capMs = Number.POSITIVE_INFINITY): number {
    const maxMs = Math.min(this.#maxMs, capMs);
    const ceiling = Math.min(maxMs, this.#minMs * 2 ** Math.min(this.#attempt, MAX_DOUBLINGS));
    this.#attempt++;
    return Math.floor(this.#random() * ceiling);
  }

  /**
   * Delay in ms after a failure that retrying will not fix soon (403, unknown datacenter, 400): always
   * `maxMs` (or `capMs` when lower), so a misconfigured watch polls slowly and never tightly.
   */
  slow(capMs = Number.POSITIVE_INFINITY): number {
    this.#attempt++;
    return Math.min(this.#maxMs, capMs);
  }

  /** Forgets the failures: call on every successful answer. */
  reset(): void {
    this.#attempt = 0;
  }
}
