/**
 * The KV API (`/v1/kv/`, `/v1/txn`): key validation and encoding, blocking-query parameters, response
 * metadata, and fast parsing of entry lists. Errors from here and from the transport are all typed.
 * @module
 */
import {
  InvalidArgumentError,
  MalformedResponseError,
  TxnTooLargeError,
  ValueTooLargeError,
} from '../errors.js';
import type { Consistency, ResolvedClientConfig } from './config.js';
import { parseDuration } from './duration.js';
import {
  blockingTimeoutMs,
  describeTarget,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.js';

/** Consul's default `kv_max_value_size`: larger values are refused before sending (§2, §7). */
export const MAX_VALUE_BYTES = 524_288;
/** Consul's limit on operations per transaction (§6). */
export const MAX_TXN_OPERATIONS = 128;
/** Consul's default `txn_max_req_len` (§6). */
export const MAX_TXN_BODY_BYTES = 524_288;

/** Metadata of a read, from the response headers (§1). */
export interface QueryMeta {
  /** `X-Consul-Index` as received; 0 when missing or unparseable (the watcher clamps it, §8). */
  index: number;
  /** `X-Consul-KnownLeader` is `'true'`. */
  knownLeader: boolean;
  /** `X-Consul-LastContact`, ms since the serving server heard from the leader; 0 when missing. */
  lastContact: number;
  /** Body bytes received. */
  bytes: number;
}

/** Options of every read. */
export interface ReadOptions {
  /**
   * Blocking index: when > 0, Consul holds the request until the result's index exceeds it or `wait`
   * passes (§4). 0 or undefined → immediate answer.
   * @default undefined (not blocking)
   */
  index?: number;
  /**
   * Longest time Consul may hold a blocking read: ms, or a Go duration (`'5m'`, `'55s'`, `'1500ms'`). Sent
   * as `<ms>ms`. Consul clamps it to 600 s; 0 or undefined means Consul's default of 300 s.
   * @default undefined (Consul's default)
   */
  wait?: number | string;
  /**
   * Consistency mode (§1).
   * @default 'default'
   */
  consistency?: Consistency;
  /** Aborts the read with AbortedError. */
  signal?: AbortSignal;
}

/** Options of {@link KV.keys}. */
export interface KeysOptions extends ReadOptions {
  /**
   * Fold keys after the first occurrence of this string past the prefix (`'/'` lists one level) (§2).
   * @default undefined (all keys)
   */
  separator?: string;
}

/** Options of {@link KV.put}. */
export interface PutOptions {
  /**
   * Opaque unsigned integer stored with the value.
   * @default 0
   */
  flags?: number;
  /**
   * Check-and-set: write only if the key's `ModifyIndex` equals this (0 = only if absent). The call then
   * resolves to false when the check fails.
   * @default undefined (unconditional write)
   */
  cas?: number;
  /** Aborts the write with AbortedError (it may still have been applied). */
  signal?: AbortSignal;
}

/** Options of {@link KV.delete}. */
export interface DeleteOptions {
  /**
   * Delete every key starting with the given (raw string) prefix; `''` empties the store.
   * @default false
   */
  recurse?: boolean;
  /**
   * Delete only if the key's `ModifyIndex` equals this; resolves to false otherwise. Not with `recurse`.
   * @default undefined (unconditional)
   */
  cas?: number;
  /** Aborts the delete with AbortedError (it may still have been applied). */
  signal?: AbortSignal;
}

/** Fields of a {@link KVEntry}, as Consul sends them; `value` is the raw base64 text. */
export interface KVEntryInit {
  key: string;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session: string | undefined;
  /** Standard padded base64, or null for an empty value. */
  value: string | null;
}

/**
 * One KV entry. The value is decoded from base64 on first access, so a 10,000-key list costs no decoding
 * for keys nobody reads; bad base64 throws MalformedResponseError naming the key on that access.
 */
export class KVEntry {
  /** The full key. */
  readonly key: string;
  /** Opaque flags stored with the value. */
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
    this.flags = init.flags;
    this.createIndex = init.createIndex;
    this.modifyIndex = init.modifyIndex;
    this.lockIndex = init.lockIndex;
    this.session = init.session;
    this.rawValue = init.value;
  }

  /**
   * An entry built from a plain value (tests, fakes): the value is encoded to base64 here.
   * Missing indexes and flags are 0.
   */
  static from(init: {
    key: string;
    value: string | Uint8Array | null;
    flags?: number;
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
   * The value's bytes, or null when Consul sent `"Value": null` (an empty value, §2). Decoded at each
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

/** Result of {@link KV.get}; `entry` is null when the key does not exist (404, with the index, §3). */
export interface KVGetResult extends QueryMeta {
  entry: KVEntry | null;
}

/** Result of {@link KV.list}; no entries (404) gives `[]`. Sorted by key (§2). */
export interface KVListResult extends QueryMeta {
  entries: KVEntry[];
}

/** Result of {@link KV.keys}; no keys (404) gives `[]`. */
export interface KVKeysResult extends QueryMeta {
  keys: string[];
}

/** KV verbs of `/v1/txn` (§6). */
export type TxnVerb =
  | 'set'
  | 'cas'
  | 'lock'
  | 'unlock'
  | 'get'
  | 'get-or-empty'
  | 'get-tree'
  | 'check-index'
  | 'check-session'
  | 'check-not-exists'
  | 'delete'
  | 'delete-tree'
  | 'delete-cas';

/** One KV operation of a transaction. */
export type TxnOp = {
  verb: TxnVerb;
  key: string;
  value?: string | Uint8Array;
  flags?: number;
  index?: number;
  session?: string;
};

/** Outcome of a transaction: committed with its results (200), or rolled back with every failing op (409). */
export type TxnResult =
  | { ok: true; results: KVEntry[] }
  | { ok: false; errors: { opIndex: number; what: string }[] };

const TXN_VERBS: ReadonlySet<string> = new Set<TxnVerb>([
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
]);
/** Verbs whose key is a prefix, so `''` (everything) is allowed. */
const TREE_VERBS: ReadonlySet<string> = new Set(['get-tree', 'delete-tree']);

const READ_KEY_HINT = 'the token needs key:read on this key';
const READ_PREFIX_HINT =
  'the token needs key:read on this prefix, and key:list when acl_enable_key_list_policy is on';
const WRITE_HINT = 'the token needs key:write on this key';
const TXN_HINT = 'the token needs key:write (key:read for reads) on every key the transaction touches';

/**
 * KV operations of one client. Every method validates its arguments before sending anything and accepts
 * an AbortSignal.
 */
export class KV {
  readonly #transport: Transport;
  readonly #config: ResolvedClientConfig;

  /** Used by {@link ConsulClient}; not meant to be built directly. */
  constructor(transport: Transport, config: ResolvedClientConfig) {
    this.#transport = transport;
    this.#config = config;
  }

  /**
   * Reads one key. A missing key is not an error: `entry` is null and `index` is Consul's (§3).
   * Operation `'kv.get'`.
   */
  async get(key: string, options?: ReadOptions): Promise<KVGetResult> {
    const operation = 'kv.get';
    validateKey(key, operation, false);
    const response = await this.#transport.request(this.#read(operation, key, [], options, READ_KEY_HINT));
    const meta = parseMeta(response);
    if (response.status === 404) return { entry: null, ...meta };
    const entries = parseEntries(response, operation, key);
    return { entry: entries[0] ?? null, ...meta };
  }

  /**
   * Reads every entry whose key starts with `prefix` (raw string match: `app` also matches `apple`, so
   * watch folders with a trailing `/`, §8). `''` reads the whole store. Operation `'kv.list'`.
   */
  async list(prefix: string, options?: ReadOptions): Promise<KVListResult> {
    const operation = 'kv.list';
    validateKey(prefix, operation, true);
    const response = await this.#transport.request(
      this.#read(operation, prefix, [['recurse', '']], options, READ_PREFIX_HINT),
    );
    const meta = parseMeta(response);
    if (response.status === 404) return { entries: [], ...meta };
    return { entries: parseEntries(response, operation, prefix), ...meta };
  }

  /** Lists the keys under `prefix`, folded at `separator` when given (§2). Operation `'kv.keys'`. */
  async keys(prefix: string, options?: KeysOptions): Promise<KVKeysResult> {
    const operation = 'kv.keys';
    validateKey(prefix, operation, true);
    const separator = options?.separator;
    if (separator !== undefined && typeof separator !== 'string') {
      throw new InvalidArgumentError(`${describeTarget(operation, prefix)}: separator must be a string`, {
        operation,
        key: prefix,
      });
    }
    const flags: Array<[string, string]> = [['keys', '']];
    if (separator !== undefined && separator !== '') flags.push(['separator', separator]);
    const response = await this.#transport.request(
      this.#read(operation, prefix, flags, options, READ_PREFIX_HINT),
    );
    const meta = parseMeta(response);
    if (response.status === 404) return { keys: [], ...meta };
    const parsed = parseJson(response, operation, prefix);
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
      throw malformed(operation, prefix, 'expected a JSON array of key strings', response.status);
    }
    return { keys: parsed as string[], ...meta };
  }

  /**
   * Writes a value. Resolves to true when written; with `cas`, false when the check failed.
   * Values over 512 KiB are refused before sending (ValueTooLargeError). Operation `'kv.put'`.
   */
  async put(key: string, value: string | Uint8Array, options: PutOptions = {}): Promise<boolean> {
    const operation = 'kv.put';
    validateKey(key, operation, false);
    checkOptions(options, operation, key);
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `${describeTarget(operation, key)}: value must be a string or Uint8Array`,
        {
          operation,
          key,
        },
      );
    }
    const body = toBuffer(value);
    if (body.length > MAX_VALUE_BYTES) {
      throw new ValueTooLargeError(
        `${describeTarget(operation, key)}: value is ${body.length} bytes, over Consul's ${MAX_VALUE_BYTES}-byte kv_max_value_size; store less per key`,
        { operation, key },
      );
    }
    const params: Array<[string, string]> = [];
    if (options.flags !== undefined)
      params.push(['flags', String(checkUint(options.flags, 'flags', operation, key))]);
    if (options.cas !== undefined)
      params.push(['cas', String(checkUint(options.cas, 'cas', operation, key))]);
    const response = await this.#transport.request({
      operation,
      key,
      method: 'PUT',
      path: kvPath(key),
      query: this.#query(params),
      body,
      contentType: 'application/octet-stream',
      index: 0,
      timeoutMs: this.#config.requestTimeout,
      signal: checkSignal(options.signal, operation, key),
      permissionHint: WRITE_HINT,
    });
    return parseBoolean(response, operation, key);
  }

  /**
   * Deletes a key, or with `recurse` every key under a prefix. Resolves to true unless a `cas` check
   * failed (a missing key counts as deleted, §2). Operation `'kv.delete'`.
   */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const operation = 'kv.delete';
    checkOptions(options, operation, key);
    const recurse = options.recurse === true;
    validateKey(key, operation, recurse);
    const params: Array<[string, string]> = [];
    if (recurse) params.push(['recurse', '']);
    if (options.cas !== undefined) {
      if (recurse) {
        // Consul answers 400 "Conflicting flags" (§2); refuse before sending.
        throw new InvalidArgumentError(
          `${describeTarget(operation, key)}: cas cannot be combined with recurse`,
          {
            operation,
            key,
          },
        );
      }
      params.push(['cas', String(checkUint(options.cas, 'cas', operation, key))]);
    }
    const response = await this.#transport.request({
      operation,
      key,
      method: 'DELETE',
      path: kvPath(key),
      query: this.#query(params),
      index: 0,
      timeoutMs: this.#config.requestTimeout,
      signal: checkSignal(options.signal, operation, key),
      permissionHint: WRITE_HINT,
    });
    return parseBoolean(response, operation, key);
  }

  /**
   * Runs KV operations atomically (`PUT /v1/txn`, §6). Resolves to `{ ok: true, results }` when committed
   * and `{ ok: false, errors }` when rolled back (409). More than 128 operations (TxnTooLargeError) or a
   * body over 512 KiB (ValueTooLargeError) are refused before sending. Operation `'txn'`.
   */
  async txn(ops: TxnOp[], options: { signal?: AbortSignal } = {}): Promise<TxnResult> {
    const operation = 'txn';
    checkOptions(options, operation, undefined);
    const body = encodeTxn(ops);
    const response = await this.#transport.request({
      operation,
      key: undefined,
      method: 'PUT',
      path: '/v1/txn',
      query: this.#query([]),
      body,
      contentType: 'application/json',
      index: 0,
      timeoutMs: this.#config.requestTimeout,
      signal: checkSignal(options.signal, operation, undefined),
      acceptStatus: [409],
      permissionHint: TXN_HINT,
    });
    return parseTxnResult(response);
  }

  /** A read request: dc, the operation's flags, consistency, index, wait, ns, partition (§1). */
  #read(
    operation: string,
    key: string,
    flags: Array<[string, string]>,
    options: ReadOptions | undefined,
    permissionHint: string,
  ): TransportRequest {
    const o = options ?? {};
    checkOptions(o, operation, key);
    const index = o.index === undefined ? 0 : checkUint(o.index, 'index', operation, key);
    const waitMs = o.wait === undefined ? 0 : parseDuration(o.wait, 'wait', operation);
    const consistency = o.consistency ?? 'default';
    const params = [...flags];
    if (consistency === 'stale') params.push(['stale', '']);
    else if (consistency === 'consistent') params.push(['consistent', '']);
    else if (consistency !== 'default') {
      throw new InvalidArgumentError(
        `${describeTarget(operation, key)}: consistency must be 'default', 'stale' or 'consistent'`,
        { operation, key },
      );
    }
    // §1: the Go client sends index only when non-zero, and wait in ms (a positive sub-ms wait → 1ms).
    if (index > 0) params.push(['index', String(index)]);
    if (waitMs > 0) params.push(['wait', `${Math.max(1, Math.trunc(waitMs))}ms`]);
    return {
      operation,
      key,
      method: 'GET',
      path: kvPath(key),
      query: this.#query(params),
      index,
      // §4: a blocking read may legitimately take wait × 17/16 + 7 s.
      timeoutMs: index > 0 ? blockingTimeoutMs(waitMs) : this.#config.requestTimeout,
      signal: checkSignal(o.signal, operation, key),
      acceptStatus: [404],
      permissionHint,
    };
  }

  /** `dc` first, then the operation's parameters, then `ns`/`partition` — only those configured (§8). */
  #query(params: Array<[string, string]>): string {
    const search = new URLSearchParams();
    if (this.#config.datacenter !== undefined) search.append('dc', this.#config.datacenter);
    for (const [name, value] of params) search.append(name, value);
    if (this.#config.namespace !== undefined) search.append('ns', this.#config.namespace);
    if (this.#config.partition !== undefined) search.append('partition', this.#config.partition);
    return search.toString();
  }
}

/**
 * Refuses keys Consul's HTTP layer cannot address (§1): a leading `/`, `//`, `.`/`..` segments (the Go
 * router redirects them to a cleaned path) and non-printable characters (400 with an empty body).
 * @param allowEmpty - true for prefixes (list, keys, recursive delete), where `''` means every key
 * @throws InvalidArgumentError naming the operation and the key
 */
export function validateKey(key: string, operation: string, allowEmpty: boolean): void {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`${operation} ${JSON.stringify(key)}: ${problem}`, { operation, key });
  };
  if (typeof key !== 'string') {
    throw new InvalidArgumentError(`${operation}: the key must be a string`, { operation });
  }
  if (key === '') {
    if (allowEmpty) return;
    fail('the key must not be empty');
  }
  if (key.startsWith('/')) fail("the key must not begin with '/'");
  if (key.includes('//')) fail("the key must not contain '//' (Consul redirects such paths)");
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..') fail("the key must not contain '.' or '..' segments");
  }
  // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
  if (/[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(key)) fail('the key contains non-printable characters');
}

