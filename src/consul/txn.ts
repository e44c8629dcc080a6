/**
 * The `/v1/txn` codec: KV operations encoded into Consul's request body, and its 200/409 answer decoded.
 * @module
 */
import { InvalidArgumentError, TxnTooLargeError, ValueTooLargeError } from '../errors.js';
import { checkFlags, checkUint, checkValue, MAX_VALUE_BYTES, validateKey } from './kv-args.js';
import { isUint, type KVEntry, malformed, parseJson, toEntry } from './kv-entry.js';
import type { TransportResponse } from './transport.js';

/** Consul's limit on operations per transaction (consul-semantics §6). */
export const MAX_TXN_OPERATIONS = 128;
/** Consul's default `txn_max_req_len` (consul-semantics §6). */
export const MAX_TXN_BODY_BYTES = 524_288;

/** KV verbs of `/v1/txn` (consul-semantics §6). */
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
  /** A safe integer, or a bigint up to 2^64-1 (Consul's uint64). */
  flags?: number | bigint;
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

const OPERATION = 'txn';
/** Stands for flags above 2^53-1 while the body is stringified; JSON.stringify writes it as `"\u0000"`. */
const FLAGS_PLACEHOLDER = '\u0000';

/**
 * The request body of a transaction, every operation checked first.
 * @throws InvalidArgumentError for a bad operation; TxnTooLargeError over 128 operations; ValueTooLargeError
 * for a value or body over Consul's limits
 */
export function encodeTxn(ops: TxnOp[]): Buffer {
  const operation = OPERATION;
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
    let exactFlags: bigint | undefined;
    if (op.value !== undefined) {
      const bytes = checkValue(op.value, operation, key);
      if (bytes.length > MAX_VALUE_BYTES) {
        throw new ValueTooLargeError(
          `txn ${key}: value is ${bytes.length} bytes, over Consul's ${MAX_VALUE_BYTES}-byte kv_max_value_size`,
          { operation, key },
        );
      }
      kv.Value = bytes.toString('base64');
    }
    if (op.flags !== undefined) {
      const flags = checkFlags(op.flags, operation, key);
      if (typeof flags === 'bigint' && flags > BigInt(Number.MAX_SAFE_INTEGER)) {
        // JSON.stringify has no bigint; a placeholder keeps the field's place and is swapped for the digits.
        kv.Flags = FLAGS_PLACEHOLDER;
        exactFlags = flags;
      } else {
        kv.Flags = Number(flags);
      }
    }
    if (op.index !== undefined) kv.Index = checkUint(op.index, 'index', operation, key);
    if (op.session !== undefined) {
      if (typeof op.session !== 'string') {
        throw new InvalidArgumentError(`txn ${key}: session must be a string`, { operation, key });
      }
      kv.Session = op.session;
    }
    const json = JSON.stringify({ KV: kv });
    // Only the real field can read `"Flags":"\u0000"`: a quote inside a user string is escaped.
    return exactFlags === undefined ? json : json.replace('"Flags":"\\u0000"', `"Flags":${exactFlags}`);
  });
  const body = Buffer.from(`[${encoded.join(',')}]`);
  if (body.length > MAX_TXN_BODY_BYTES) {
    throw new ValueTooLargeError(
      `txn: request body is ${body.length} bytes, over Consul's ${MAX_TXN_BODY_BYTES}-byte txn_max_req_len; split the transaction`,
      { operation },
    );
  }
  return body;
}

/** Decodes a 200 (committed, with results) or 409 (rolled back, with every failing op) answer (consul-semantics §6). */
export function parseTxnResult(response: TransportResponse): TxnResult {
  const operation = OPERATION;
  // Results may hold uint64 Flags; the answer is small, so it is always read with exact flags.
  const parsed = parseJson(response, operation, undefined, true);
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
