/**
 * The one blocking loop: fetch with the last index, rate-limit, back off on errors, track staleness.
 *
 * It is handed a fetch function `(index, signal) → result with an index`, as Consul's api/watch hands its plan
 * a watch function, and knows nothing of KV, decoding or events: tests drive it with no HTTP at all.
 * @module
 */
import { Backoff } from '../backoff.js';
import { type IndexStep, nextIndex } from './index-rules.js';
import { RequestPacer } from './rate-limit.js';
import type { LoopState } from './types.js';

/** The part of an answer the loop reads: Consul's `X-Consul-Index` (0 when missing). */
export interface LoopAnswer {
  /** `X-Consul-Index` as received; 0 when missing or unparseable. */
  readonly index: number;
}

/**
 * Runs one request. `index` 0 means a non-blocking read; above 0 a blocking query that returns once Consul's
 * index passes it or the wait ends (consul-semantics §4). Must reject promptly when `signal` aborts.
 */
export type FetchFn<R extends LoopAnswer> = (index: number, signal: AbortSignal) => Promise<R>;

/** How the loop reacts to a failed request, passed to {@link BlockingLoopOptions.onError}. */
export interface RetryInfo {
  /** How long the loop waits before the next request, in ms. */
  readonly delayMs: number;
  /** Consecutive failures, this one included. */
  readonly attempt: number;
  /** Whether the error counted as retryable (jittered backoff) rather than slow (the backoff maximum). */
  readonly retryable: boolean;
}

/** What the loop did with an answer's index, passed to {@link BlockingLoopOptions.onResult}. */
export interface AnswerInfo {
  /** The index the request sent (0 for a non-blocking read). */
  readonly sentIndex: number;
  /** The index the next request sends, and whether Consul's index went backwards. */
  readonly step: IndexStep;
}

/** Options of {@link BlockingLoop}. Times are in ms. */
export interface BlockingLoopOptions<R extends LoopAnswer> {
  /** Runs one request; see {@link FetchFn}. */
  fetch: FetchFn<R>;
  /** Called with every successful answer, in order, before the next request starts. */
  onResult: (result: R, info: AnswerInfo) => void;
  /** Called with every failed request except those cut short by {@link BlockingLoop.close}. */
  onError: (error: unknown, info: RetryInfo) => void;
  /** Called on every change of {@link BlockingLoop.state}, after the state changed. */
  onState?: ((state: LoopState, previous: LoopState) => void) | undefined;
  /** Called when one of the callbacks above throws; the loop carries on. */
  onCallbackError?: ((error: unknown) => void) | undefined;
  /**
   * Least time between the starts of two successive requests while answers block normally (consul-semantics §4: rate-limit
   * the loop). Under churn the spacing grows from it up to `churnIntervalMs`; see {@link RequestPacer}.
   * `0` disables all rate limiting.
   * @default 100 (resolved by the Watcher)
   */
  minIntervalMs: number;
  /**
   * Ceiling of the spacing between request starts when answers keep coming back at once (consul-semantics §4: "polling about
   * every 15 s under churn"). `0` disables the growth: `minIntervalMs` alone spaces requests.
   */
  churnIntervalMs: number;
  /** Backoff bounds; see {@link Backoff}. */
  backoff: { minMs: number; maxMs: number };
  /**
   * How long requests may keep failing, counted from the first failure after the last success, before the
   * state turns `stale`. A blocking request that is simply waiting is healthy.
   */
  staleAfterMs: number;
  /**
   * Randomness in [0, 1) for the backoff jitter.
   * @default Math.random
   */
  random?: (() => number) | undefined;
  /**
   * Clock in ms, for the spacing of requests and for timing how long each answer was held.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

/** Counters of a loop, read by `Watcher.stats()`. */
export interface LoopStats {
  /** Requests started. */
  requests: number;
  /** Requests that failed (closing aborts not counted). */
  errors: number;
  /** Answers whose index went backwards, so the loop started over from 0 (consul-semantics §3). */
  indexResets: number;
  /** `Date.now()` of the last successful answer; undefined before the first. */
  lastSuccessAt: number | undefined;
  /** Current health. */
  state: LoopState;
}

function readRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

/**
 * One blocking loop over a fetch function.
 *
 * Rules (each tested in test/unit/watch/loop.test.ts):
 * - the next index comes only from the answer, through {@link nextIndex} (0/missing → 1, backwards → 0);
 * - successive request starts are at least `minIntervalMs` apart; after more than 2 answers in a row that
 *   came back in under 1 s (they did not block), the spacing doubles with each further one, up to
 *   `churnIntervalMs`; an answer held 1 s or more restores `minIntervalMs` ({@link RequestPacer}, consul-semantics §4);
 * - a failure waits a jittered, growing delay (or the maximum for slow errors); a success resets it;
 * - after a failure the next request is a full read (index 0). Like Consul's api/watch, and unlike keeping
 *   the index: the first answer after an outage comes at once, so recovery (`stale` → `ready`) is seen at
 *   once rather than after a whole blocking wait, and a rebuilt cluster with a lower index cannot hold the
 *   request for a whole wait (consul-semantics §3). The caller diffs by ModifyIndex, so the re-read emits only real changes;
 * - {@link BlockingLoop.close} aborts the request in flight and clears every timer at once.
 */
export class BlockingLoop<R extends LoopAnswer> {
  readonly #options: BlockingLoopOptions<R>;
  readonly #backoff: Backoff;
  readonly #controller = new AbortController();
  readonly #now: () => number;
  readonly #pacer: RequestPacer;
  #state: LoopState = 'connecting';
  #requests = 0;
  #errors = 0;
  #indexResets = 0;
  #index = 0;
  #lastSuccessAt: number | undefined;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeSleeper: (() => void) | undefined;
  #staleTimer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  /** A fetch is in flight: close() then resolves at once rather than waiting for it to settle. */
  #fetching = false;
  #closing: Promise<void> | undefined;