/** `/v1/kv/` + the key with each `/`-separated segment percent-encoded (Consul decodes the path, §1). */
export function kvPath(key: string): string {
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Reads `X-Consul-Index`, `-KnownLeader` and `-LastContact` (§1). A missing or garbage index is 0, not clamped. */
export function parseMeta(response: TransportResponse): QueryMeta {
  const { headers } = response;
  return {
    index: parseUintHeader(headers['x-consul-index']),
    knownLeader: headers['x-consul-knownleader'] === 'true',
    lastContact: parseUintHeader(headers['x-consul-lastcontact']),
    bytes: response.body.length,
  };
}

function parseUintHeader(value: string | string[] | undefined): number {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return 0;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : 0;
}

/**
 * Parses a list of entries in one pass: one `JSON.parse`, then one loop checking each element's shape.
 * Values stay base64 until read. Unknown fields are ignored; `Value`/`Session` may be absent or null (§2).
 */
export function parseEntries(
  response: TransportResponse,
  operation: string,
  key: string | undefined,
): KVEntry[] {
  const parsed = parseJson(response, operation, key);
  if (!Array.isArray(parsed))
    throw malformed(operation, key, 'expected a JSON array of entries', response.status);
  const entries = new Array<KVEntry>(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    entries[i] = toEntry(parsed[i], i, operation, key, response.status);
  }
  return entries;
}

function toEntry(
  raw: unknown,
  position: number,
  operation: string,
  key: string | undefined,
  status: number,
): KVEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw malformed(operation, key, `entry ${position} is not an object`, status);
  }
  const r = raw as Record<string, unknown>;
  const entryKey = r.Key;
  const modifyIndex = r.ModifyIndex;
  const createIndex = r.CreateIndex;
  const flags = r.Flags ?? 0;
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
    (value !== null && typeof value !== 'string') ||
    (session !== undefined && typeof session !== 'string')
  ) {
    throw malformed(operation, key, describeEntryProblem(r, position), status);
  }
  return new KVEntry({
    key: entryKey,
    flags: flags as number,
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
  return `${where}: Session is not a string`;
}

function isUint(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** Standard padded base64, checked strictly: alphabet, padding only at the end, length a multiple of 4. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

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

function parseJson(response: TransportResponse, operation: string, key: string | undefined): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'));
  } catch (error) {
    throw malformed(operation, key, 'the body is not JSON', response.status, error);
  }
}

