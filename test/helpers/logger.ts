/** A logger for tests that records every call, so a test can assert the exact log lines. */
import type { LogFn } from '../../src/logger.js';

/** One logger call: `[level, obj, msg]`. */
export type LogCall = [string, Record<string, unknown>, string | undefined];

/** A logger recording every call as `[level, obj, msg]`, in order. */
export function recordingLogger(): {
  calls: LogCall[];
  logger: { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };
} {
  const calls: LogCall[] = [];
  const level =
    (name: string): LogFn =>
    (obj, msg) => {
      calls.push([name, obj, msg]);
    };
  return {
    calls,
    logger: { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') },
  };
}
