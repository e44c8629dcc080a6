/**
 * HTTP → store: routing like Consul's Go mux (consul-semantics §1), the KV endpoints (consul-semantics §2) with their index headers (consul-semantics §3),
 * blocking queries (consul-semantics §4) and locks (consul-semantics §L5), and the fault hooks. The txn endpoint lives in txn-route.ts,
 * the session endpoints in session-routes.ts.
 * @module
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { holdBlockingRead, type ReadAnswer, sendRead } from './blocking-read.js';
import {
  admitRequest,
  blockingTimeoutMs,
  bodyTooLargeText,
  type CommonParams,
  declaredContentLength,
  enterpriseRefusal,
  parseCommonParams,
  type RouteContext,
  readMetaHeaders,
  refuseMethod,
  streamTooLargeText,
} from './consul-http.js';
import { type AnswerParts, actOnFault } from './fault-answer.js';
import { goQuote, isGoPrintable, parseGoUint64 } from './go-strconv.js';
import { cleanPath, GoQuery, goPathEscape, goUnescapeBytes } from './go-url.js';
import { readBodyBounded, sendBody, sendText } from './http-io.js';
import { entryToJson, renderJson } from './kv-json.js';
import type { ServiceContext } from './service-http.js';
import { handleServiceRequest, isServicePath } from './service-routes.js';
import { handleSession, SESSION_PREFIX, SESSION_SUBTREES } from './session-routes.js';
import { handleTxn } from './txn-route.js';
import type { WatchTarget } from './waiters.js';

const KV_PREFIX = '/v1/kv/';
const KV_METHODS = new Set(['GET', 'PUT', 'DELETE']);
const KV_ALLOW = 'OPTIONS,GET,PUT,DELETE';
const KV_SIZE_DOCS =
  'https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size';
const JSON_HEADERS: OutgoingHttpHeaders = { 'Content-Type': 'application/json' };
// consul-semantics §2: ?raw answers carry these exact headers.
const RAW_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/plain',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': 'sandbox',
};
/** 400 text for a path whose percent-decoded bytes are not UTF-8 (overlong forms and surrogates included). */
export const INVALID_UTF8_TEXT =
  'Invalid path: the percent-decoded path is not valid UTF-8. The consul-hotreload dev server stores keys ' +
  'as UTF-8 text, so it refuses keys that Consul would keep as raw bytes';
const EMPTY = Buffer.alloc(0);

// Go's net/http writes this raw answer and closes for any Transfer-Encoding but a single `chunked`.
const UNSUPPORTED_TE_RESPONSE =
  'HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n' +
  'Unsupported transfer encoding';

/**
 * Go accepts exactly one `Transfer-Encoding` header whose trimmed value is `chunked` (any case); Node also
 * accepts lists such as `gzip, chunked` and would hand the handler a still-gzipped body.
 */
function hasUnsupportedTransferEncoding(req: IncomingMessage): boolean {
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'transfer-encoding') values.push(raw[i + 1] ?? '');
  }
  if (values.length === 0) return false;
  return values.length !== 1 || values[0]?.trim().toLowerCase() !== 'chunked';
}

/** Creates the server's request listener. */
export function createRequestHandler(
  ctx: RouteContext,
  services?: ServiceContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    ctx.counters.requests++;
    // consul-semantics §L3: TTLs that ran out by the (possibly injected) clock expire before anything is served.
    ctx.sessions.expireDue();
    if (hasUnsupportedTransferEncoding(req)) {
      req.socket.end(UNSUPPORTED_TE_RESPONSE);
      return;
    }
    route(ctx, services, req, res).catch((error: unknown) => {
      ctx.logger.error({ err: error, method: req.method }, 'dev server: request failed');
      if (!res.headersSent) sendText(res, 500, error instanceof Error ? error.message : String(error));
      else res.destroy();
    });
  };
}

