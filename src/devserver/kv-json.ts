/**
 * JSON the way Consul's Go encoder writes it: KV entries with fields in Go order (consul-semantics §2), uint64 numbers
 * beyond 2^53 written exactly, `<`, `>`, `&`, U+2028 and U+2029 escaped (Go's HTML-safe default), compact
 * by default and 4-space indented plus a trailing newline with `?pretty` (consul-semantics §1).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { KvEntry } from './store.js';

/** A KV entry as Consul serialises it: `LockIndex, Key, Flags, Value, [Session], CreateIndex, ModifyIndex`. */
export interface EntryJson {
  LockIndex: number;
  Key: string;
  Flags: number | string;
  Value: string | null;
  /** The lock holder; left out when the key is not locked (Go's `omitempty`, consul-semantics §L5). */
  Session?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

// A uint64 above Number.MAX_SAFE_INTEGER travels through JSON.stringify as a marked string and is unquoted
// afterwards; the per-process nonce keeps a user's string from ever looking like a marker.
const UINT64_NONCE = randomUUID();
const UINT64_MARK = `\u0000u64-${UINT64_NONCE}:`;
// JSON.stringify writes the NUL as the six characters \u0000.
const UINT64_MARKER_PATTERN = new RegExp(`"\\\\u0000u64-${UINT64_NONCE}:(\\d+)"`, 'g');
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** Represents a uint64 exactly in JSON produced by {@link renderJson}. */
export function jsonUint64(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : `${UINT64_MARK}${value}`;
}

/** Converts an entry to Consul's JSON shape; `withValue: false` blanks `Value` as txn write results do (consul-semantics §6). */
export function entryToJson(entry: KvEntry, withValue = true): EntryJson {
  return {
    LockIndex: entry.lockIndex,
    Key: entry.key,
    Flags: jsonUint64(entry.flags),
    // consul-semantics §2: an empty value is a nil byte slice in Go, which encodes as null.
    Value: withValue && entry.value !== null ? entry.value.toString('base64') : null,
    ...(entry.session === undefined ? {} : { Session: entry.session }),
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
}

/** Renders a response body like Consul: compact, or indented with 4 spaces and a newline when `pretty`. */
export function renderJson(value: unknown, pretty: boolean): Buffer {
  const text = pretty ? `${JSON.stringify(value, null, 4)}\n` : JSON.stringify(value);
  const exact = text.replace(UINT64_MARKER_PATTERN, '$1');
  return Buffer.from(
    exact.replace(HTML_UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`),
    'utf8',
  );
}
