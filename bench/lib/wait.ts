/**
 * Waiting helpers for the bench: poll a condition without holding the event loop, and a one-shot
 * "next occurrence" latch with a timeout, so a lost event fails the bench instead of hanging it.
 * @module
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Options of {@link waitUntil}. */
export interface WaitOptions {
  /** Give up (and throw, naming `what`) after this many ms. @default 10_000 */
  timeoutMs?: number;
  /** Poll interval in ms; `0` polls on every event-loop turn (setImmediate). @default 0 */
  intervalMs?: number;
  /** What is awaited, for the error message. */
  what: string;
}

/** Resolves once `condition()` is true (sync or async); throws after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 0;
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline)
      throw new Error(`bench: timed out after ${timeoutMs} ms: ${options.what}`);
    if (intervalMs === 0) await nextTurn();
    else await sleep(intervalMs);
  }
}

/**
 * A latch for the next occurrence of something: `arm()` returns a promise that `fire()` resolves with the
 * time it fired (performance.now()). Firing with nothing armed is counted, not lost.
 */
export class Latch<T = void> {
  #resolve: ((value: { at: number; value: T }) => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Fires that found nothing armed. */
  unexpected = 0;
  /** Every fire. */
  fired = 0;

  /** Waits for the next `fire()`; rejects after `timeoutMs`, naming `what`. */
  arm(what: string, timeoutMs = 30_000): Promise<{ at: number; value: T }> {
    return new Promise((resolve, reject) => {
      this.#timer = setTimeout(() => {
        this.#resolve = undefined;
        reject(new Error(`bench: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#resolve = resolve;
    });
  }

  /** Resolves the armed promise, if any. */
  fire(value: T): void {
    const at = performance.now();
    this.fired++;
    const resolve = this.#resolve;
    if (resolve === undefined) {
      this.unexpected++;
      return;
    }
    this.#resolve = undefined;
    clearTimeout(this.#timer);
    resolve({ at, value });
  }
}
