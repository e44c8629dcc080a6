/**
 * `PUT /v1/txn` (consul-semantics §6): size and op-count limits with Consul's texts, KV ops decoded from the API format,
 * read-only transactions through the read path (consistency parsing, leader headers, query-meta fields in
 * the body), write transactions through one atomic store transaction; 200 when committed, 409 with every
 * error when rolled back.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  admitRequest,
  bodyTooLargeText,
  declaredContentLength,
  parseCommonParams,
  type RouteContext,
  refuseMethod,
  refuseWithoutLeader,
  requestToken,
  streamTooLargeText,
} from './consul-http.js';
import { goQuote, parseGoUint64 } from './go-strconv.js';
import type { GoQuery } from './go-url.js';
import { readBodyBounded, sendBody, sendText } from './http-io.js';
import { field, goJsonType, isJsonObject, JsonNumber, parseJsonKeepingNumbers } from './json-numbers.js';
import { entryToJson, renderJson } from './kv-json.js';
import { TXN_WRITE_VERBS, type TxnKvOp, type TxnOutcome } from './store.js';

/** consul-semantics §6: at most this many operations per transaction. */
export const MAX_TXN_OPS = 128;
const TXN_SIZE_DOCS = 'https://developer.hashicorp.com/consul/docs/agent/config/config-files#txn_max_req_len';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A request body Consul would refuse, with the status and text it would answer. */
class TxnBodyError extends Error {
  readonly status: number;
  constructor(status: number, text: string) {
    super(text);
    this.status = status;
  }
}

interface DecodedTxn {
  readonly ops: TxnKvOp[];
  /** Whether any op is a Node, Service or Check op (not served by the dev server). */
  readonly hasCatalogOps: boolean;
}

/** Handles `/v1/txn`. */
export async function handleTxn(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
): Promise<void> {
  if (req.method !== 'PUT') return refuseMethod(req, res, 'OPTIONS,PUT');
  // consul-semantics §6: the limit is the larger of txn_max_req_len and kv_max_value_size.
  const maxBytes = Math.max(ctx.settings.txnMaxReqLen, ctx.settings.kvMaxValueSize);
  const declared = declaredContentLength(req);
  if (declared > maxBytes) return sendText(res, 413, bodyTooLargeText(declared, maxBytes, TXN_SIZE_DOCS));
  // Datacenter and token come from the URL and headers, so they are checked before the body is read: a
  // denied client cannot make the server buffer a body.
  const admission = { datacenter: query.get('dc'), token: requestToken(req, query) };
  if (!admitRequest(ctx, res, admission, 'later')) return;
  const read = await readBodyBounded(req, maxBytes);
  if (read.kind === 'aborted') return;
  if (read.kind === 'too-large') return sendText(res, 413, streamTooLargeText(maxBytes, TXN_SIZE_DOCS));

  let decoded: DecodedTxn;
  try {
    decoded = decodeTxn(read.body, ctx.settings.kvMaxValueSize);
  } catch (error) {
    if (error instanceof TxnBodyError) return sendText(res, error.status, error.message);
    throw error;
  }
  const { ops, hasCatalogOps } = decoded;
  if (hasCatalogOps) {
    return sendText(res, 400, 'The consul-hotreload dev server supports only KV operations in transactions');
  }
  // consul-semantics §6: a transaction without writes takes the read path (consistency and wait parsing, leader headers);
  // a write transaction ignores those parameters.
  const readOnly = !ops.some((op) => TXN_WRITE_VERBS.has(op.verb));
  const params = readOnly ? parseCommonParams(req, res, query) : { pretty: query.has('pretty') };
  if (params === undefined) return;
  // consul-semantics §S9.5: a read-only transaction is a read (served stale without a leader), any other a write.
  if (refuseWithoutLeader(ctx, res, readOnly && 'stale' in params && params.stale)) return;

  const knownLeader = ctx.leader.hasLeader;
  const outcome = ctx.store.runTxn(ops, ctx.sessions.rules);
  const body = {
    ...txnResponseBody(outcome),
    ...(readOnly ? { ...READ_QUERY_META, KnownLeader: knownLeader } : {}),
  };
  const headers = readOnly
    ? {
        'Content-Type': 'application/json',
        'X-Consul-KnownLeader': String(knownLeader),
        'X-Consul-LastContact': '0',
      }
    : { 'Content-Type': 'application/json' };
  sendBody(res, outcome.ok ? 200 : 409, renderJson(body, params.pretty), headers);
}

