/**
 * HTTP → session store: `PUT /v1/session/create|destroy/<id>|renew/<id>` and the blocking reads
 * `GET /v1/session/info/<id>|list|node/<node>`, with Consul's defaults, texts and JSON (consul-semantics §L1–§L3).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { holdBlockingRead, type ReadAnswer, sendRead } from './blocking-read.js';
import {
  admitRequest,
  blockingTimeoutMs,
  type CommonParams,
  DATACENTER,
  declaredContentLength,
  enterpriseRefusal,
  parseCommonParams,
  permissionDeniedText,
  type RouteContext,
  readMetaHeaders,
  refuseMethod,
  refuseWithoutLeader,
  requestToken,
} from './consul-http.js';
import { actOnFault } from './fault-answer.js';
import { scanGoJson } from './go-json-syntax.js';
import { goQuote, parseGoDurationNs } from './go-strconv.js';
import type { GoQuery } from './go-url.js';
import { readBodyBounded, sendBody, sendText } from './http-io.js';
import { field, goJsonType, isJsonObject, JsonNumber, parseJsonKeepingNumbers } from './json-numbers.js';
import { renderJson } from './kv-json.js';
import { SERF_HEALTH_CHECK, type Session, type SessionServiceCheck, type SessionSpec } from './sessions.js';

/** Every session path starts with this. */
export const SESSION_PREFIX = '/v1/session/';
/** The subtree paths Go's mux redirects to their form with a trailing slash (consul-semantics §1). */
export const SESSION_SUBTREES: ReadonlySet<string> = new Set(
  ['destroy', 'renew', 'info', 'node'].map((name) => `${SESSION_PREFIX}${name}`),
);
const JSON_HEADERS = { 'Content-Type': 'application/json' };
// consul-semantics §L1: numeric lock-delays below this many nanoseconds are taken as seconds.
const LOCK_DELAY_SECONDS_BELOW = 1000;
const DEFAULT_LOCK_DELAY_NS = 15_000_000_000;
/** A dev-server bound on a create body, which Consul reads unbounded. */
const MAX_CREATE_BODY_BYTES = 65_536;

/** Handles a path under `/v1/session/`; returns false when no session endpoint has that path (→ 404). */
export async function handleSession(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: GoQuery,
): Promise<boolean> {
  const rest = path.slice(SESSION_PREFIX.length);
  const slash = rest.indexOf('/');
  const endpoint = slash < 0 ? rest : rest.slice(0, slash);
  const arg = slash < 0 ? undefined : rest.slice(slash + 1);
  switch (slash < 0 ? endpoint : `${endpoint}/`) {
    case 'create':
      await sessionCreate(ctx, req, res, query, path);
      return true;
    case 'destroy/':
      sessionDestroy(ctx, req, res, query, arg ?? '', path);
      return true;
    case 'renew/':
      sessionRenew(ctx, req, res, query, arg ?? '', path);
      return true;
    case 'info/':
      sessionRead(ctx, req, res, query, { kind: 'info', arg: arg ?? '', path });
      return true;
    case 'node/':
      sessionRead(ctx, req, res, query, { kind: 'node', arg: arg ?? '', path });
      return true;
    case 'list':
      sessionRead(ctx, req, res, query, { kind: 'list', arg: '', path });
      return true;
    default:
      return false;
  }
}

/** Consul's JSON for a session (consul-semantics §L1): Go field order, `LockDelay` in ns, `Checks` only when set. */
export function sessionToJson(session: Session): Record<string, unknown> {
  return {
    ID: session.id,
    Name: session.name,
    Node: session.node,
    LockDelay: session.lockDelayNs,
    Behavior: session.behavior,
    TTL: session.ttl,
    NodeChecks: session.nodeChecks,
    ServiceChecks:
      session.serviceChecks?.map((check) => ({ ID: check.id, Namespace: check.namespace })) ?? null,
    ...(session.checks !== null && session.checks.length > 0 ? { Checks: session.checks } : {}),
    CreateIndex: session.createIndex,
    ModifyIndex: session.modifyIndex,
  };
}

