/**
 * The one abort race of the library: settle with a promise, or reject as soon as a signal aborts, removing
 * the abort listener on both paths.
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