async function route(
  ctx: RouteContext,
  services: ServiceContext | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
  const pathBytes = goUnescapeBytes(rawPath, false);
  if (pathBytes === undefined || !rawPath.startsWith('/')) {
    // Go's server cannot parse the request target at all.
    sendText(res, 400, '400 Bad Request', { Connection: 'close' });
    return;
  }
  // Consul would keep such a key as raw bytes (and show it as U+FFFD in JSON); the dev server keeps keys
  // as text, where `%FF` and `%FE` would both become U+FFFD and overwrite each other. Refuse instead.
  if (!isUtf8(pathBytes)) {
    sendText(res, 400, INVALID_UTF8_TEXT);
    return;
  }
  const path = pathBytes.toString('utf8');
  // consul-semantics §1: go-cleanhttp answers a path with non-printable runes with an empty 400, before routing.
  if (!isGoPrintable(path)) {
    sendBody(res, 400, EMPTY);
    return;
  }
  // consul-semantics §1: Go's ServeMux redirects unclean paths (`//`, `.`, `..`) and `/v1/kv` to the clean form.
  const cleaned = cleanPath(path);
  const subtree = path === '/v1/kv' || SESSION_SUBTREES.has(path);
  if (cleaned !== path || subtree) {
    const target = subtree ? `${path}/` : cleaned;
    redirect(req, res, `${goPathEscape(target)}${rawQuery === '' ? '' : `?${rawQuery}`}`);
    return;
  }
  const query = new GoQuery(rawQuery);
  if (path.startsWith(KV_PREFIX)) return handleKv(ctx, req, res, path.slice(KV_PREFIX.length), query);
  if (path === '/v1/txn') return handleTxn(ctx, req, res, query);
  if (path.startsWith(SESSION_PREFIX) && (await handleSession(ctx, req, res, path, query))) return;
  if (services !== undefined && isServicePath(path)) {
    return handleServiceRequest(services, req, res, path, rawQuery, query);
  }
  sendBody(res, 404, EMPTY);
}

/** Go's `http.Redirect` with 301: a small HTML body for GET only. */
function redirect(req: IncomingMessage, res: ServerResponse, location: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendBody(res, 301, EMPTY, { Location: location });
    return;
  }
  const body = req.method === 'GET' ? `<a href="${escapeHtml(location)}">Moved Permanently</a>.\n\n` : '';
  sendBody(res, 301, body, { Location: location, 'Content-Type': 'text/html; charset=utf-8' });
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  "'": '&#39;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&'<>"]/g, (char) => HTML_ESCAPES[char] ?? char);
}

async function handleKv(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  query: GoQuery,
): Promise<void> {
  const method = req.method ?? '';
  if (!KV_METHODS.has(method)) return refuseMethod(req, res, KV_ALLOW);
  const params = parseCommonParams(req, res, query);
  if (params === undefined) return;
  const refusal = enterpriseRefusal(req, query);
  if (refusal !== undefined) return sendText(res, 400, refusal);
  if (method === 'GET') return kvGet(ctx, res, key, query, params);
  if (method === 'PUT') return kvPut(ctx, req, res, key, query, params);
  return kvDelete(ctx, res, key, query, params);
}

// ---------------------------------------------------------------------------------------------------
// Reads

/** What a GET asks for (consul-semantics §2): one key (optionally raw), a recursive list, or a key list. */
type KvRead =
  | { kind: 'get'; key: string; raw: boolean }
  | { kind: 'list'; prefix: string }
  | { kind: 'keys'; prefix: string; separator: string };

function kvReadFrom(key: string, query: GoQuery): KvRead | undefined {
  // consul-semantics §2: keys wins over recurse; `separator` wins over the historic `seperator`.
  if (query.has('keys')) {
    const separator = query.has('separator') ? query.get('separator') : query.get('seperator');
    return { kind: 'keys', prefix: key, separator };
  }
  if (query.has('recurse')) return { kind: 'list', prefix: key };
  if (key === '') return undefined;
  return { kind: 'get', key, raw: query.has('raw') };
}

function watchTargetOf(read: KvRead): WatchTarget {
  return read.kind === 'get' ? { kind: 'key', path: read.key } : { kind: 'prefix', path: read.prefix };
}

