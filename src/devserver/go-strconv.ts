/**
 * The few Go standard-library parsers whose exact acceptance rules and error texts Consul exposes over
 * HTTP: `time.ParseDuration` (`?wait`, `?max_stale`), `strconv.ParseUint` (`?index`, `?flags`, `?cas`)
 * and `strconv.Quote` (`%q` in error texts). Written from the Go documentation, not from Go's source.
 * @module
 */

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_DURATION_NS = 1n << 63n;
const NUMBER_PREFIX = /^([0-9]*)(?:\.([0-9]*))?/;

function isDigitOrDot(char: string | undefined): boolean {
  return char === '.' || (char !== undefined && char >= '0' && char <= '9');
}

/**
 * Parses a Go duration string (`10s`, `1500ms`, `1m30s`, `.5h`, `-3s`, `0`) into nanoseconds (negative
 * allowed), exactly as Go's `time.Duration` holds it. Returns `undefined` for anything Go's `time.ParseDuration` rejects: a bare number
 * other than `0` (missing unit), an unknown unit, an empty string, or a value beyond ±2^63 ns.
 */
export function parseGoDurationNs(input: string): bigint | undefined {
  let rest = input;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  // consul-semantics §1: "0" is the one unit-less duration Go accepts.
  if (rest === '0') return 0n;
  if (rest === '') return undefined;

  let totalNs = 0n;
  while (rest !== '') {
    if (!isDigitOrDot(rest[0])) return undefined;
    const match = NUMBER_PREFIX.exec(rest);
    const wholeDigits = match?.[1] ?? '';
    const fractionDigits = match?.[2] ?? '';
    if (wholeDigits === '' && fractionDigits === '') return undefined; // "." or ".s"
    rest = rest.slice(match?.[0].length ?? 0);

    let unitLength = 0;
    while (unitLength < rest.length && !isDigitOrDot(rest[unitLength])) unitLength++;
    if (unitLength === 0) return undefined; // missing unit
    const unitNs = NS_PER_UNIT[rest.slice(0, unitLength)];
    if (unitNs === undefined) return undefined; // unknown unit
    rest = rest.slice(unitLength);

    const whole = wholeDigits === '' ? 0n : BigInt(wholeDigits);
    if (whole > MAX_DURATION_NS / unitNs) return undefined;
    let componentNs = whole * unitNs;
    if (fractionDigits !== '') {
      componentNs += BigInt(Math.floor(Number(`0.${fractionDigits}`) * Number(unitNs)));
    }
    totalNs += componentNs;
    if (totalNs > MAX_DURATION_NS) return undefined;
  }
  if (!negative && totalNs > MAX_DURATION_NS - 1n) return undefined;
  return negative ? -totalNs : totalNs;
}

/** {@link parseGoDurationNs} in milliseconds, which may be fractional or negative. */
export function parseGoDuration(input: string): number | undefined {
  const ns = parseGoDurationNs(input);
  return ns === undefined ? undefined : Number(ns) / 1e6;
}

/** Result of {@link parseGoUint64}: the value, or Go's error text. */
export type Uint64ParseResult = { ok: true; value: bigint } | { ok: false; message: string };

const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Parses a base-10 unsigned 64-bit integer as Go's `strconv.ParseUint(s, 10, 64)` does: digits only (no sign,
 * no underscores, not empty). On failure returns Go's error text, e.g.
 * `strconv.ParseUint: parsing "abc": invalid syntax` or `... value out of range` — Consul sends that text as
 * a 500 body for a bad `?flags`/`?cas` (consul-semantics §2).
 */
export function parseGoUint64(input: string): Uint64ParseResult {
  const fail = (reason: string): Uint64ParseResult => ({
    ok: false,
    message: `strconv.ParseUint: parsing ${goQuote(input)}: ${reason}`,
  });
  if (input === '') return fail('invalid syntax');
  let value = 0n;
  for (const char of input) {
    if (char < '0' || char > '9') return fail('invalid syntax');
    value = value * 10n + BigInt(char.charCodeAt(0) - 48);
    if (value > MAX_UINT64) return fail('value out of range');
  }
  return { ok: true, value };
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  '\u0007': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** True when every character is printable in Go's sense (`unicode.IsPrint`: letters, marks, numbers, punctuation, symbols, ASCII space). */
export function isGoPrintable(text: string): boolean {
  for (const char of text) {
    if (!PRINTABLE.test(char)) return false;
  }
  return true;
}

/** Quotes a string like Go's `strconv.Quote` (the `%q` verb): printable characters kept, others escaped. */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const named = NAMED_ESCAPES[char];
    if (named !== undefined) {
      out += named;
    } else if (PRINTABLE.test(char)) {
      out += char;
    } else {
      const codePoint = char.codePointAt(0) ?? 0;
      if (codePoint < 0x80) out += `\\x${codePoint.toString(16).padStart(2, '0')}`;
      else if (codePoint <= 0xffff) out += `\\u${codePoint.toString(16).padStart(4, '0')}`;
      else out += `\\U${codePoint.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}
