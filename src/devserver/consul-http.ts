/**
 * What Consul's HTTP layer does for every KV, txn and session request before the endpoint runs (consul-semantics §1): method
 * checks, datacenter, token, consistency and `wait`/`index` parsing, the CE namespace/partition refusals,
 * and — in the RPC — the datacenter route and the ACL check. Shared by the KV, txn and session routes.
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import type { DevServerFaults } from './faults.js';
import { goQuote, parseGoDuration, parseGoUint64 } from './go-strconv.js';
import type { GoQuery } from './go-url.js';
import { sendBody, sendText } from './http-io.js';
import type { SessionStore } from './sessions.js';
import type { KvStore } from './store.js';
import type { WaiterRegistry } from './waiters.js';

/** The dev server's datacenter; any other `?dc=` has no path (consul-semantics §1). */
export const DATACENTER = 'dc1';

/**
 * What a held request waits on: a blocking read of KV, sessions, the catalog, health or an agent service
 * (hash-based), or a `hang` fault that never answers.
 */
export type HeldKind = 'kv' | 'session' | 'catalog' | 'health' | 'agent' | 'hang';

/** The kinds of blocking query: every held kind but a `hang` fault. */
export type BlockingKind = Exclude<HeldKind, 'hang'>;

/** Counters the routes keep for `stats()`. */
export interface RouteCounters {
  /** HTTP requests received. */
  requests: number;
  /** Wake-ups delivered to held blocking queries, by kind: one per query per write that touched it. */
  readonly wakeups: Record<BlockingKind, number>;
}

/** A request held open by the server (a blocking query or a `hang` fault); `end()` releases it without answering. */
export interface HeldRequest {
  readonly kind: HeldKind;
  end(): void;
}

/** Limits and settings the routes need, resolved once by the server. */
export interface RouteSettings {
  readonly aclToken: string | undefined;
  readonly defaultQueryTimeMs: number;
  readonly maxQueryTimeMs: number;
  readonly jitter: boolean;
  readonly kvMaxValueSize: number;
  readonly txnMaxReqLen: number;
}

/** Everything a route handler works with. */
export interface RouteContext {
  readonly store: KvStore;
  readonly sessions: SessionStore;
  readonly waiters: WaiterRegistry;
  readonly faults: DevServerFaults;
  readonly settings: RouteSettings;
  /** Requests held open now, ended by `close()`. */
  readonly held: Set<HeldRequest>;
  readonly counters: RouteCounters;
  readonly logger: Required<Logger>;
  /** Whether the cluster has a leader now (a `no-leader` window says no; consul-semantics §S9.5). */
  readonly leader: { readonly hasLeader: boolean };
}

/** The result of Consul's common query parsing (`parse()` in its HTTP layer). */
export interface CommonParams {
  readonly token: string;
  readonly datacenter: string;
  /** The blocking `index`; 0 = not blocking. */
  readonly minIndex: bigint;
  /** The parsed `wait`, in ms (may be ≤ 0, meaning "default"); undefined when absent. */
  readonly waitMs: number | undefined;
  readonly pretty: boolean;
  /** `?stale`, or a `max_stale` above 0: any server may answer, with or without a leader. */
  readonly stale: boolean;
}

/**
 * A header's first value, as Go's `Header.Get` returns it. Node joins repeated headers with `", "`, so
 * `req.headers` would turn two `X-Consul-Token` lines into one token neither client sent.
 */
export function firstHeader(req: IncomingMessage, lowerCaseName: string): string {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === lowerCaseName) return raw[i + 1] ?? '';
  }
  return '';
}

/**
 * consul-semantics §1 token precedence: `?token=`, then `X-Consul-Token`, then `Authorization: Bearer <token>`. Of repeated
 * `X-Consul-Token` headers the first counts, as in Consul (`Header.Get`).
 */
