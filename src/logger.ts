/**
 * The logger shape this library accepts: pino's and `console`'s, called object first
 * (`logger.warn({ key }, 'message')`). Every method is optional so a partial logger works.
 * @module
 */

/** One logging method: a structured object first, then a human message. */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/** A pino- or console-shaped logger. Methods that are missing are skipped. */
export interface Logger {
  debug?: LogFn;
  info?: LogFn;
  warn?: LogFn;
  error?: LogFn;
}

/** A logger that drops everything; the default. */
export const noopLogger: Required<Logger> = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

const SECRET_NAME = /token|secret|password|passwd|credential|private[-_]?key|api[-_]?key|auth/i;

/** True when a key or field name looks like it holds a secret, so its value must not be logged. */
export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Returns a copy of `obj` with values of secret-looking fields replaced by `'[redacted]'`, one level deep.
 * Used where a log line is made, so that a token never reaches a logger.
 */
export function redact(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(obj)) {
    out[name] = looksSecret(name) && value !== undefined ? '[redacted]' : value;
  }
  return out;
}

/** Resolves an optional user logger to one whose every method exists and whose fields are redacted. */
export function resolveLogger(logger: Logger | undefined): Required<Logger> {
  if (logger === undefined) return noopLogger;
  const wrap = (fn: LogFn | undefined): LogFn =>
    fn === undefined ? () => {} : (obj, msg) => fn.call(logger, redact(obj), msg);
  return {
    debug: wrap(logger.debug),
    info: wrap(logger.info),
    warn: wrap(logger.warn),
    error: wrap(logger.error),
  };
}