function evaluateRead(ctx: RouteContext, read: KvRead, pretty: boolean): ReadAnswer {
  const notFound = (index: number, missingKey: boolean): ReadAnswer => ({
    status: 404,
    index,
    body: EMPTY,
    headers: {},
    missingKey,
  });
  const json = (index: number, value: unknown): ReadAnswer => ({
    status: 200,
    index,
    body: renderJson(value, pretty),
    headers: JSON_HEADERS,
    missingKey: false,
  });
  switch (read.kind) {
    case 'get': {
      const { value: entry, index } = ctx.store.get(read.key);
      if (entry === undefined) return notFound(index, true);
      if (read.raw) {
        return { status: 200, index, body: entry.value ?? EMPTY, headers: RAW_HEADERS, missingKey: false };
      }
      return json(index, [entryToJson(entry)]);
    }
    case 'list': {
      const { value: entries, index } = ctx.store.list(read.prefix);
      // consul-semantics §2: an empty list is a 404, even for the empty prefix.
      return entries.length === 0
        ? notFound(index, false)
        : json(
            index,
            entries.map((entry) => entryToJson(entry)),
          );
    }
    case 'keys': {
      const { value: keys, index } = ctx.store.keys(read.prefix, read.separator);
      // consul-semantics §2: no keys is a 404, except for the empty prefix, which answers [].
      return keys.length === 0 && read.prefix !== '' ? notFound(index, false) : json(index, keys);
    }
  }
}

/** What makes two KV reads answer alike: the read itself and `?pretty`. */
function readIdentity(read: KvRead, pretty: boolean): string {
  const detail =
    read.kind === 'get'
      ? `${read.key}\u0000${read.raw}`
      : read.kind === 'keys'
        ? `${read.prefix}\u0000${read.separator}`
        : read.prefix;
  return `kv\u0000${read.kind}\u0000${detail}\u0000${pretty}`;
}

function kvGet(
  ctx: RouteContext,
  res: ServerResponse,
  key: string,
  query: GoQuery,
  params: CommonParams,
): void {
  const read = kvReadFrom(key, query);
  if (read === undefined) {
    sendText(res, 400, 'Missing key name');
    return;
  }
  // The ACL check comes before any fault: a denied request sees no data, no index and uses up no rule.
  if (!admitRequest(ctx, res, params, 'read')) return;
  const blocking = params.minIndex > 0n;
  const evaluate = () => evaluateRead(ctx, read, params.pretty);
  const fault = ctx.faults.take({ method: 'GET', path: key, blocking });
  if (fault !== undefined && actOnFault(ctx, res, fault, () => answerParts(evaluate()))) return;

  const indexOverride = fault?.kind === 'index' ? fault.index : undefined;
  // consul-semantics §4: only index > 0 blocks; otherwise wait is ignored.
  if (!blocking) {
    sendRead(ctx, res, evaluate(), indexOverride);
    return;
  }
  const target = watchTargetOf(read);
  // Identical reads woken by one write share one evaluation (the answer depends on nothing else).
  const shareKey = readIdentity(read, params.pretty);
  holdBlockingRead(ctx, res, {
    kind: 'kv',
    subscribe: (wake) => ctx.waiters.add(target, wake),
    evaluate: () => ctx.waiters.shared(shareKey, evaluate),
    minIndex: params.minIndex,
    timeoutMs: blockingTimeoutMs(ctx.settings, params.waitMs),
    spurious: fault?.kind === 'spurious',
    indexOverride,
  });
}

// ---------------------------------------------------------------------------------------------------
// Faults

function answerParts(answer: ReadAnswer): AnswerParts {
  return { body: answer.body, headers: { ...readMetaHeaders(answer.index), ...answer.headers } };
}

// ---------------------------------------------------------------------------------------------------
// Writes

function sendWriteResult(res: ServerResponse, ok: boolean, pretty: boolean): void {
  // consul-semantics §1: writes set none of the index headers.
  sendBody(res, 200, renderJson(ok, pretty), JSON_HEADERS);
}

/** consul-semantics §2: more than one of these flags → 400 `Conflicting flags: <sorted, encoded query>`. */
function conflictingFlags(res: ServerResponse, query: GoQuery, flags: readonly string[]): boolean {
  if (flags.filter((flag) => query.has(flag)).length < 2) return false;
  sendText(res, 400, `Conflicting flags: ${query.encode()}\n`);
  return true;
}

/** consul-semantics §2: a present but unparseable uint64 parameter is a plain error → 500 with Go's parse text. */
function uint64Param(res: ServerResponse, query: GoQuery, name: string): bigint | null | undefined {
  if (!query.has(name)) return undefined;
  const parsed = parseGoUint64(query.get(name));
  if (parsed.ok) return parsed.value;
  sendText(res, 500, parsed.message);
  return null;
}

