/**
 * Initial keys for the dev server, in either of two shapes: a plain `key -> value` object, or the array
 * `consul kv export` writes (`[{ key, flags, value: base64 }]`).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * Initial keys: `{ key: value }` (non-string values are stored as their JSON text), or a `consul kv export`
 * array whose `value` is base64.
 */
export type DevServerSeed = Record<string, unknown> | Array<{ key: string; flags?: number; value: string }>;

/** One seed entry, ready for the store. */
export interface SeedEntry {
  readonly key: string;
  readonly value: Buffer | null;
  readonly flags: bigint;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function invalid(message: string, key?: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid dev server seed: ${message}`, {
    operation: 'devserver.seed',
    key,
  });
}

function toValue(bytes: Buffer): Buffer | null {
  return bytes.length === 0 ? null : bytes;
}

/**
 * Converts a seed to store entries, in the seed's order.
 * @throws {InvalidArgumentError} for an empty key, a bad base64 value or bad flags, naming the key.
 */
export function seedEntries(seed: DevServerSeed | unknown): SeedEntry[] {
  if (Array.isArray(seed)) {
    return seed.map((item: unknown, position) => {
      if (typeof item !== 'object' || item === null) throw invalid(`item ${position} is not an object`);
      const { key, value, flags } = item as { key?: unknown; value?: unknown; flags?: unknown };
      if (typeof key !== 'string' || key === '')
        throw invalid(`item ${position} needs a non-empty string "key"`);
      if (typeof value !== 'string' || !BASE64.test(value)) {
        throw invalid(`item ${position} (${key}) needs a base64 string "value"`, key);
      }
      if (flags !== undefined && !(Number.isSafeInteger(flags) && (flags as number) >= 0)) {
        throw invalid(`item ${position} (${key}) has invalid "flags"; expected an integer >= 0`, key);
      }
      return {
        key,
        value: toValue(Buffer.from(value, 'base64')),
        flags: BigInt((flags as number | undefined) ?? 0),
      };
    });
  }
  if (typeof seed !== 'object' || seed === null)
    throw invalid('expected an object of key -> value or an array');
  return Object.entries(seed).map(([key, value]) => {
    if (key === '') throw invalid('keys must not be empty');
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
    return { key, value: toValue(Buffer.from(text, 'utf8')), flags: 0n };
  });
}
