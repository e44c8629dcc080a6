/**
 * The KV entry model ({@link KVEntry}) and the parser that turns Consul's JSON answers into entries.
 * @module
 */
import { MalformedResponseError } from '../errors.js';
import { toBuffer } from './kv-args.js';
import { describeTarget, type TransportResponse } from './transport.js';

/** Fields of a {@link KVEntry}, as Consul sends them; `value` is the raw base64 text. */
export interface KVEntryInit {
  key: string;
  /** Consul's uint64 flags; a bigint keeps values above 2^53-1 exact. */
  flags: number | bigint;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session: string | undefined;
  /** Standard padded base64, or null for an empty value. */
  value: string | null;
}

/**
 * Flags above 2^53-1, exactly, for the entries that have them: kept aside, so the common entry costs no field
 * (a watch holds one entry per key).
 */
const exactFlags = new WeakMap<KVEntry, bigint>();

/**
 * One KV entry. The value is decoded from base64 on first access, so a 10,000-key list costs no decoding
 * for keys nobody reads; bad base64 throws MalformedResponseError naming the key on that access.
 */
export class KVEntry {
  /** The full key. */
  readonly key: string;
  /**
   * Opaque flags stored with the value (a uint64 in Consul). Exact up to 2^53-1; above that the nearest
   * number, so read {@link KVEntry.flagsBigInt} to compare or write such flags back.
   */
  readonly flags: number;
  /** Index of the write that created the key. */
  readonly createIndex: number;
  /** Index of the last write that changed the entry. */
  readonly modifyIndex: number;
  /** Times a session acquired the key. */
  readonly lockIndex: number;
  /** Session holding the lock, if any. */
  readonly session: string | undefined;
  /** The value as Consul sent it (base64, or null); compare it to detect changes without decoding. */
  readonly rawValue: string | null;

  constructor(init: KVEntryInit) {
    this.key = init.key;
    if (typeof init.flags === 'bigint') {
      this.flags = Number(init.flags);
      if (!Number.isSafeInteger(this.flags)) exactFlags.set(this, init.flags);
    } else {
      this.flags = init.flags;
    }
    this.createIndex = init.createIndex;
    this.modifyIndex = init.modifyIndex;
    this.lockIndex = init.lockIndex;
    this.session = init.session;
    this.rawValue = init.value;
  }

  /** The flags exactly, as a bigint (0 to 2^64-1); pass it to `put`'s `flags` to write them back unchanged. */
  get flagsBigInt(): bigint {
    return exactFlags.get(this) ?? BigInt(this.flags);
  }

  /**
   * An entry built from a plain value (tests, fakes): the value is encoded to base64 here.
   * Missing indexes and flags are 0.
   */
  static from(init: {
    key: string;
    value: string | Uint8Array | null;
    flags?: number | bigint;
    createIndex?: number;
    modifyIndex?: number;
    lockIndex?: number;
    session?: string;
  }): KVEntry {
    const bytes = init.value === null ? null : toBuffer(init.value);
    return new KVEntry({
      key: init.key,
      flags: init.flags ?? 0,
      createIndex: init.createIndex ?? 0,
      modifyIndex: init.modifyIndex ?? 0,
      lockIndex: init.lockIndex ?? 0,
      session: init.session,
      value: bytes === null || bytes.length === 0 ? null : bytes.toString('base64'),
    });
  }

  /**
   * The value's bytes, or null when Consul sent `"Value": null` (an empty value, consul-semantics §2). Decoded at each
   * access into a new Buffer: entries live on in watch snapshots, and keeping a decoded copy in each would
   * roughly double their memory for values that are read once.
   * @throws MalformedResponseError when the base64 is invalid
   */
  get value(): Buffer | null {
    return decodeValue(this.rawValue, this.key);
  }

  /** The value as UTF-8 text, or null for an empty value. */
  text(): string | null {
    const value = this.value;
    return value === null ? null : value.toString('utf8');
  }
}

/**
 * Parses a list of entries in one pass: one `JSON.parse`, then one loop checking each element's shape.
 * Values stay base64 until read. Unknown fields are ignored; `Value`/`Session` may be absent or null (consul-semantics §2).
 * @param parsed - the body already parsed, for a caller that looked at it first
 */
export function parseEntries(
  response: TransportResponse,
  operation: string,
  key: string | undefined,
  known?: KnownValue,
  parsed: unknown = parseJson(response, operation, key),
): KVEntry[] {
  for (let pass = 0; ; pass++) {
    if (!Array.isArray(parsed))
      throw malformed(operation, key, 'expected a JSON array of entries', response.status);
    const entries = new Array<KVEntry>(parsed.length);
    let rounded = false;
    for (let i = 0; i < parsed.length; i++) {
      const entry = toEntry(parsed[i], i, operation, key, response.status, pass === 0 ? known : undefined);
      if (entry.flags > Number.MAX_SAFE_INTEGER) rounded = true;
      entries[i] = entry;
    }
    // JSON.parse rounded a uint64 Flags: read the answer once more, keeping those digits (rare: costs
    // nothing for answers whose flags all fit a number).
    if (!rounded || pass > 0) return entries;
    parsed = parseJson(response, operation, key, true);
  }
}

/**
 * Tells the parser that a value is one already checked (the same text as in an answer accepted before), so
 * its base64 need not be checked again. Only ever answers true for text that was checked.
 */
export type KnownValue = (key: string, rawValue: string) => boolean;

/**
 * One entry object of an answer (a list element, or a txn result's `KV`) checked and turned into a KVEntry.
 * @param known - skips the base64 check of values it knows (see {@link KnownValue})
 */
