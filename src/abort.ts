/**
 * The one abort race of the library: settle with a promise, or reject as soon as a signal aborts, removing
 * the abort listener on both paths; and the one abortable wait built the same way.
 * @module
 */

/**
 * Settles with `promise`, or rejects with `reasonOf(signal.reason)` (the reason itself by default) as soon
 * as `signal` aborts. The listener is removed on both paths: racing many promises against one long-lived
 * promise instead would add a reaction per race to it and keep every result alive until it settles.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  reasonOf: (reason: unknown) => unknown = (reason) => reason,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(reasonOf(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The timers {@link wait} runs on: the global ones, or an injected clock's. */
export interface WaitTimers {
  /** Calls `callback` after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(handle: unknown): void;
}

const GLOBAL_TIMERS: WaitTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Resolves after `ms`, or at once when `signal` aborts (true when the full time passed). Clears its timer
 * and removes its listener on both paths.
 */
export function wait(ms: number, signal: AbortSignal, timers: WaitTimers = GLOBAL_TIMERS): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timers.clearTimeout(timer);
      resolve(false);
    };
    const timer = timers.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
