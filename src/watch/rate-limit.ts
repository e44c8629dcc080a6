/**
 * How far apart a blocking loop starts its requests (consul-semantics §4 "Documented client rules": rate-limit the loop, not
 * with a fixed sleep but like a token bucket of burst 2 that degrades to polling about every 15 s under churn;
 * consul-semantics §8.1).
 *
 * The loop sees only indexes and times, so the rule is stated on those: an answer that came back less than
 * {@link QUICK_ANSWER_MS} after its request started did not block. A missing or zero `X-Consul-Index`
 * (sanitized to 1, consul-semantics §4), a proxy stripping it, spurious wake-ups, an empty-prefix query on a busy cluster
 * (its index is the whole KV's, consul-semantics §3) and changes in quick succession all look like that.
 * @module
 */

/**
 * An answer that comes back sooner than this, in ms, after its request started did not block. Far above a
 * round trip to an agent, far below any sensible `wait` (seconds to minutes, consul-semantics §4).
 */
export const QUICK_ANSWER_MS = 1_000;

/** Quick answers in a row that still get the minimum interval (consul-semantics §4: "burst 2"). */
export const CHURN_BURST = 2;

/** Beyond this many doublings the spacing is at its ceiling anyway; keeps `2 ** n` finite. */
const MAX_DOUBLINGS = 52;

/** Options of {@link RequestPacer}. Times are in ms. */
export interface RequestPacerOptions {
  /**
   * Spacing of request starts while answers block normally, and the first step of the growth under churn.
   * `0` disables all spacing: the growth doubles it, so it stays 0.
   */
  minIntervalMs: number;
  /**
   * Ceiling of the spacing under churn: one request every this many ms (consul-semantics §4: "about every 15 s"). `0`, or
   * anything at or below `minIntervalMs`, disables the growth: `minIntervalMs` alone spaces requests.
   */
  churnIntervalMs: number;
  /**
   * Quick answers in a row that still get `minIntervalMs`.
   * @default {@link CHURN_BURST} (2)
   */
  burst?: number | undefined;
  /**
   * An answer held for less than this long did not block.
   * @default {@link QUICK_ANSWER_MS} (1_000)
   */
  quickAnswerMs?: number | undefined;
}

/**
 * Spacing of one loop's request starts.
 *
 * Rule, with q the number of quick answers in a row (held less than `quickAnswerMs`):
 * - spacing = `minIntervalMs` while q ≤ `burst`; then `minIntervalMs × 2^(q − burst)`, capped at
 *   `churnIntervalMs`. With the defaults (100 ms, burst 2, 15 s) a loop whose answers all come back at once
 *   starts requests 100, 100, 100, 200, 400 … 12 800 ms apart, then every 15 s: 7 requests in its first 2 s,
 *   then 4 a minute, instead of 10 a second;
 * - an answer held at least `quickAnswerMs` sets q back to 0: full speed at once, so a blocking query that
 *   waited and then brought a change is never delayed beyond `minIntervalMs`;
 * - answers to full reads (index 0) leave q alone: Consul never holds them (consul-semantics §4), so their speed says nothing;
 * - failures leave q alone too: they have their own backoff, and an outage must not reset the churn count.
 *
 * Like a token bucket of capacity `burst` (consul-semantics §4), but refilled by an answer that blocked rather than by time,
 * and degrading in steps rather than at once, so a short run of real changes costs at most a few hundred ms.
 */
export class RequestPacer {
  readonly #minIntervalMs: number;
  readonly #ceilingMs: number;
  readonly #burst: number;
  readonly #quickAnswerMs: number;
  #quickRun = 0;

  constructor(options: RequestPacerOptions) {
    this.#minIntervalMs = options.minIntervalMs;
    this.#ceilingMs = Math.max(options.minIntervalMs, options.churnIntervalMs);
    this.#burst = options.burst ?? CHURN_BURST;
    this.#quickAnswerMs = options.quickAnswerMs ?? QUICK_ANSWER_MS;
  }

  /** Quick answers in a row so far (full reads and failures not counted). */
  get quickRun(): number {
    return this.#quickRun;
  }

  /** Least time, in ms, from the start of the last request to the start of the next. */
  get spacingMs(): number {
    const doublings = Math.min(Math.max(0, this.#quickRun - this.#burst), MAX_DOUBLINGS);
    return Math.min(this.#ceilingMs, this.#minIntervalMs * 2 ** doublings);
  }

  /**
   * Records a successful answer.
   * @param sentIndex - the index its request sent (0 for a full read)
   * @param heldMs - how long after its request started it came back
   */
  answered(sentIndex: number, heldMs: number): void {
    // consul-semantics §4: a full read is answered at once by design, so it neither proves nor disproves churn.
    if (sentIndex === 0) return;
    this.#quickRun = heldMs < this.#quickAnswerMs ? this.#quickRun + 1 : 0;
  }
}