  constructor(options: BlockingLoopOptions<R>) {
    this.#options = options;
    this.#backoff = new Backoff({ ...options.backoff, random: options.random });
    this.#now = options.now ?? (() => Date.now());
    this.#pacer = new RequestPacer({
      minIntervalMs: options.minIntervalMs,
      churnIntervalMs: options.churnIntervalMs,
    });
  }

  /** Current health; see {@link LoopState}. */
  get state(): LoopState {
    return this.#state;
  }

  /** A copy of the counters. */
  get stats(): LoopStats {
    return {
      requests: this.#requests,
      errors: this.#errors,
      indexResets: this.#indexResets,
      lastSuccessAt: this.#lastSuccessAt,
      state: this.#state,
    };
  }

  /** Starts the loop; a second call does nothing. */
  start(): void {
    if (this.#running !== undefined || this.#state === 'closed') return;
    this.#running = this.#run();
  }

  /**
   * Stops the loop: aborts the request in flight, clears every timer. Idempotent: every call returns the
   * same promise, which resolves once the loop has ended; with a request in flight, at once: the loop makes
   * no callback after close (it checks `closed` when the fetch settles), and a fetch that ignores its
   * signal cannot hold close() up.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#setState('closed');
    this.#controller.abort();
    this.#clearStaleTimer();
    this.#wake();
    this.#closing = this.#running === undefined || this.#fetching ? Promise.resolve() : this.#running;
    return this.#closing;
  }

  async #run(): Promise<void> {
    let lastStart = Number.NEGATIVE_INFINITY;
    while (!this.#closed) {
      // After a failure too: its backoff and this spacing overlap, so the longer one wins.
      const untilNextStart = lastStart + this.#pacer.spacingMs - this.#now();
      if (untilNextStart > 0) await this.#sleep(untilNextStart);
      if (this.#closed) break;
      lastStart = this.#now();
      this.#requests++;
      const sentIndex = this.#index;
      let result: R;
      // The fetch is awaited directly (one promise hop to the answer); close() does not wait for it.
      this.#fetching = true;
      try {
        result = await this.#options.fetch(sentIndex, this.#controller.signal);
      } catch (error) {
        this.#fetching = false;
        if (this.#closed) break;
        await this.#failed(error);
        continue;
      }
      this.#fetching = false;
      if (this.#closed) break;
      const now = this.#now();
      this.#pacer.answered(sentIndex, now - lastStart);
      this.#succeeded(result, sentIndex, now);
    }
  }

  /** @param now - when the answer came, by the loop's clock */
  #succeeded(result: R, sentIndex: number, now: number): void {
    this.#backoff.reset();
    this.#clearStaleTimer();
    this.#lastSuccessAt = now;
    const step = nextIndex(sentIndex, result.index);
    if (step.reset) this.#indexResets++;
    this.#index = step.next;
    if (this.#state !== 'ready') this.#setState('ready');
    // The guard written out: no closure per answer on the path to the event.
    try {
      this.#options.onResult(result, { sentIndex, step });
    } catch (error) {
      this.#options.onCallbackError?.(error);
    }
  }

  async #failed(error: unknown): Promise<void> {
    this.#errors++;
    const retryable = readRetryable(error);
    const delayMs = retryable ? this.#backoff.next() : this.#backoff.slow();
    // Decision (documented on the class): the first request after a failure is a full read.
    this.#index = 0;
    if (this.#state === 'ready' && this.#staleTimer === undefined) {
      this.#staleTimer = setTimeout(() => {
        this.#staleTimer = undefined;
        this.#setState('stale');
      }, this.#options.staleAfterMs);
    }
    this.#guard(() => this.#options.onError(error, { delayMs, attempt: this.#backoff.attempt, retryable }));
    await this.#sleep(delayMs);
  }

  get #closed(): boolean {
    return this.#state === 'closed';
  }

  #setState(state: LoopState): void {
    const previous = this.#state;
    if (previous === state || previous === 'closed') return;
    this.#state = state;
    const { onState } = this.#options;
    if (onState !== undefined) this.#guard(() => onState(state, previous));
  }

  #guard(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#options.onCallbackError?.(error);
    }
  }

  /** Waits `ms`, or less if the loop closes meanwhile; leaves no timer behind either way. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wakeSleeper = resolve;
      this.#sleepTimer = setTimeout(() => this.#wake(), ms);
    });
  }

  #wake(): void {
    if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
    this.#sleepTimer = undefined;
    const wake = this.#wakeSleeper;
    this.#wakeSleeper = undefined;
    wake?.();
  }

  #clearStaleTimer(): void {
    if (this.#staleTimer !== undefined) clearTimeout(this.#staleTimer);
    this.#staleTimer = undefined;
  }
}