async function sessionCreate(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
  path: string,
): Promise<void> {
  if (req.method !== 'PUT') return refuseMethod(req, res, 'OPTIONS,PUT');
  const refusal = enterpriseRefusal(req, query);
  if (refusal !== undefined) return sendText(res, 400, refusal);
  let spec = defaultSpec(ctx.sessions.nodeName);
  // consul-semantics §L1: the body is read only when Content-Length says it has one.
  if (declaredContentLength(req) > 0) {
    const read = await readBodyBounded(req, MAX_CREATE_BODY_BYTES);
    if (read.kind === 'aborted') return;
    if (read.kind === 'too-large') {
      return sendText(res, 413, `Request body too large, max size: ${MAX_CREATE_BODY_BYTES} bytes`);
    }
    const decoded = decodeSessionBody(read.body, spec);
    if (typeof decoded === 'string') return sendText(res, 400, `Request decode failed: ${decoded}`);
    spec = decoded;
  }
  spec = fixupEmptyChecks(spec);
  const params = { datacenter: query.get('dc'), token: requestToken(req, query) };
  if (!admitSessionWrite(ctx, res, params, spec.node, path)) return;
  const created = ctx.sessions.create(spec);
  if (!created.ok) return sendText(res, 500, created.error);
  sendBody(res, 200, renderJson({ ID: created.session.id }, query.has('pretty')), JSON_HEADERS);
}

function sessionDestroy(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
  sessionId: string,
  path: string,
) {
  if (req.method !== 'PUT') return refuseMethod(req, res, 'OPTIONS,PUT');
  const refusal = enterpriseRefusal(req, query);
  if (refusal !== undefined) return sendText(res, 400, refusal);
  if (sessionId === '') return sendText(res, 400, 'Missing session');
  const node = ctx.sessions.get(sessionId)?.node ?? ctx.sessions.nodeName;
  const params = { datacenter: query.get('dc'), token: requestToken(req, query) };
  if (!admitSessionWrite(ctx, res, params, node, path)) return;
  // consul-semantics §L3: destroying an unknown session is not an error.
  ctx.sessions.destroy(sessionId);
  sendBody(res, 200, renderJson(true, query.has('pretty')), JSON_HEADERS);
}

function sessionRenew(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
  sessionId: string,
  path: string,
) {
  const params = queryPreamble(req, res, query, 'PUT');
  if (params === undefined) return;
  if (sessionId === '') return sendText(res, 400, 'Missing session');
  const node = ctx.sessions.get(sessionId)?.node ?? ctx.sessions.nodeName;
  if (!admitSessionWrite(ctx, res, params, node, path)) return;
  const session = ctx.sessions.renew(sessionId);
  if (session === undefined) return sendText(res, 404, `Session id '${sessionId}' not found`);
  // consul-semantics §L3: the renew answer sets no index headers.
  sendBody(res, 200, renderJson([sessionToJson(session)], params.pretty), JSON_HEADERS);
}

/**
 * What Consul's `parse()` does before renew and the reads: the method, the common query parameters, then
 * the CE namespace refusal. Sends the refusal and returns undefined when one applies.
 */
function queryPreamble(
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
  method: 'GET' | 'PUT',
): CommonParams | undefined {
  if (req.method !== method) {
    refuseMethod(req, res, `OPTIONS,${method}`);
    return undefined;
  }
  const params = parseCommonParams(req, res, query);
  if (params === undefined) return undefined;
  const refusal = enterpriseRefusal(req, query);
  if (refusal === undefined) return params;
  sendText(res, 400, refusal);
  return undefined;
}

interface SessionRead {
  readonly kind: 'info' | 'node' | 'list';
  readonly arg: string;
  /** The URL path, what a fault rule's `match.path` sees. */
  readonly path: string;
}

