/**
 * Go duration parsing (`'55s'`, `'5m'`, `'1500ms'`, `'1h30m'`), the syntax Consul's `wait` parameter uses
 * (consul-semantics §1). Accepted only at the public edge and converted to milliseconds once.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * The longest delay a Node.js timer can wait: 2^31-1 ms, about 24.8 days. A longer one does not wait longer:
 * Node warns and fires it after 1 ms, so every duration option is refused above it.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Refuses a duration (already in ms) that a timer cannot wait for. Use it for every option that ends up in
 * a `setTimeout` (timeouts, `staleAfter`, backoff bounds); {@link parseDuration} applies it already.
 * @param ms - the duration in milliseconds
 * @param name - the option's name, used in the message
 * @param operation - the operation reported on the error
 * @returns `ms` unchanged
 * @throws InvalidArgumentError naming the option and the maximum
 */
export function checkTimerMs(ms: number, name: string, operation = 'options'): number {
  if (ms <= MAX_TIMER_MS) return ms;
  throw new InvalidArgumentError(`${operation}: ${name} must be at most ${timerLimitText(ms)}`, {
    operation,
  });
}

/** The maximum and the value refused, for messages: `2147483647 ms (about 24.8 days, …); got <ms>`. */
export function timerLimitText(ms: number): string {
  return `${MAX_TIMER_MS} ms (about 24.8 days, the longest a Node.js timer can wait); got ${ms}`;
}

/** Milliseconds per Go duration unit. Go accepts both the micro sign (U+00B5) and Greek mu (U+03BC). */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** One `<number><unit>` component: digits with an optional fraction, then a unit. */
const COMPONENT = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Converts a duration given as milliseconds or as a Go duration string to milliseconds.
 *
 * Numbers are milliseconds and must be finite and non-negative. Strings follow Go's `time.ParseDuration`
 * (a sequence of decimal numbers with optional fraction and a unit: `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`;
 * `'0'` alone is allowed), but negative durations are refused because no option of this library means
 * anything by them.
 *
 * @param value - milliseconds, or a Go duration such as `'55s'`
 * @param name - the option's name, used in the error message (e.g. `'wait'`)
 * @param operation - the operation reported on the error
 * @returns the duration in milliseconds (may be fractional for sub-millisecond input), at most {@link MAX_TIMER_MS}
 * @throws InvalidArgumentError naming the option when the value cannot be used or is over {@link MAX_TIMER_MS}
 */
export function parseDuration(value: number | string, name: string, operation = 'options'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return checkTimerMs(value, name, operation);
    throw invalid(value, name, operation);
  }
  if (typeof value !== 'string') throw invalid(value, name, operation);
  const ms = parseGoDuration(value);
  if (ms === undefined) throw invalid(value, name, operation);
  return checkTimerMs(ms, name, operation);
}

/** Parses a Go duration string to ms; undefined when malformed or negative. */
function parseGoDuration(text: string): number | undefined {
  const rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  let position = 0;
  while (position < rest.length) {
    COMPONENT.lastIndex = position;
    const match = COMPONENT.exec(rest);
    if (match === null) return undefined;
    const [whole, integerPart = '', fractionPart = '', unit = ''] = match;
    // Go requires at least one digit on either side of the dot.
    if (integerPart === '' && fractionPart === '') return undefined;
    const amount = Number(`${integerPart || '0'}.${fractionPart || '0'}`);
    total += amount * (UNIT_MS[unit] ?? Number.NaN);
    position += whole.length;
  }
  return Number.isFinite(total) ? total : undefined;
}

function invalid(value: unknown, name: string, operation: string): InvalidArgumentError {
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  return new InvalidArgumentError(
    `${operation}: ${name} must be a non-negative number of milliseconds or a Go duration such as '55s', '5m' or '1500ms'; got ${shown}`,
    { operation },
  );
}
