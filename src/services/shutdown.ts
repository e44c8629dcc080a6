/**
 * Graceful shutdown: close things in order under one timeout (a registration first, then locks, sessions,
 * clients), and opt-in `SIGTERM`/`SIGINT` handling that runs that sequence and then lets the process end
 * the way the signal would have ended it (consul-semantics §S7).
 * @module
 */

import { parseDuration } from '../consul/duration.js';
import { errorText, InvalidArgumentError } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';

/** Anything with an idempotent async `close()`: a ServiceRegistration, a Lock, a LeaderElection, a Watcher, a ConsulClient. */
export interface Closable {
  close(): Promise<void>;
}

/** Options of {@link closeInOrder}. */
export interface CloseInOrderOptions {
  /**
   * Bound of the whole sequence, in ms or a Go duration. When it passes, the closables not reached yet are
   * still told to close, all at once, without waiting for them.
   * @default 15_000
   */
  timeout?: number | string;
  /** Where failures and a timeout are logged. @default no logging */
  logger?: Logger;
}

/** What {@link closeInOrder} did. */
export interface CloseResult {
  /** Whether the timeout cut the sequence short. */
  timedOut: boolean;
  /** What each `close()` threw or rejected with, by position. */
  errors: Array<{ index: number; error: unknown }>;
}

/** Options of {@link handleShutdownSignals}. */
export interface ShutdownSignalOptions extends CloseInOrderOptions {
  /** The signals to handle. @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
}

/** The handle {@link handleShutdownSignals} returns. */
export interface ShutdownHandle {
  /** Runs the sequence now (once; later calls and signals share it), without ending the process. */
  shutdown(): Promise<CloseResult>;
  /** Removes the signal listeners; the sequence is not run. Idempotent. */
  dispose(): void;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Closes `closables` one after the other, in the order given, under one timeout; a failure is recorded and
 * the next one still closed. Never rejects.
 *
 * Order matters: the registration first (heartbeats stop, maintenance on, drain, deregister), then locks
 * and leader elections (release the key, destroy the session), then clients.
 */
export async function closeInOrder(
  closables: readonly Closable[],
  options: CloseInOrderOptions = {},
): Promise<CloseResult> {
  const timeoutMs = resolveTimeout(options.timeout, 'closeInOrder');
  checkClosables(closables, 'closeInOrder');
  const log = resolveLogger(options.logger);
  const errors: CloseResult['errors'] = [];
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const closeOne = (index: number): Promise<void> =>
    Promise.resolve()
      .then(() => (closables[index] as Closable).close())
      .catch((error: unknown) => {
        errors.push({ index, error });
        log.error({ index, error: errorText(error) }, 'shutdown: a close() failed');
      });
  try {
    for (let index = 0; index < closables.length; index++) {
      if ((await Promise.race([closeOne(index), expired])) === 'timeout') {
        log.error({ timeoutMs, index }, 'shutdown: timed out; closing the rest without waiting');
        for (let rest = index + 1; rest < closables.length; rest++) void closeOne(rest);
        return { timedOut: true, errors };
      }
    }
    return { timedOut: false, errors };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opt-in signal handling: on the first `SIGTERM` or `SIGINT`, runs {@link closeInOrder} over `closables`,
 * then ends the process as the signal would have:
 *
 * - when no other listener handles that signal, this removes its own listeners and raises the signal again,
 *   so Node's default action applies (the process dies of the signal, exit status 128 + signal number, as a
 *   supervisor expects);
 * - when the app has listeners of its own for it, they own the exit: the signal reached them too, and this
 *   neither exits nor raises it again (await {@link ShutdownHandle.shutdown} from them to wait for the drain).
 *
 * A second signal while the sequence runs ends the process at once, the same way. The signal is never
 * swallowed.
 */
export function handleShutdownSignals(
  closables: readonly Closable[],
  options: ShutdownSignalOptions = {},
): ShutdownHandle {
  resolveTimeout(options.timeout, 'handleShutdownSignals');
  checkClosables(closables, 'handleShutdownSignals');
  const signals = options.signals ?? DEFAULT_SIGNALS;
  if (!Array.isArray(signals) || signals.length === 0 || !signals.every((s) => typeof s === 'string')) {
    throw new InvalidArgumentError(
      'handleShutdownSignals: signals must be a non-empty array of signal names',
      {
        operation: 'handleShutdownSignals',
      },
    );
  }
  const log = resolveLogger(options.logger);
  let running: Promise<CloseResult> | undefined;
  let disposed = false;
  const shutdown = (): Promise<CloseResult> => {
    running ??= closeInOrder(closables, options);
    return running;
  };
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
  /** Node's default action for the signal: only when nobody else listens, so the app's own handler is never run twice. */
  const endAsSignalled = (signal: NodeJS.Signals): void => {
    dispose();
    if (process.listenerCount(signal) > 0) return;
    process.kill(process.pid, signal);
  };
  function onSignal(signal: NodeJS.Signals): void {
    if (running !== undefined) {
      log.warn({ signal }, 'shutdown: second signal during the graceful shutdown; ending now');
      endAsSignalled(signal);
      return;
    }
    log.info({ signal }, 'shutdown: signal received; draining');
    void shutdown().then(() => endAsSignalled(signal));
  }
  for (const signal of signals) process.on(signal, onSignal);
  return { shutdown, dispose };
}

function resolveTimeout(timeout: number | string | undefined, operation: string): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = parseDuration(timeout, 'timeout', operation);
  if (ms <= 0) throw new InvalidArgumentError(`${operation}: timeout must be > 0`, { operation });
  return ms;
}

function checkClosables(closables: readonly Closable[], operation: string): void {
  if (!Array.isArray(closables) || !closables.every((c) => typeof c?.close === 'function')) {
    throw new InvalidArgumentError(
      `${operation}: closables must be an array of objects with a close() method`,
      {
        operation,
      },
    );
  }
}
