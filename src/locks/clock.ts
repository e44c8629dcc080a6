/**
 * The clock and timers locks run on (session renewals, retries, lock-delay waits), injectable so a test
 * drives them without waiting, and the one abortable sleep on it.
 * @module
 */
import { wait } from '../abort.js';

/**
 * A clock with timers, in ms. Same shape as the dev server's clock, so one manual clock can drive both.
 */
export interface LockClock {
  /** Current time in ms. */
  now(): number;
  /** Calls `callback` after `ms`; returns a handle for {@link LockClock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: unknown): void;
}

/** `Date.now` and the global timers. */
export const SYSTEM_CLOCK: LockClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Resolves after `ms` on `clock`, or rejects with `signal.reason` as soon as `signal` aborts (the shared
 * {@link wait}, which clears its timer and removes its listener on both paths).
 */
export async function sleep(clock: LockClock, ms: number, signal: AbortSignal): Promise<void> {
  if (!(await wait(ms, signal, clock))) throw signal.reason;
}