function sessionRead(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
  read: SessionRead,
) {
  const params = queryPreamble(req, res, query, 'GET');
  if (params === undefined) return;
  if (read.kind === 'info' && read.arg === '') return sendText(res, 400, 'Missing session');
  if (read.kind === 'node' && read.arg === '') return sendText(res, 400, 'Missing node name');
  // consul-semantics §S6.1: with ACLs on, a read without the token sees no session (filtered, not refused).
  const anonymous = ctx.settings.aclToken !== undefined && params.token === '';
  // The leader is needed before the token is looked at, so a filtered read is refused too (§S9.5).
  if (anonymous ? refuseWithoutLeader(ctx, res, params.stale) : !admitRequest(ctx, res, params, 'read'))
    return;
  const evaluate = (): ReadAnswer => {
    const index = ctx.sessions.index();
    const found = anonymous
      ? []
      : read.kind === 'info'
        ? [ctx.sessions.get(read.arg)].filter((session) => session !== undefined)
        : read.kind === 'node'
          ? ctx.sessions.forNode(read.arg)
          : ctx.sessions.list();
    // consul-semantics §L3: no session is `[]`, never `null` or a 404.
    const body = renderJson(found.map(sessionToJson), params.pretty);
    return { status: 200, index, body, headers: JSON_HEADERS, missingKey: false };
  };
  // A read the token filters to nothing meets no fault, as a refused KV request meets none.
  const fault = anonymous
    ? undefined
    : ctx.faults.take({ method: 'GET', path: read.path, blocking: params.minIndex > 0n });
  const parts = () => {
    const answer = evaluate();
    return { body: answer.body, headers: { ...readMetaHeaders(answer.index), ...answer.headers } };
  };
  if (fault !== undefined && actOnFault(ctx, res, fault, parts)) return;
  const indexOverride = fault?.kind === 'index' ? fault.index : undefined;
  if (params.minIndex === 0n) return sendRead(ctx, res, evaluate(), indexOverride);
  // consul-semantics §L3: the reads block on the sessions table index.
  holdBlockingRead(ctx, res, {
    kind: 'session',
    subscribe: (wake) => ctx.sessions.subscribe(wake),
    evaluate,
    minIndex: params.minIndex,
    timeoutMs: blockingTimeoutMs(ctx.settings, params.waitMs),
    spurious: fault?.kind === 'spurious',
    indexOverride,
  });
}

/** consul-semantics §L1: what a create without a body gets. */
function defaultSpec(nodeName: string): SessionSpec {
  return {
    name: '',
    node: nodeName,
    lockDelayNs: DEFAULT_LOCK_DELAY_NS,
    behavior: 'release',
    ttl: '',
    nodeChecks: [SERF_HEALTH_CHECK],
    serviceChecks: null,
    checks: [SERF_HEALTH_CHECK],
  };
}

/**
 * consul-semantics §L1: an empty legacy `Checks` empties `NodeChecks`; the default `Checks` is dropped; an empty
 * `NodeChecks` drops `Checks`.
 */
function fixupEmptyChecks(spec: SessionSpec): SessionSpec {
  const checks = spec.checks ?? [];
  if (checks.length === 0) return { ...spec, nodeChecks: [] };
  if (checks.length === 1 && checks[0] === SERF_HEALTH_CHECK) return { ...spec, checks: null };
  if ((spec.nodeChecks ?? []).length === 0) return { ...spec, checks: null };
  return spec;
}

/**
 * Decodes a create body over the defaults as Go's `encoding/json` would (consul-semantics §L1): case-insensitive
 * names, unknown fields ignored, `null` leaves a string as it was and empties a list. Returns the decoder's
 * error text on failure.
 */