export function requestToken(req: IncomingMessage, query: GoQuery): string {
  const fromQuery = query.get('token');
  if (fromQuery !== '') return fromQuery;
  const header = firstHeader(req, 'x-consul-token');
  if (header !== '') return header;
  const parts = (req.headers.authorization ?? '').trim().split(/\s+/);
  if (parts.length === 2 && parts[0]?.toLowerCase() === 'bearer') return parts[1] ?? '';
  return '';
}

/**
 * Parses the parameters every KV read/write and read-only txn shares, in Consul's order: consistency
 * conflicts, then `wait`, then `index` (consul-semantics §1). Sends the 400 and returns undefined when one is invalid.
 */
export function parseCommonParams(
  req: IncomingMessage,
  res: ServerResponse,
  query: GoQuery,
): CommonParams | undefined {
  let stale = query.has('stale');
  const consistent = query.has('consistent');
  const maxStale = query.get('max_stale');
  if (maxStale !== '') {
    const maxStaleMs = parseGoDuration(maxStale);
    if (maxStaleMs === undefined) {
      sendText(res, 400, `Invalid max_stale value ${goQuote(maxStale)}`);
      return undefined;
    }
    if (maxStaleMs > 0) stale = true;
  }
  if (stale && consistent) {
    sendText(res, 400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    return undefined;
  }
  // The agent's HTTP cache (use_cache) is on by default, so ?cached is honoured and conflicts too.
  if (query.has('cached') && consistent) {
    sendText(res, 400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
    return undefined;
  }

  let waitMs: number | undefined;
  const wait = query.get('wait');
  if (wait !== '') {
    waitMs = parseGoDuration(wait);
    if (waitMs === undefined) {
      sendText(res, 400, 'Invalid wait time');
      return undefined;
    }
  }
  let minIndex = 0n;
  const index = query.get('index');
  if (index !== '') {
    const parsed = parseGoUint64(index);
    if (!parsed.ok) {
      sendText(res, 400, 'Invalid index');
      return undefined;
    }
    minIndex = parsed.value;
  }
  return {
    token: requestToken(req, query),
    datacenter: query.get('dc'),
    minIndex,
    waitMs,
    pretty: query.has('pretty'),
    stale,
  };
}

/** consul-semantics §1: Consul CE refuses namespaces and partitions, headers first; returns the 400 text or undefined. */
export function enterpriseRefusal(req: IncomingMessage, query: GoQuery): string | undefined {
  const header = (name: string) => firstHeader(req, name);
  const namespaces = 'Namespaces are a Consul Enterprise feature';
  const partitions = 'Partitions are a Consul Enterprise feature';
  if (header('x-consul-namespace') !== '') return `Invalid header: "X-Consul-Namespace" - ${namespaces}`;
  if (query.get('ns') !== '') return `Invalid query parameter: "ns" - ${namespaces}`;
  if (header('x-consul-partition') !== '') return `Invalid header: "X-Consul-Partition" - ${partitions}`;
  if (query.get('partition') !== '') return `Invalid query parameter: "partition" - ${partitions}`;
  return undefined;
}

/**
 * What a request needs of the leader (consul-semantics §S9.5): a `write` always needs one, a `read` unless it
 * is stale; `later` is for a request whose kind is known only after its body (a transaction), which then
 * calls {@link refuseWithoutLeader} itself.
 */
export type LeaderNeed = 'write' | 'read' | 'later';

/**
 * The checks Consul's RPC layer makes before running the endpoint: the datacenter route (`500 No path to
 * datacenter`), the leader (`500 No cluster leader`, see {@link LeaderNeed}), then the token (`403 ACL not
 * found` for an unknown token, `403 Permission denied` without one). Sends the error and returns false when
 * the request may not proceed.
 */
export function admitRequest(
  ctx: RouteContext,
  res: ServerResponse,
  params: { datacenter: string; token: string; stale?: boolean },
  leader: LeaderNeed,
): boolean {
  if (params.datacenter !== '' && params.datacenter !== DATACENTER) {
    sendText(res, 500, 'No path to datacenter');
    return false;
  }
  if (leader !== 'later' && refuseWithoutLeader(ctx, res, leader === 'read' && params.stale === true)) {
    return false;
  }
  const required = ctx.settings.aclToken;
  if (required !== undefined && params.token !== required) {
    sendText(res, 403, params.token === '' ? 'Permission denied' : 'ACL not found');
    return false;
  }
  return true;
}

/**
 * consul-semantics §S9.5: without a leader, Consul forwards every write and every read not marked stale to
 * a leader there is none of, and answers `500 No cluster leader` (at once here, without Consul's
 * `rpc_hold_timeout` wait). Sends it and returns true unless the request may be served.
 */
export function refuseWithoutLeader(ctx: RouteContext, res: ServerResponse, staleRead: boolean): boolean {
  if (ctx.leader.hasLeader || staleRead) return false;
  sendText(res, 500, 'No cluster leader');
  return true;
}

/** The anonymous token's AccessorID, named in Consul's 403 texts (consul-semantics §S6.1). */
const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';

/** Consul's 403 text for the anonymous token lacking a permission on a resource (consul-semantics §S6.1). */
export function permissionDeniedText(permission: string, resource: string): string {
  return `Permission denied: token with AccessorID '${ANONYMOUS_ACCESSOR}' lacks permission '${permission}' on ${JSON.stringify(resource)}`;
}

/** consul-semantics §1: `OPTIONS` → empty 200 with `Allow`; any other unregistered method → 405 `method <M> not allowed`. */
export function refuseMethod(req: IncomingMessage, res: ServerResponse, allow: string): void {
  if (req.method === 'OPTIONS') {
    sendBody(res, 200, '', { Allow: allow });
    return;
  }
  sendText(res, 405, `method ${req.method ?? ''} not allowed`, { Allow: allow });
}

/**
 * consul-semantics §4: the time a blocking query may be held. `wait` ≤ 0 or absent → the default; above the maximum →
 * clamped; then, after clamping, Consul's random stagger of [0, timeout/16) is added when jitter is on.
 */
export function blockingTimeoutMs(
  settings: Pick<RouteSettings, 'defaultQueryTimeMs' | 'maxQueryTimeMs' | 'jitter'>,
  waitMs: number | undefined,
  random: () => number = Math.random,
): number {
  const { defaultQueryTimeMs, maxQueryTimeMs, jitter } = settings;
  let timeoutMs = waitMs === undefined || waitMs <= 0 ? defaultQueryTimeMs : Math.min(waitMs, maxQueryTimeMs);
  if (jitter) timeoutMs += random() * (timeoutMs / 16);
  return Math.min(timeoutMs, 2 ** 31 - 1);
}

/**
 * consul-semantics §1 read headers, sent on every successful read, 404s included. `'missing'` leaves out
 * `X-Consul-Index` (a fault); `knownLeader` is false for a stale read served without a leader (§S6.2).
 */
export function readMetaHeaders(index: number | 'missing', knownLeader = true): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'X-Consul-KnownLeader': String(knownLeader),
    'X-Consul-LastContact': '0',
    'X-Consul-Query-Backend': 'blocking-query',
  };
  if (index !== 'missing') headers['X-Consul-Index'] = String(index);
  return headers;
}

/** The declared request body size, or -1 when there is no Content-Length (chunked). */
export function declaredContentLength(req: IncomingMessage): number {
  const header = req.headers['content-length'];
  return header === undefined ? -1 : Number(header);
}

/** consul-semantics §2/consul-semantics §6 413 text for a declared body over the limit. */
export function bodyTooLargeText(contentLength: number, maxBytes: number, docsUrl: string): string {
  return `Request body(${contentLength} bytes) too large, max size: ${maxBytes} bytes. See ${docsUrl}.`;
}

/** consul-semantics §6 413 text for an undeclared (chunked) body that went over the limit. */
export function streamTooLargeText(maxBytes: number, docsUrl: string): string {
  return `Request body too large, max size: ${maxBytes} bytes. See ${docsUrl}.`;
}
