/**
 * `/ui/`: the dev server's web page and its own small API (`/ui/api/…`: the live feed, a state summary,
 * the fault switches). The page reads and writes keys, services and checks through the Consul HTTP API
 * like any client; these routes only add what Consul's API has no endpoint for. With ACLs on, the API
 * takes the management token in a header only, never from a URL.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog } from '../catalog.js';
import { WAIT_AGENT } from '../catalog.js';
import { firstHeader } from '../consul-http.js';
import { readBodyBounded, sendBody, sendText } from '../http-io.js';
import type { SessionStore } from '../sessions.js';
import type { KvStore } from '../store.js';
import type { WaitedTarget, WaiterRegistry } from '../waiters.js';
import type { UiEventStream, UiStats } from './event-stream.js';
import { PAGE_ASSETS } from './page-assets.js';
import type { UiFaults } from './ui-faults.js';

/** What the page's routes read and control. */
export interface UiContext {
  readonly events: UiEventStream;
  readonly faults: UiFaults;
  readonly store: KvStore;
  readonly waiters: WaiterRegistry;
  readonly catalog: Catalog;
  readonly sessions: SessionStore;
  readonly stats: () => UiStats;
  readonly aclToken: string | undefined;
}

/** Held queries listed per registry in the state summary, most-waited-on first. */
const MAX_TARGETS = 100;
const MAX_FAULT_BODY = 16 * 1024;
const API_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } as const;
/** The page loads nothing but its own files and talks to nothing but this server. */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
} as const;

/** Whether a request path belongs to the page (`/ui` or below `/ui/`). */
export function isUiPath(url: string): boolean {
  return url === '/ui' || url.startsWith('/ui/') || url.startsWith('/ui?');
}

/**
 * Wraps the Consul request handler: `/ui` requests are served here (and, being no Consul API, neither take
 * faults nor count in `stats().requests`); every other request goes to `next`.
 */
export function withUi(
  ui: UiContext,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    if (!isUiPath(url)) {
      next(req, res);
      return;
    }
    serveUi(ui, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendText(res, 500, error instanceof Error ? error.message : String(error));
      else res.destroy();
    });
  };
}

async function serveUi(ui: UiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
  const method = req.method ?? 'GET';
  if (path === '/ui') {
    sendBody(res, 301, '', { Location: '/ui/' });
    return;
  }
  if (path.startsWith('/ui/api/')) return serveApi(ui, req, res, path.slice('/ui/api/'.length), query);
  const asset = PAGE_ASSETS.get(path === '/ui/' ? 'index.html' : path.slice('/ui/'.length));
  if (asset === undefined) {
    sendText(res, 404, `no such page file: ${path}`);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendText(res, 405, `method ${method} not allowed`, { Allow: 'GET,HEAD' });
    return;
  }
  const body = Buffer.from(asset.body, 'utf8');
  res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': asset.type, 'Content-Length': body.length });
  res.end(method === 'HEAD' ? undefined : body);
}

/** The management token from `X-Consul-Token` or `Authorization: Bearer`; never from the URL. */
function headerToken(req: IncomingMessage): string {
  const header = firstHeader(req, 'x-consul-token');
  if (header !== '') return header;
  const parts = (req.headers.authorization ?? '').trim().split(/\s+/);
  return parts.length === 2 && parts[0]?.toLowerCase() === 'bearer' ? (parts[1] ?? '') : '';
}

/** The ACL check of the page's API, with Consul's texts; sends the refusal and returns false. */
function admitted(ui: UiContext, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): boolean {
  if (query.has('token')) {
    sendText(res, 400, 'the /ui/api endpoints take the token in the X-Consul-Token header, never in the URL');
    return false;
  }
  const required = ui.aclToken;
  if (required === undefined) return true;
  const token = headerToken(req);
  if (token === required) return true;
  sendText(res, 403, token === '' ? 'Permission denied' : 'ACL not found');
  return false;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendBody(res, status, JSON.stringify(value), API_HEADERS);
}

async function serveApi(
  ui: UiContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  query: URLSearchParams,
): Promise<void> {
  const method = req.method ?? 'GET';
  // Whether ACLs are on is all the page needs to know before it has a token.
  if (route === 'info' && method === 'GET') {
    sendJson(res, 200, { acl: ui.aclToken !== undefined });
    return;
  }
  if (!admitted(ui, req, res, query)) return;
  if (route === 'events' && method === 'GET') {
    ui.events.connect(res);
    return;
  }
  if (route === 'state' && method === 'GET') {
    sendJson(res, 200, stateOf(ui));
    return;
  }
  if (route === 'faults') {
    if (method === 'GET') return sendJson(res, 200, ui.faults.list());
    if (method === 'DELETE') {
      ui.faults.clear();
      return sendFaults(ui, res);
    }
    if (method === 'POST') return addFault(ui, req, res);
  }
  const faultId = /^faults\/([1-9][0-9]*)$/.exec(route)?.[1];
  if (faultId !== undefined && method === 'DELETE') {
    if (!ui.faults.remove(Number(faultId))) return sendText(res, 404, `no active fault with id ${faultId}`);
    return sendFaults(ui, res);
  }
  sendText(res, 404, `no such page API: ${method} /ui/api/${route}`);
}

/** Answers with the rules now, and tells every page at once rather than at the next tick. */
function sendFaults(ui: UiContext, res: ServerResponse): void {
  const faults = ui.faults.list();
  ui.events.publish('faults', faults);
  sendJson(res, 200, faults);
}

async function addFault(ui: UiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A JSON content type makes a cross-site POST need a CORS preflight, which this server never grants: another
  // site open in the same browser cannot switch faults on (a text/plain POST needs no preflight).
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    return sendText(res, 415, 'POST /ui/api/faults takes Content-Type: application/json');
  }
  const read = await readBodyBounded(req, MAX_FAULT_BODY);
  if (read.kind === 'aborted') return;
  if (read.kind === 'too-large') return sendText(res, 413, `fault body over ${MAX_FAULT_BODY} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(read.body.toString('utf8'));
  } catch {
    return sendText(res, 400, 'the fault body is not JSON');
  }
  const added = ui.faults.add(body);
  if (!added.ok) return sendText(res, 400, added.error);
  ui.events.publish('faults', ui.faults.list());
  sendJson(res, 200, added.fault);
}

function topTargets(targets: WaitedTarget[]): WaitedTarget[] {
  return targets
    .filter((target) => target.count > 0)
    .sort((a, b) => b.count - a.count || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .slice(0, MAX_TARGETS);
}

/** The page's summary: index, leader, counters, held queries, locks and faults. */
export function stateOf(ui: UiContext) {
  // The feed's own waiter on the catalog is not a blocking query anyone sent.
  const own = ui.events.clients > 0 ? 1 : 0;
  const catalogTargets = ui.catalog.waiters
    .targets()
    .map((target) =>
      target.kind === 'key' && target.path === WAIT_AGENT ? { ...target, count: target.count - own } : target,
    );
  const locks = ui.sessions
    .list()
    .flatMap((session) =>
      ui.store.heldBy(session.id).map((key) => ({ key, session: session.id, sessionName: session.name })),
    );
  return {
    index: ui.store.index(),
    leader: ui.catalog.hasLeader,
    stats: ui.stats(),
    waiters: { kv: topTargets(ui.waiters.targets()), catalog: topTargets(catalogTargets) },
    locks,
    faults: ui.faults.list(),
  };
}
