/**
 * The KV API (`/v1/kv/`, `/v1/txn`): one method per operation, building requests (blocking-query parameters
 * included) and reading answers' metadata; entries are parsed in kv-entry.ts, transactions coded in txn.ts.
 * @module
 */
import { InvalidArgumentError, ValueTooLargeError } from '../errors.js';
import { blockingTimeoutMs, waitParam } from './blocking.js';
import type { Consistency, ResolvedClientConfig } from './config.js';
import { parseDuration } from './duration.js';
import {
  checkFlags,
  checkOptions,
  checkSignal,
  checkUint,
  checkValue,
  MAX_VALUE_BYTES,
  validateKey,
} from './kv-args.js';
import { type KVEntry, malformed, parseBoolean, parseEntries, parseJson } from './kv-entry.js';
import type { ListParser } from './kv-list-parser.js';
import {
  describeTarget,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.js';
import { encodeTxn, parseTxnResult, type TxnOp, type TxnResult } from './txn.js';

/** Metadata of a read, from the response headers (consul-semantics §1). */
export interface QueryMeta {
  /** `X-Consul-Index` as received; 0 when missing or unparseable (the watcher clamps it, consul-semantics §4.7). */
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
   * passes (consul-semantics §4). 0 or undefined → immediate answer.
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
   * Consistency mode (consul-semantics §1).
   * @default 'default'
   */
  consistency?: Consistency;
  /** Aborts the read with AbortedError. */
  signal?: AbortSignal;
}

/** Options of {@link KV.keys}. */
export interface KeysOptions extends ReadOptions {
  /**
   * Fold keys after the first occurrence of this string past the prefix (`'/'` lists one level) (consul-semantics §2).
   * @default undefined (all keys)
   */
  separator?: string;
}

/** Options of {@link KV.put}. */
export interface PutOptions {
  /**
   * Opaque unsigned 64-bit integer stored with the value: a safe integer, or a bigint up to 2^64-1 (write
   * back {@link KVEntry.flagsBigInt} to keep flags above 2^53-1 exact).
   * @default 0
   */
  flags?: number | bigint;
  /**
   * Check-and-set: write only if the key's `ModifyIndex` equals this (0 = only if absent). The call then
   * resolves to false when the check fails.
   * @default undefined (unconditional write)
   */
  cas?: number;
  /**
   * Lock the key for this session (`?acquire`, consul-semantics §L5): the call resolves to false when another
   * session holds the key or it is inside a lock-delay. Not with `cas` or `release`.
   * @default undefined (no lock)
   */
  acquire?: string;
  /**
   * Unlock the key held by this session (`?release`, consul-semantics §L5): resolves to false when the session
   * does not hold it. Not with `cas` or `acquire`.
   * @default undefined
   */
  release?: string;
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

/** Result of {@link KV.get}; `entry` is null when the key does not exist (404, with the index, consul-semantics §3). */
export interface KVGetResult extends QueryMeta {
  entry: KVEntry | null;
}

/** Result of {@link KV.list}; no entries (404) gives `[]`. Sorted by key (consul-semantics §2). */
export interface KVListResult extends QueryMeta {
  entries: KVEntry[];
}

/** Result of {@link KV.keys}; no keys (404) gives `[]`. */
export interface KVKeysResult extends QueryMeta {
  keys: string[];
}

/**
 * Internal option of {@link KV.list} (not exported from the package): the {@link ListParser} of the query
 * the answers belong to, so an answer after one change parses only the entries around it.
 */
export const kListParser: unique symbol = Symbol('consul-hotreload.listParser');

/** {@link ReadOptions} with the internal option of {@link KV.list}. */
export interface ListInternalOptions extends ReadOptions {
  [kListParser]?: ListParser;
}

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
   * Reads one key. A missing key is not an error: `entry` is null and `index` is Consul's (consul-semantics §3).
   * Operation `'kv.get'`.
   */
  get(key: string, options?: ReadOptions): Promise<KVGetResult> {
    // Not an async function: the answer is parsed in the transport promise's own `then`, one promise hop
    // from the socket, which is what a watch of one key waits for.
    const operation = 'kv.get';
    let request: TransportRequest;
    try {
      validateKey(key, operation, false);
      request = this.#read(operation, key, [], options, READ_KEY_HINT);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transport.request(request).then((response) => keyResult(response, key));
  }

  /**
   * Reads every entry whose key starts with `prefix` (raw string match: `app` also matches `apple`, so
   * watch folders with a trailing `/`, consul-semantics §2.3). `''` reads the whole store. Operation `'kv.list'`.
   */
  async list(prefix: string, options?: ReadOptions): Promise<KVListResult> {
    const operation = 'kv.list';
    validateKey(prefix, operation, true);
    const response = await this.#transport.request(
      this.#read(operation, prefix, [['recurse', '']], options, READ_PREFIX_HINT),
    );
    const meta = parseMeta(response);
    const parser = (options as ListInternalOptions | undefined)?.[kListParser];
    if (response.status === 404) {
      parser?.reset();
      return { entries: [], ...meta };
    }
    const entries =
      parser === undefined
        ? parseEntries(response, operation, prefix)
        : // The watch only reads the shared array (see ListParser.parse).
          (parser.parse(response, operation, prefix) as KVEntry[]);
    return { entries, ...meta };
  }

  /** Lists the keys under `prefix`, folded at `separator` when given (consul-semantics §2). Operation `'kv.keys'`. */
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
   * Writes a value. Resolves to true when written; with `cas`, `acquire` or `release`, false when Consul
   * refused (check failed, lock held by another session or in its lock-delay, lock not ours).
   * Values over 512 KiB are refused before sending (ValueTooLargeError). Operation `'kv.put'`.
   */
  async put(key: string, value: string | Uint8Array, options: PutOptions = {}): Promise<boolean> {
    const operation = 'kv.put';
    validateKey(key, operation, false);
    checkOptions(options, operation, key);
    const body = checkValue(value, operation, key);
    if (body.length > MAX_VALUE_BYTES) {
      throw new ValueTooLargeError(
        `${describeTarget(operation, key)}: value is ${body.length} bytes, over Consul's ${MAX_VALUE_BYTES}-byte kv_max_value_size; store less per key`,
        { operation, key },
      );
    }
    const params: Array<[string, string]> = [];
    if (options.flags !== undefined)
      params.push(['flags', String(checkFlags(options.flags, operation, key))]);
    if (options.cas !== undefined)
      params.push(['cas', String(checkUint(options.cas, 'cas', operation, key))]);
    for (const name of ['acquire', 'release'] as const) {
      const session = options[name];
      if (session === undefined) continue;
      // Consul answers 400 "Conflicting flags" to two of cas/acquire/release (consul-semantics §L5).
      if (params.some(([param]) => param !== 'flags') || typeof session !== 'string' || session === '') {
        throw new InvalidArgumentError(
          `${describeTarget(operation, key)}: ${name} must be a session ID, and cas, acquire and release exclude each other`,
          { operation, key },
        );
      }
      params.push([name, session]);
    }
    return this.#write(operation, key, 'PUT', params, options.signal, body);
  }

  /**
   * Deletes a key, or with `recurse` every key under a prefix. Resolves to true unless a `cas` check
   * failed (a missing key counts as deleted, consul-semantics §2). Operation `'kv.delete'`.
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
        // Consul answers 400 "Conflicting flags" (consul-semantics §2); refuse before sending.
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
    return this.#write(operation, key, 'DELETE', params, options.signal, undefined);
  }

  /**
   * Runs KV operations atomically (`PUT /v1/txn`, consul-semantics §6). Resolves to `{ ok: true, results }` when committed
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

  /**
   * The one write path of `put` and `delete`: a request whose answer is Consul's `true`/`false` (consul-semantics §2). Writes
   * send no index and use `requestTimeout`.
   */
  async #write(
    operation: string,
    key: string,
    method: 'PUT' | 'DELETE',
    params: Array<[string, string]>,
    signal: AbortSignal | undefined,
    body: Buffer | undefined,
  ): Promise<boolean> {
    const response = await this.#transport.request({
      operation,
      key,
      method,
      path: kvPath(key),
      query: this.#query(params),
      ...(body === undefined ? {} : { body, contentType: 'application/octet-stream' }),
      index: 0,
      timeoutMs: this.#config.requestTimeout,
      signal: checkSignal(signal, operation, key),
      permissionHint: WRITE_HINT,
    });
    return parseBoolean(response, operation, key);
  }

  /** A read request: dc, the operation's flags, consistency, index, wait, ns, partition (consul-semantics §1). */
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
    // consul-semantics §1: the Go client sends index only when non-zero, and wait in ms (a positive sub-ms wait → 1ms).
    if (index > 0) params.push(['index', String(index)]);
    const wait = waitParam(waitMs);
    if (wait !== undefined) params.push(['wait', wait]);
    return {
      operation,
      key,
      method: 'GET',
      path: kvPath(key),
      query: this.#query(params),
      index,
      // consul-semantics §4: a blocking read may legitimately take wait × 17/16 + 7 s.
      timeoutMs: index > 0 ? blockingTimeoutMs(waitMs) : this.#config.requestTimeout,
      signal: checkSignal(o.signal, operation, key),
      acceptStatus: [404],
      permissionHint,
    };
  }

  /** `dc` first, then the operation's parameters, then `ns`/`partition` — only those configured (consul-semantics §1.5). */
  #query(params: Array<[string, string]>): string {
    let query = '';
    const add = (name: string, value: string): void => {
      query += `${query === '' ? '' : '&'}${formPair(name, value)}`;
    };
    if (this.#config.datacenter !== undefined) add('dc', this.#config.datacenter);
    for (const [name, value] of params) add(name, value);
    if (this.#config.namespace !== undefined) add('ns', this.#config.namespace);
    if (this.#config.partition !== undefined) add('partition', this.#config.partition);
    return query;
  }
}

/** A `kv.get` answer: the entry (null for a 404) and Consul's metadata. */
function keyResult(response: TransportResponse, key: string): KVGetResult {
  const entry = response.status === 404 ? null : (parseEntries(response, 'kv.get', key)[0] ?? null);
  // Fields written out rather than spread: an object spread is slow in code not yet optimized.
  const { index, knownLeader, lastContact, bytes } = parseMeta(response);
  return { entry, index, knownLeader, lastContact, bytes };
}

/** `/v1/kv/` + the key with each `/`-separated segment percent-encoded (Consul decodes the path, consul-semantics §1). */
export function kvPath(key: string): string {
  // Most keys need no encoding at all: no array of segments per request for them.
  if (PATH_SAFE.test(key)) return `/v1/kv/${key}`;
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Keys that `encodeURIComponent` leaves as they are, segment by segment. */
const PATH_SAFE = /^[A-Za-z0-9\-_.~/]*$/;

/** Names and values that URLSearchParams writes as they are. */
const FORM_SAFE = /^[A-Za-z0-9*\-._]*$/;

/**
 * `name=value` exactly as URLSearchParams writes it (WHATWG form encoding), without making one per request
 * for the digits and durations a blocking query sends.
 */
function formPair(name: string, value: string): string {
  if (FORM_SAFE.test(name) && FORM_SAFE.test(value)) return `${name}=${value}`;
  return new URLSearchParams([[name, value]]).toString();
}

/** Reads `X-Consul-Index`, `-KnownLeader` and `-LastContact` (consul-semantics §1). A missing or garbage index is 0, not clamped. */
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
