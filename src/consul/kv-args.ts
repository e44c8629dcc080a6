/**
 * Argument checks shared by the KV API and the txn codec: keys Consul can address, integers, options objects,
 * signals and values, each refused at the call with an InvalidArgumentError naming the operation and key.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { describeTarget } from './transport.js';

/** Consul's default `kv_max_value_size`: larger values are refused before sending (consul-semantics §2, §7). */
export const MAX_VALUE_BYTES = 524_288;

/**
 * Refuses keys Consul's HTTP layer cannot address (consul-semantics §1): a leading `/`, `//`, `.`/`..`
 * segments (the Go router redirects them to a cleaned path) and non-printable characters (400, empty body).
 * @param allowEmpty - true for prefixes (list, keys, recursive delete), where `''` means every key
 * @throws InvalidArgumentError naming the operation and the key
 */
export function validateKey(key: string, operation: string, allowEmpty: boolean): void {
  // Checked on every request a watch sends: no closure, no array of segments, no regex made per call.
  if (typeof key !== 'string') {
    throw new InvalidArgumentError(`${operation}: the key must be a string`, { operation });
  }
  if (key === '') {
    if (allowEmpty) return;
    badKey(key, operation, 'the key must not be empty');
  }
  if (key.startsWith('/')) badKey(key, operation, "the key must not begin with '/'");
  if (key.includes('//'))
    badKey(key, operation, "the key must not contain '//' (Consul redirects such paths)");
  if (DOT_SEGMENT.test(key)) badKey(key, operation, "the key must not contain '.' or '..' segments");
  if (NON_PRINTABLE.test(key)) badKey(key, operation, 'the key contains non-printable characters');
}

/** A `.` or `..` segment. */
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;
/** Not printable in Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const NON_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

function badKey(key: string, operation: string, problem: string): never {
  throw new InvalidArgumentError(`${operation} ${JSON.stringify(key)}: ${problem}`, { operation, key });
}

/** Refuses an options argument that is not an object. */
export function checkOptions(options: unknown, operation: string, key: string | undefined): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`${describeTarget(operation, key)}: options must be an object`, {
      operation,
      key,
    });
  }
}

/** A non-negative safe integer (an index, a cas value), or InvalidArgumentError naming it. */
export function checkUint(value: unknown, name: string, operation: string, key: string | undefined): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(
      `${describeTarget(operation, key)}: ${name} must be a non-negative integer; got ${String(value)}`,
      { operation, key },
    );
  }
  return value;
}

/** The largest uint64: Consul's Flags range. */
const MAX_FLAGS = 2n ** 64n - 1n;

/**
 * Flags to write: a non-negative safe integer, or a bigint up to 2^64-1 (Consul's uint64). An integer number
 * above 2^53-1 is refused: it may already have lost precision, so it could write flags nobody read.
 * @throws InvalidArgumentError naming the operation and key
 */
export function checkFlags(value: unknown, operation: string, key: string | undefined): number | bigint {
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= MAX_FLAGS) return value;
    throw new InvalidArgumentError(
      `${describeTarget(operation, key)}: flags must be an integer from 0 to ${MAX_FLAGS}; got ${value}`,
      { operation, key },
    );
  }
  if (typeof value === 'number' && Number.isInteger(value) && value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(
      `${describeTarget(operation, key)}: flags ${value} is above 2^53-1, where a number loses precision; pass it as a bigint (entry.flagsBigInt)`,
      { operation, key },
    );
  }
  return checkUint(value, 'flags', operation, key);
}

/** An AbortSignal or undefined, or InvalidArgumentError. */
export function checkSignal(
  signal: unknown,
  operation: string,
  key: string | undefined,
): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new InvalidArgumentError(`${describeTarget(operation, key)}: signal must be an AbortSignal`, {
    operation,
    key,
  });
}

/**
 * A value to store, as bytes: a string (UTF-8) or a Uint8Array. The caller checks the size, in its own words.
 * @throws InvalidArgumentError for another type
 */
export function checkValue(value: unknown, operation: string, key: string): Buffer {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new InvalidArgumentError(
      `${describeTarget(operation, key)}: value must be a string or Uint8Array`,
      {
        operation,
        key,
      },
    );
  }
  return toBuffer(value);
}

/** A string as UTF-8 bytes; a Uint8Array viewed as a Buffer without copying. */
export function toBuffer(value: string | Uint8Array): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
