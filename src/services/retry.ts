/**
 * Retry timing of the registration: full-jitter exponential delays, a slow fixed delay for failures that
 * retrying will not fix soon, and an abortable wait that leaves no timer or listener behind.
 * @module
 */
import {
  AclDeniedError,
  type ConsulError,
  RateLimitedError,
  ServerError,
  ServiceConflictError,
  TimeoutError,
  TransportError,
} from '../errors.js';

/** Beyond this many doublings every ceiling is the maximum anyway. */
const MAX_DOUBLINGS = 52;

/**
 * Consecutive failures turned into delays: after the n-th (from 0), uniform in [0, min(maxMs, minMs × 2ⁿ))
 * ("full jitter", so a fleet that failed together does not retry together).
 */
export class RetryDelays {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(minMs: number, maxMs: number, random: () => number) {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
    this.#random = random;
  }

  /** The delay before retrying `error`: full jitter for transient failures, `maxMs` for the others. */
  next(error: ConsulError, ceilingMs = this.#maxMs): number {
    const maxMs = Math.min(this.#maxMs, ceilingMs);
    if (!isTransient(error)) {
      this.#attempt++;
      return maxMs;
    }
    const ceiling = Math.min(maxMs, this.#minMs * 2 ** Math.min(this.#attempt, MAX_DOUBLINGS));
    this.#attempt++;
    return Math.floor(this.#random() * ceiling);
  }

  /** Forgets the failures: call after every success. */
  reset(): void {
    this.#attempt = 0;
  }
}

/**
 * Whether retrying soon may work: the agent unreachable or slow, 5xx, 429, a malformed answer. A 403 or an ID
 * held by another instance are retried too, but only every `maxMs` (never a tight loop).
 */
export function isTransient(error: ConsulError): boolean {
  if (error instanceof AclDeniedError || error instanceof ServiceConflictError) return false;
  return (
    error instanceof TransportError ||
    error instanceof TimeoutError ||
    error instanceof ServerError ||
    error instanceof RateLimitedError ||
    error.retryable
  );
}

/** Resolves after `ms`, or at once when `signal` aborts (true when the full time passed). */
export function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
