/**
 * What the agent, health, catalog and status routes share: their context, dispatch by path prefix, the
 * ACL rules of consul-semantics §S6, the leader check, the `?filter` hook and the index-based blocking
 * loop over the catalog's waiters (consul-semantics §S3.4).
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Catalog } from './catalog.js';
import type { ChecksRunner } from './checks-runner.js';
import {
  blockingTimeoutMs,
  type CommonParams,
  DATACENTER,
  type HeldKind,
  parseCommonParams,
  permissionDeniedText,
  type RouteContext,
  readMetaHeaders,
} from './consul-http.js';
import { type AnswerParts, actOnFault } from './fault-answer.js';
import type { Fault } from './faults.js';
import { applyFilter as applyBexpr, type FilterFields, parseFilter } from './filter.js';
import type { GoQuery } from './go-url.js';
import { sendBody, sendText } from './http-io.js';
import { renderJson } from './kv-json.js';

/** Everything the service routes work with. */
export interface ServiceContext {
  readonly catalog: Catalog;
  readonly runner: ChecksRunner;
  readonly route: RouteContext;
}

/** One service-area request after routing: the path below `/v1/<area>/`. */
export interface ServiceRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The decoded URL path, e.g. `/v1/health/service/web`: what a fault rule's `match.path` sees. */
  readonly path: string;
  /** The path after the area prefix, e.g. `service/register` for `/v1/agent/service/register`. */
  readonly rest: string;
  readonly query: GoQuery;
}

const JSON_HEADERS: OutgoingHttpHeaders = { 'Content-Type': 'application/json' };

/**
 * consul-semantics §S6.1: with ACLs on, the configured token may do anything; no token is the anonymous
 * token, which may do nothing; any other token is unknown. Sends the 403 and returns false when denied.
 */
export function authorizeWrite(
  ctx: ServiceContext,
  res: ServerResponse,
  token: string,
  permission: string,
  resource: string,
): boolean {
  const required = ctx.route.settings.aclToken;
  if (required === undefined || token === required) return true;
  if (token !== '') {
    sendText(res, 403, 'ACL not found');
    return false;
  }
  sendText(res, 403, permissionDeniedText(permission, resource));
  return false;
}

/**
 * consul-semantics §S6.1: reads filter what the token may not see instead of refusing. Returns whether the
 * token sees everything (true) or nothing (false); an unknown token gets `403 ACL not found` (undefined).
 */
export function readAccess(ctx: ServiceContext, res: ServerResponse, token: string): boolean | undefined {
  const required = ctx.route.settings.aclToken;
  if (required === undefined || token === required) return true;
  if (token === '') return false;
  sendText(res, 403, 'ACL not found');
  return undefined;
}

/** What a health or catalog read has checked before it serves: its parameters, access and filter. */
export interface CheckedRead {
  readonly params: CommonParams;
  /** The token sees everything (true) or nothing (false); see {@link readAccess}. */
  readonly access: boolean;
  /** The `?filter` expression, already checked against the answer type; `''` for none. */
  readonly filter: string;
  /** The fault this read meets (matched on `GET` and its URL path), if any. */
  readonly fault: Fault | undefined;
}

/**
 * The checks every health and catalog read makes, in Consul's order: common parameters, datacenter and
 * leader, the token's access, then the filter. Returns undefined after answering one that fails.
 */
export function checkRead(
  ctx: ServiceContext,
  request: ServiceRequest,
  fields: FilterFields | undefined,
): CheckedRead | undefined {
  const params = readParams(ctx, request);
  if (params === undefined) return undefined;
  const access = readAccess(ctx, request.res, params.token);
  if (access === undefined) return undefined;
  if (!checkFilter(request, fields)) return undefined;
  const fault = ctx.route.faults.take({ method: 'GET', path: request.path, blocking: params.minIndex > 0n });
  return { params, access, filter: request.query.get('filter'), fault };
}