function decodeSessionBody(body: Buffer, defaults: SessionSpec): SessionSpec | string {
  // consul-semantics §S9.2: Go's Decoder reads one value and reports its scanner's text for bad syntax.
  const scan = scanGoJson(body);
  if (!scan.ok) return scan.error;
  const parsed = parseJsonKeepingNumbers(body.subarray(0, scan.end).toString('utf8'));
  if (parsed === null) return defaults;
  if (!isJsonObject(parsed)) {
    return `json: cannot unmarshal ${goJsonType(parsed)} into Go value of type structs.Session`;
  }
  const object = parsed;
  // consul-semantics §L9: Session.UnmarshalJSON decodes into an anonymous struct embedding the session, so
  // Go names no struct for a top-level field (`.Name`), and the innermost named struct below it.
  const mistyped = (name: string, goType: string, value: unknown, struct = '') =>
    errors.push({
      key: name.split('.')[0] as string,
      text: `json: cannot unmarshal ${goJsonType(value)} into Go struct field ${struct}.${name} of type ${goType}`,
    });
  const errors: { key: string; text: string }[] = [];
  const text = (name: string, fallback: string): string => {
    const value = field(object, name) ?? null;
    if (value === null) return fallback;
    if (typeof value === 'string') return value;
    mistyped(name, 'string', value);
    return fallback;
  };
  const strings = (name: string, fallback: readonly string[] | null): readonly string[] | null => {
    const value = field(object, name);
    if (value === undefined) return fallback;
    if (value === null) return null;
    if (!Array.isArray(value)) {
      mistyped(name, name === 'Checks' ? '[]types.CheckID' : '[]string', value);
      return fallback;
    }
    const wrong = value.find((item) => item !== null && typeof item !== 'string');
    if (wrong === undefined) return value.map((item) => item ?? '');
    mistyped(name, name === 'Checks' ? 'types.CheckID' : 'string', wrong);
    return fallback;
  };
  const serviceChecks = (): readonly SessionServiceCheck[] | null => {
    const value = field(object, 'ServiceChecks');
    if (value === undefined) return defaults.serviceChecks;
    if (value === null) return null;
    if (!Array.isArray(value)) {
      mistyped('ServiceChecks', '[]structs.ServiceCheck', value);
      return defaults.serviceChecks;
    }
    const wrong = value.find((check) => check !== null && !isJsonObject(check));
    if (wrong !== undefined) {
      mistyped('ServiceChecks', 'structs.ServiceCheck', wrong);
      return defaults.serviceChecks;
    }
    const checks = (value as (Record<string, unknown> | null)[]).map((check) => {
      const member = (name: string): string => {
        const found = check === null ? undefined : (field(check, name) ?? null);
        if (found === undefined || found === null || typeof found === 'string') return found ?? '';
        mistyped(`ServiceChecks.${name}`, 'string', found, 'ServiceCheck');
        return '';
      };
      return { id: member('ID'), namespace: member('Namespace') };
    });
    return checks;
  };
  const lockDelay = decodeLockDelay(field(object, 'LockDelay'), defaults.lockDelayNs);
  const spec: SessionSpec = {
    name: text('Name', defaults.name),
    node: text('Node', defaults.node),
    lockDelayNs: typeof lockDelay === 'number' ? lockDelay : defaults.lockDelayNs,
    behavior: text('Behavior', defaults.behavior),
    ttl: text('TTL', defaults.ttl),
    nodeChecks: strings('NodeChecks', defaults.nodeChecks),
    serviceChecks: serviceChecks(),
    checks: strings('Checks', defaults.checks),
  };
  // Go's decoder reports the first mistyped field in the order of the body; LockDelay is parsed after it.
  const order = Object.keys(object).map((key) => key.toLowerCase());
  const position = (key: string) => order.indexOf(key.toLowerCase());
  errors.sort((a, b) => position(a.key) - position(b.key));
  if (errors[0] !== undefined) return errors[0].text;
  return typeof lockDelay === 'string' ? lockDelay : spec;
}

/**
 * consul-semantics §L1 `LockDelay`: a Go duration string or a number of nanoseconds; either below 1000 ns is
 * taken as seconds; any other JSON type is 0. Returns ns, or the duration parser's error text.
 */
function decodeLockDelay(value: unknown, fallback: number): number | string {
  if (value === undefined || value === null) return fallback;
  let ns = 0;
  if (typeof value === 'string') {
    const parsed = parseGoDurationNs(value);
    if (parsed === undefined) return `time: invalid duration ${goQuote(value)}`;
    ns = Number(parsed);
  } else if (value instanceof JsonNumber) {
    ns = Math.trunc(Number(value.literal));
  }
  return ns < LOCK_DELAY_SECONDS_BELOW ? ns * 1e9 : ns;
}

/**
 * consul-semantics §S6.1: a session write needs `session:write` on the session's node; without the token the
 * anonymous token is refused with Consul's text, an unknown token with `ACL not found`. An admitted write
 * then meets the fault a `PUT` rule on its URL path holds, if any. Returns false after answering.
 */
function admitSessionWrite(
  ctx: RouteContext,
  res: ServerResponse,
  params: { datacenter: string; token: string },
  node: string,
  path: string,
): boolean {
  const anonymous = ctx.settings.aclToken !== undefined && params.token === '';
  if (anonymous && (params.datacenter === '' || params.datacenter === DATACENTER)) {
    // consul-semantics §S9.5: the write is forwarded to the leader before its token is resolved.
    if (refuseWithoutLeader(ctx, res, false)) return false;
    sendText(res, 403, permissionDeniedText('session:write', node));
    return false;
  }
  // consul-semantics §S9.5: renew too, which the TTL timers on the leader serve.
  if (!admitRequest(ctx, res, params, 'write')) return false;
  const fault = ctx.faults.take({ method: 'PUT', path, blocking: false });
  const parts = () => ({ body: Buffer.from('{}'), headers: JSON_HEADERS });
  return fault === undefined || !actOnFault(ctx, res, fault, parts);
}