function parseBoolean(response: TransportResponse, operation: string, key: string): boolean {
  const text = response.body.toString('utf8').trim();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw malformed(operation, key, "expected 'true' or 'false'", response.status);
}

function encodeTxn(ops: TxnOp[]): Buffer {
  const operation = 'txn';
  if (!Array.isArray(ops) || ops.length === 0) {
    throw new InvalidArgumentError('txn: ops must be a non-empty array of operations', { operation });
  }
  if (ops.length > MAX_TXN_OPERATIONS) {
    throw new TxnTooLargeError(
      `txn: ${ops.length} operations, over Consul's limit of ${MAX_TXN_OPERATIONS}; split the transaction`,
      { operation },
    );
  }
  const encoded = ops.map((op, position) => {
    if (typeof op !== 'object' || op === null) {
      throw new InvalidArgumentError(`txn: operation ${position} must be an object`, { operation });
    }
    const { verb, key } = op;
    if (!TXN_VERBS.has(verb)) {
      throw new InvalidArgumentError(`txn: operation ${position} has unknown verb ${JSON.stringify(verb)}`, {
        operation,
        key,
      });
    }
    validateKey(key, operation, TREE_VERBS.has(verb));
    const kv: Record<string, string | number> = { Verb: verb, Key: key };
    if (op.value !== undefined) {
      if (typeof op.value !== 'string' && !(op.value instanceof Uint8Array)) {
        throw new InvalidArgumentError(`txn ${key}: value must be a string or Uint8Array`, {
          operation,
          key,
        });
      }
      const bytes = toBuffer(op.value);
      if (bytes.length > MAX_VALUE_BYTES) {
        throw new ValueTooLargeError(
          `txn ${key}: value is ${bytes.length} bytes, over Consul's ${MAX_VALUE_BYTES}-byte kv_max_value_size`,
          { operation, key },
        );
      }
      kv.Value = bytes.toString('base64');
    }
    if (op.flags !== undefined) kv.Flags = checkUint(op.flags, 'flags', operation, key);
    if (op.index !== undefined) kv.Index = checkUint(op.index, 'index', operation, key);
    if (op.session !== undefined) {
      if (typeof op.session !== 'string') {
        throw new InvalidArgumentError(`txn ${key}: session must be a string`, { operation, key });
      }
      kv.Session = op.session;
    }
    return { KV: kv };
  });
  const body = Buffer.from(JSON.stringify(encoded));
  if (body.length > MAX_TXN_BODY_BYTES) {
    throw new ValueTooLargeError(
      `txn: request body is ${body.length} bytes, over Consul's ${MAX_TXN_BODY_BYTES}-byte txn_max_req_len; split the transaction`,
      { operation },
    );
  }
  return body;
}