export function toEntry(
  raw: unknown,
  position: number,
  operation: string,
  key: string | undefined,
  status: number,
  known?: KnownValue,
): KVEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw malformed(operation, key, `entry ${position} is not an object`, status);
  }
  const r = raw as Record<string, unknown>;
  const entryKey = r.Key;
  const modifyIndex = r.ModifyIndex;
  const createIndex = r.CreateIndex;
  const rawFlags = r.Flags ?? 0;
  // A digit string only comes from the exact re-read (see LONG_FLAGS); Consul itself sends numbers.
  const flags = typeof rawFlags === 'string' ? exactUint64(rawFlags) : rawFlags;
  const lockIndex = r.LockIndex ?? 0;
  const value = r.Value ?? null;
  const session = r.Session ?? undefined;
  // One combined test on the hot path; the slow path below only runs to word the error.
  if (
    typeof entryKey !== 'string' ||
    !isUint(modifyIndex) ||
    !isUint(createIndex) ||
    !isUint(flags) ||
    !isUint(lockIndex) ||
    (value !== null &&
      (typeof value !== 'string' || (known?.(entryKey, value) !== true && !isBase64(value)))) ||
    (session !== undefined && typeof session !== 'string')
  ) {
    throw malformed(operation, key, describeEntryProblem(r, position), status);
  }
  return new KVEntry({
    key: entryKey,
    flags: flags as number | bigint,
    createIndex: createIndex as number,
    modifyIndex: modifyIndex as number,
    lockIndex: lockIndex as number,
    session: session === '' ? undefined : (session as string | undefined),
    value: value as string | null,
  });
}

/** Names the first field of an entry that has the wrong type. */
function describeEntryProblem(r: Record<string, unknown>, position: number): string {
  if (typeof r.Key !== 'string') return `entry ${position} has no string Key`;
  const where = `entry ${position} (${JSON.stringify(r.Key)})`;
  for (const field of ['ModifyIndex', 'CreateIndex', 'Flags', 'LockIndex']) {
    const optional = field === 'Flags' || field === 'LockIndex';
    if (!isUint(r[field] ?? (optional ? 0 : undefined)))
      return `${where}: ${field} is not a non-negative integer`;
  }
  if (typeof (r.Value ?? '') !== 'string') return `${where}: Value is not a base64 string or null`;
  if (!isBase64((r.Value ?? '') as string)) return `${where}: Value is not valid base64`;
  return `${where}: Session is not a string`;
}

/** A JSON number that is a non-negative integer (or an exact uint64 from the re-read). */
export function isUint(value: unknown): boolean {
  return (typeof value === 'number' && Number.isInteger(value) && value >= 0) || typeof value === 'bigint';
}

/** The largest uint64, Consul's range for Flags. */
export const MAX_UINT64 = 2n ** 64n - 1n;

/** Digits of a uint64 as a bigint; undefined (refused as malformed) past 2^64-1. */
function exactUint64(digits: string): bigint | undefined {
  const value = /^\d+$/.test(digits) ? BigInt(digits) : undefined;
  return value !== undefined && value <= MAX_UINT64 ? value : undefined;
}

/**
 * `"Flags":` then a whole integer of 16 or more digits (not `…5.5` or `…e3`, which stay numbers), outside any string (a `"` inside a JSON string is escaped as `\"`, so
 * the look-behind skips keys that merely contain the text). Node 20's JSON.parse gives no access to a
 * number's source, so these tokens are turned into strings before a second parse.
 */
const LONG_FLAGS = /(?<!\\)"Flags":\s*(\d{16,})(?![\d.eE])/g;

/** Standard padded base64, checked strictly: alphabet, padding only at the end, length a multiple of 4. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checked when an answer is parsed, not when a value is read: an answer holding a value that is not base64
 * is malformed as a whole, so a watch never adopts its index (consul-semantics §2.1, §4.7).
 */
function isBase64(raw: string): boolean {
  return raw.length % 4 === 0 && BASE64.test(raw);
}

function decodeValue(raw: string | null, key: string): Buffer | null {
  if (raw === null) return null;
  if (raw.length % 4 !== 0 || !BASE64.test(raw)) {
    throw new MalformedResponseError(
      `kv.decode ${key}: the value is not valid base64 (Consul sends standard padded base64); the entry cannot be decoded`,
      { operation: 'kv.decode', key },
    );
  }
  return Buffer.from(raw, 'base64');
}

/** The body as JSON, or MalformedResponseError keeping the SyntaxError as `cause`. */
export function parseJson(
  response: TransportResponse,
  operation: string,
  key: string | undefined,
  exactFlags = false,
): unknown {
  try {
    const text = response.body.toString('utf8');
    return JSON.parse(exactFlags ? text.replace(LONG_FLAGS, '"Flags":"$1"') : text);
  } catch (error) {
    throw malformed(operation, key, 'the body is not JSON', response.status, error);
  }
}

/** The `true`/`false` body of a write (consul-semantics §2). */
export function parseBoolean(response: TransportResponse, operation: string, key: string): boolean {
  const text = response.body.toString('utf8').trim();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw malformed(operation, key, "expected 'true' or 'false'", response.status);
}

/** The error for an answer of the wrong shape, naming the operation, the key and what was wrong. */
export function malformed(
  operation: string,
  key: string | undefined,
  problem: string,
  status: number,
  cause?: unknown,
): MalformedResponseError {
  return new MalformedResponseError(
    `${describeTarget(operation, key)}: malformed response from Consul: ${problem}`,
    {
      operation,
      key,
      status,
      cause,
    },
  );
}