// consul-semantics §6: a read-only transaction's body embeds the query-meta fields of a leader answering a non-blocking read.
const READ_QUERY_META = {
  Index: 0,
  LastContact: 0,
  KnownLeader: true,
  ConsistencyLevel: '',
  NotModified: false,
  Backend: 0,
  ResultsFilteredByACLs: false,
};

function txnResponseBody(outcome: TxnOutcome): { Results: unknown; Errors: unknown } {
  if (!outcome.ok) {
    return {
      Results: null,
      Errors: outcome.errors.map((error) => ({ OpIndex: error.opIndex, What: error.what })),
    };
  }
  return {
    Results: outcome.results.map((result) => ({ KV: entryToJson(result.entry, result.withValue) })),
    Errors: null,
  };
}

function parseFailure(message: string): TxnBodyError {
  return new TxnBodyError(400, `Failed to parse body: ${message}`);
}

/** Decodes and checks the ops in Consul's order (consul-semantics §6): JSON, op count, value sizes. Throws {@link TxnBodyError}. */
function decodeTxn(body: Buffer, kvMaxValueSize: number): DecodedTxn {
  let parsed: unknown;
  try {
    parsed = parseJsonKeepingNumbers(body.toString('utf8'));
  } catch (error) {
    throw parseFailure(error instanceof Error ? error.message : String(error));
  }
  if (parsed === null) parsed = [];
  if (!Array.isArray(parsed)) {
    throw parseFailure(`json: cannot unmarshal ${goJsonType(parsed)} into Go value of type api.TxnOps`);
  }
  const ops: TxnKvOp[] = [];
  let hasCatalogOps = false;
  for (const item of parsed) {
    if (item === null) continue;
    if (!isJsonObject(item)) {
      throw parseFailure(`json: cannot unmarshal ${goJsonType(item)} into Go value of type api.TxnOp`);
    }
    const op = item;
    const kv = field(op, 'KV');
    if (kv !== undefined && kv !== null) ops.push(decodeKvOp(kv));
    else if (['Node', 'Service', 'Check'].some((name) => (field(op, name) ?? null) !== null))
      hasCatalogOps = true;
  }
  if (parsed.length > MAX_TXN_OPS) {
    throw new TxnBodyError(
      413,
      `Transaction contains too many operations (${parsed.length} > ${MAX_TXN_OPS})`,
    );
  }
  for (const op of ops) {
    const size = op.value?.length ?? 0;
    if (size > kvMaxValueSize) {
      throw new TxnBodyError(
        413,
        `Value for key ${goQuote(op.key)} is too large (${size} > ${kvMaxValueSize} bytes)`,
      );
    }
  }
  return { ops, hasCatalogOps };
}

function decodeKvOp(raw: unknown): TxnKvOp {
  if (!isJsonObject(raw)) {
    throw parseFailure(
      `json: cannot unmarshal ${goJsonType(raw)} into Go struct field TxnOp.KV of type api.KVTxnOp`,
    );
  }
  const kv = raw;
  const mistyped = (name: string, goType: string, value: unknown) =>
    parseFailure(
      `json: cannot unmarshal ${goJsonType(value)} into Go struct field KVTxnOp.KV.${name} of type ${goType}`,
    );
  const text = (name: string): string => {
    const value = field(kv, name) ?? '';
    if (typeof value !== 'string') throw mistyped(name, 'string', value);
    return value;
  };
  const uint64 = (name: string): bigint => {
    const value = field(kv, name) ?? null;
    if (value === null) return 0n;
    if (!(value instanceof JsonNumber)) throw mistyped(name, 'uint64', value);
    // Go's decoder parses the literal with ParseUint: a sign, fraction, exponent or 2^64 is refused.
    const parsed = parseGoUint64(value.literal);
    if (!parsed.ok) {
      throw parseFailure(
        `json: cannot unmarshal number ${value.literal} into Go struct field KVTxnOp.KV.${name} of type uint64`,
      );
    }
    return parsed.value;
  };

  const verb = text('Verb');
  const key = text('Key');
  const base64 = text('Value').replace(/[\r\n]/g, '');
  const flags = uint64('Flags');
  const index = uint64('Index');
  const session = text('Session');
  if (!BASE64.test(base64)) {
    const badAt = [...base64].findIndex((char) => !/[A-Za-z0-9+/=]/.test(char));
    throw parseFailure(`illegal base64 data at input byte ${badAt < 0 ? base64.length : badAt}`);
  }
  const value = Buffer.from(base64, 'base64');
  // An empty value is stored as nil, as for a PUT with an empty body (consul-semantics §2).
  return { verb, key, value: value.length === 0 ? null : value, flags, index, session };
}