/**
 * A read's `?filter` (consul-semantics §S4.5), checked before anything is served: an expression that does
 * not parse, or names a field the answer type lacks, is Consul's 400 at once. Returns false after answering.
 * `fields` is the answer type the expression is checked against; undefined: the route keeps every item.
 */
export function checkFilter(request: ServiceRequest, fields: FilterFields | undefined): boolean {
  const expression = request.query.get('filter');
  if (fields === undefined || expression === '') return true;
  const parsed = parseFilter(expression, fields);
  if (parsed.ok) return true;
  sendText(request.res, 400, parsed.error);
  return false;
}

/** The items (JSON as answered) that `expr` keeps; every item for an empty expression or no `fields`. */
export function applyFilter<T>(expr: string, items: T[], fields?: FilterFields): T[] {
  if (expr === '' || fields === undefined) return items;
  const result = applyBexpr(expr, items, fields);
  // checkFilter() refused a bad expression before the read started.
  return result.ok ? result.items : items;
}

/** Parses the common parameters of a catalog read and checks datacenter and leader; sends the error when one fails. */
export function readParams(ctx: ServiceContext, request: ServiceRequest): CommonParams | undefined {
  const params = parseCommonParams(request.req, request.res, request.query);
  if (params === undefined) return undefined;
  if (params.datacenter !== '' && params.datacenter !== DATACENTER) {
    sendText(request.res, 500, 'No path to datacenter');
    return undefined;
  }
  // consul-semantics §S6.2, §S9.5: without a leader only stale reads (`?stale`, `max_stale`) are served.
  if (!ctx.catalog.hasLeader && !params.stale) {
    sendText(request.res, 500, 'No cluster leader');
    return undefined;
  }
  return params;
}

/** A read's answer at one moment: its index and the JSON value to send. */
export interface IndexedAnswer {
  readonly index: number;
  readonly value: unknown;
}

/** A read's answer rendered to its body. */
interface RenderedAnswer {
  readonly index: number;
  readonly body: Buffer;
}

/**
 * Answers shared by identical reads until the catalog next changes: the watchers of one service wake together
 * on a check flip, and each would otherwise compute and render the same body (many per service in the bench).
 */
class AnswerCache {
  #version = -1;
  readonly #answers = new Map<string, RenderedAnswer>();

  get(catalog: Catalog, key: string, compute: () => RenderedAnswer): RenderedAnswer {
    if (this.#version !== catalog.agentVersion) {
      this.#answers.clear();
      this.#version = catalog.agentVersion;
    }
    let answer = this.#answers.get(key);
    if (answer === undefined) {
      answer = compute();
      this.#answers.set(key, answer);
    }
    return answer;
  }
}

const answerCaches = new WeakMap<Catalog, AnswerCache>();

function answerCacheOf(catalog: Catalog): AnswerCache {
  let cache = answerCaches.get(catalog);
  if (cache === undefined) {
    cache = new AnswerCache();
    answerCaches.set(catalog, cache);
  }
  return cache;
}

/** Sends a read's answer with the index headers (consul-semantics §S3.4). */
function sendIndexed(
  ctx: ServiceContext,
  res: ServerResponse,
  answer: RenderedAnswer,
  indexOverride?: number | 'missing',
): void {
  const headers: OutgoingHttpHeaders = { ...readMetaHeaders(indexOverride ?? answer.index), ...JSON_HEADERS };
  if (!ctx.catalog.hasLeader) headers['X-Consul-KnownLeader'] = 'false';
  sendBody(res, 200, answer.body, headers);
}

/** Sends a JSON body without index headers (agent endpoints). */
export function sendJson(
  res: ServerResponse,
  value: unknown,
  pretty: boolean,
  status = 200,
  headers: OutgoingHttpHeaders = {},
): void {
  sendBody(res, status, renderJson(value, pretty), { ...JSON_HEADERS, ...headers });
}