function parseTxnResult(response: TransportResponse): TxnResult {
  const operation = 'txn';
  const parsed = parseJson(response, operation, undefined);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw malformed(operation, undefined, 'expected a JSON object with Results and Errors', response.status);
  }
  const { Results: results, Errors: errors } = parsed as Record<string, unknown>;
  if (response.status === 409) {
    if (!Array.isArray(errors))
      throw malformed(operation, undefined, 'a 409 answer without an Errors array', 409);
    return {
      ok: false,
      errors: errors.map((item: unknown, position) => {
        const e = item as Record<string, unknown> | null;
        if (typeof e !== 'object' || e === null || !isUint(e.OpIndex) || typeof e.What !== 'string') {
          throw malformed(
            operation,
            undefined,
            `error ${position} has no integer OpIndex and string What`,
            409,
          );
        }
        return { opIndex: e.OpIndex as number, what: e.What };
      }),
    };
  }
  if (results !== null && results !== undefined && !Array.isArray(results)) {
    throw malformed(operation, undefined, 'Results is not an array', response.status);
  }
  const entries = (results ?? []).map((item: unknown, position) => {
    const kv = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).KV : undefined;
    return toEntry(kv, position, operation, undefined, response.status);
  });
  return { ok: true, results: entries };
}

function checkOptions(options: unknown, operation: string, key: string | undefined): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`${describeTarget(operation, key)}: options must be an object`, {
      operation,
      key,
    });
  }
}

function checkUint(value: unknown, name: string, operation: string, key: string | undefined): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(
      `${describeTarget(operation, key)}: ${name} must be a non-negative integer; got ${String(value)}`,
      { operation, key },
    );
  }
  return value;
}

function checkSignal(signal: unknown, operation: string, key: string | undefined): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new InvalidArgumentError(`${describeTarget(operation, key)}: signal must be an AbortSignal`, {
    operation,
    key,
  });
}

function toBuffer(value: string | Uint8Array): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function malformed(
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
