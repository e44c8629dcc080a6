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

/** What replaces a secret in text. */
export const REDACTED = '[redacted]';

/**
 * Credentials that are secret whatever their value: an `Authorization` scheme's parameter (`Basic <base64>`,
 * `Bearer <token>`), and an `X-Consul-Token` header or `token=` parameter echoed back by Consul or a proxy.
 */
const CREDENTIAL_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+/gi, `$1 ${REDACTED}`],
  [/\b(x-consul-token\s*[:=]\s*)[^\s,;&"']+/gi, `$1${REDACTED}`],
  [/([?&]token=)[^\s&"']+/gi, `$1${REDACTED}`],
];

/** The shortest piece of a cut secret that is still removed from the end of a text. */
const MIN_CUT_PIECE = 4;

/**
 * Removes secrets from free text (an error body, a caught error's message). Each known secret is removed
 * where it appears whole, also when line-wrapped (whitespace between its characters), and where the text
 * ends with its first {@link MIN_CUT_PIECE} or more characters (the text was cut inside it). Authorization
 * credentials and echoed token headers are removed whatever their value. Run it before any cut or folding.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === '') continue;
    const chars = [...secret].map(escapeRegExp);
    out = out.replace(new RegExp(chars.join('\\s*'), 'g'), REDACTED);
    if (chars.length > MIN_CUT_PIECE) {
      // A prefix of at least MIN_CUT_PIECE characters at the very end: p0\s*p1…p3(?:\s*p4(?:\s*p5…)?)?
      let optional = '';
      for (let i = chars.length - 2; i >= MIN_CUT_PIECE; i--) optional = `(?:\\s*${chars[i]}${optional})?`;
      const head = chars.slice(0, MIN_CUT_PIECE).join('\\s*');
      out = out.replace(new RegExp(`${head}${optional}\\s*$`), REDACTED);
    }
  }
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

function escapeRegExp(char: string): string {
  return char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