async function kvPut(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  query: GoQuery,
  params: CommonParams,
): Promise<void> {
  if (key === '') return sendText(res, 400, 'Missing key name');
  if (conflictingFlags(res, query, ['cas', 'acquire', 'release'])) return;
  const flags = uint64Param(res, query, 'flags');
  if (flags === null) return;
  const casIndex = uint64Param(res, query, 'cas');
  if (casIndex === null) return;
  const maxBytes = ctx.settings.kvMaxValueSize;
  const declared = declaredContentLength(req);
  if (declared > maxBytes) return sendText(res, 413, bodyTooLargeText(declared, maxBytes, KV_SIZE_DOCS));
  // The token is checked before the body is read: a denied client cannot make the server buffer up to
  // kv_max_value_size per connection (Node discards the unread rest once the 403 is sent).
  if (!admitRequest(ctx, res, params, 'write')) return;
  const read = await readBodyBounded(req, maxBytes);
  if (read.kind === 'aborted') return;
  if (read.kind === 'too-large') return sendText(res, 413, streamTooLargeText(maxBytes, KV_SIZE_DOCS));

  const fault = ctx.faults.take({ method: 'PUT', path: key, blocking: false });
  if (fault !== undefined && actOnFault(ctx, res, fault, writeAnswerParts)) return;
  // consul-semantics §2: an empty body is stored as a nil value.
  const value = read.body.length === 0 ? null : read.body;
  if (query.has('acquire') || query.has('release')) {
    return kvLock(ctx, res, { key, value, flags: flags ?? 0n }, query, params.pretty);
  }
  if (casIndex === undefined) {
    ctx.store.set(key, value, flags ?? 0n);
    return sendWriteResult(res, true, params.pretty);
  }
  sendWriteResult(res, ctx.store.cas(key, value, flags ?? 0n, casIndex), params.pretty);
}

/**
 * `?acquire` / `?release` (consul-semantics §L5): a key inside its lock-delay answers `false` before the session is
 * even looked at; an empty or unknown session is a 500 from the Raft apply.
 */
function kvLock(
  ctx: RouteContext,
  res: ServerResponse,
  write: { key: string; value: Buffer | null; flags: bigint },
  query: GoQuery,
  pretty: boolean,
): void {
  const outcome = lockOutcome(ctx, write, query);
  if (typeof outcome === 'boolean') sendWriteResult(res, outcome, pretty);
  else sendText(res, 500, outcome.error);
}

function lockOutcome(
  ctx: RouteContext,
  { key, value, flags }: { key: string; value: Buffer | null; flags: bigint },
  query: GoQuery,
): boolean | { error: string } {
  const acquire = query.has('acquire');
  const session = query.get(acquire ? 'acquire' : 'release');
  if (acquire && ctx.sessions.lockDelayed(key)) {
    ctx.logger.debug({ key }, 'dev server: rejecting lock due to lock-delay');
    return false;
  }
  if (session === '') return { error: 'raft apply failed: missing session' };
  if (!acquire) return ctx.store.release(key, value, flags, session);
  if (ctx.sessions.get(session) === undefined) {
    return { error: `raft apply failed: invalid session ${goQuote(session)}` };
  }
  return ctx.store.acquire(key, value, flags, session);
}

function kvDelete(
  ctx: RouteContext,
  res: ServerResponse,
  key: string,
  query: GoQuery,
  params: CommonParams,
): void {
  if (conflictingFlags(res, query, ['recurse', 'cas'])) return;
  const recurse = query.has('recurse');
  if (!recurse && key === '') {
    sendText(res, 400, 'Missing key name');
    return;
  }
  const casIndex = uint64Param(res, query, 'cas');
  if (casIndex === null) return;

  if (!admitRequest(ctx, res, params, 'write')) return;
  const fault = ctx.faults.take({ method: 'DELETE', path: key, blocking: false });
  if (fault !== undefined && actOnFault(ctx, res, fault, writeAnswerParts)) return;
  let deleted = true;
  if (recurse) ctx.store.deleteTree(key);
  else if (casIndex !== undefined) deleted = ctx.store.deleteCas(key, casIndex);
  else ctx.store.delete(key);
  // consul-semantics §2: true unless a CAS delete found the key at another ModifyIndex.
  sendWriteResult(res, deleted, params.pretty);
}

function writeAnswerParts(): AnswerParts {
  return { body: Buffer.from('true'), headers: JSON_HEADERS };
}