/** A blocking read over the catalog: which waiter keys can change its answer, and how to compute it. */
export interface CatalogRead {
  readonly kind: Extract<HeldKind, 'catalog' | 'health'>;
  readonly keys: readonly string[];
  readonly evaluate: () => IndexedAnswer;
  /**
   * Names everything the answer depends on besides the catalog's state (path, tags, filter, access); reads
   * with the same key share one computed answer until the catalog changes. Undefined: computed per read.
   */
  readonly cacheKey?: string;
  /** The fault the read met ({@link CheckedRead.fault}). */
  readonly fault: Fault | undefined;
}

/**
 * Consul's blocking loop for catalog reads (consul-semantics §S3.4): answer at once unless `index` > 0 and
 * the answer's index is not above it; otherwise wait for a write touching one of the keys and answer as
 * soon as the index moves past, or with the current answer at the timeout.
 */
export function serveCatalogRead(
  ctx: ServiceContext,
  res: ServerResponse,
  params: CommonParams,
  read: CatalogRead,
): void {
  const render = (): RenderedAnswer => {
    const answer = read.evaluate();
    return { index: answer.index, body: renderJson(answer.value, params.pretty) };
  };
  const cacheKey = read.cacheKey === undefined ? undefined : `${read.cacheKey}\0${params.pretty}`;
  const evaluate =
    cacheKey === undefined ? render : () => answerCacheOf(ctx.catalog).get(ctx.catalog, cacheKey, render);
  const { fault } = read;
  const parts = (): AnswerParts => {
    const answer = evaluate();
    return { body: answer.body, headers: { ...readMetaHeaders(answer.index), ...JSON_HEADERS } };
  };
  if (fault !== undefined && actOnFault(ctx.route, res, fault, parts)) return;
  const indexOverride = fault?.kind === 'index' ? fault.index : undefined;
  const send = (answer: RenderedAnswer) => sendIndexed(ctx, res, answer, indexOverride);
  const first = evaluate();
  if (params.minIndex === 0n || BigInt(first.index) > params.minIndex || fault?.kind === 'spurious') {
    send(first);
    return;
  }
  holdUntil(ctx, res, {
    kind: read.kind,
    keys: read.keys,
    timeoutMs: blockingTimeoutMs(ctx.route.settings, params.waitMs),
    check: () => {
      const answer = evaluate();
      return BigInt(answer.index) > params.minIndex ? answer : undefined;
    },
    send: (answer) => send(answer ?? evaluate()),
  });
}

/** A held request: re-`check` on every wake, `send` what it found or, at the timeout, `undefined`. */
export interface Hold<T> {
  readonly kind: Extract<HeldKind, 'catalog' | 'health' | 'agent'>;
  readonly keys: readonly string[];
  readonly timeoutMs: number;
  readonly check: () => T | undefined;
  readonly send: (found: T | undefined) => void;
}

/** Holds a request on the catalog's waiters until `check` finds something or the timeout passes. */
export function holdUntil<T>(ctx: ServiceContext, res: ServerResponse, hold: Hold<T>): void {
  let settled = false;
  const unregister: (() => void)[] = [];
  const settle = (found: T | undefined, answer: boolean) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    for (const remove of unregister) remove();
    ctx.route.held.delete(held);
    res.off('close', onClose);
    if (answer) hold.send(found);
  };
  const held = { kind: hold.kind, end: () => settle(undefined, false) };
  const onClose = () => settle(undefined, false);
  const onWake = () => {
    ctx.route.counters.wakeups[hold.kind]++;
    const found = hold.check();
    if (found !== undefined) settle(found, true);
  };
  unregister.push(
    ctx.catalog.waiters.addAll(
      hold.keys.map((path) => ({ kind: 'key', path })),
      onWake,
    ),
  );
  const timer = setTimeout(() => settle(undefined, true), hold.timeoutMs);
  ctx.route.held.add(held);
  res.on('close', onClose);
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}
