/**
 * `JSON.parse` that keeps every number's literal text, so uint64 fields (`Flags`, `Index`) decode exactly
 * as Go's `encoding/json` decodes them instead of being rounded to the nearest double (2^53 + 1 → 2^53,
 * 2^64 slipping under a `<= 2^64 - 1` check).
 * @module
 */
import { randomUUID } from 'node:crypto';

/** A JSON number as written in the request, e.g. `18446744073709551615`, `-1`, `1.5e3`. */
export class JsonNumber {
  readonly literal: string;
  constructor(literal: string) {
    this.literal = literal;
  }
}

// Each number is carried through JSON.parse as a string with this prefix; the per-process nonce keeps a
// string in the request from ever looking like one.
const NUMBER_MARK = `\u0000num-${randomUUID()}:`;
const NUMBER_CHARS = /[-+0-9.eE]/;

/** Rewrites every number token outside strings as a marked string. The text must already be valid JSON. */
function markNumbers(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? '';
    if (char === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      out += text.slice(i, end + 1);
      i = end + 1;
    } else if (char === '-' || (char >= '0' && char <= '9')) {
      let end = i + 1;
      while (end < text.length && NUMBER_CHARS.test(text[end] ?? '')) end++;
      out += JSON.stringify(`${NUMBER_MARK}${text.slice(i, end)}`);
      i = end;
    } else {
      out += char;
      i++;
    }
  }
  return out;
}

/**
 * Parses JSON like `JSON.parse` (same errors for invalid input), but every number becomes a
 * {@link JsonNumber} holding its literal text.
 * @throws {SyntaxError} for invalid JSON, from `JSON.parse` on the original text.
 */
export function parseJsonKeepingNumbers(text: string): unknown {
  JSON.parse(text); // only for its verdict and error message on invalid input
  return JSON.parse(markNumbers(text), (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(NUMBER_MARK)
      ? new JsonNumber(value.slice(NUMBER_MARK.length))
      : value,
  );
}

/** A decoded JSON value that is an object in Go's sense (not an array, null or number). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber)
  );
}

/** The JSON type name Go's decoder errors use (`number`, `array`, `object`…). */
export function goJsonType(value: unknown): string {
  if (value instanceof JsonNumber) return 'number';
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'object' ? 'object' : typeof value;
}

/** Go's encoding/json matches field names exactly first, then case-insensitively. */
export function field(object: Record<string, unknown>, name: string): unknown {
  if (name in object) return object[name];
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(object)) {
    if (key.toLowerCase() === lower) return value;
  }
  return undefined;
}
