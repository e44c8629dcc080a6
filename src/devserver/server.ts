import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { resolveLogger } from '../logger.js';
import {
  createAgentApi,
  type DevServerAgent,
  decodeServiceDefinitions,
  type InternalAgentApi,
  registerDecoded,
} from './agent-api.js';
import { Catalog, NODE_NAME } from './catalog.js';
import { ChecksRunner } from './checks-runner.js';
import { ConnectionTracker } from './connection-cap.js';
import {
  type BlockingKind,
  type HeldRequest,
  type RouteContext,
  type RouteCounters,
  requestToken,
} from './consul-http.js';
import { DevServerFaults, type FaultInjector } from './faults.js';
import { GoQuery } from './go-url.js';
import { createRequestHandler } from './routes.js';
import { seedEntries } from './seed.js';
import { type DevServerOptions, resolveOptions } from './server-options.js';
import { SessionStore } from './sessions.js';
import { KvStore } from './store.js';
import { UiEventStream } from './ui/event-stream.js';
import { UiFaults } from './ui/ui-faults.js';
import { withUi } from './ui/ui-routes.js';
import { WaiterRegistry } from './waiters.js';

export type { DevServerAgent } from './agent-api.js';
export type { DevServerClock } from './checks-runner.js';
export type { DevServerSeed } from './seed.js';
export type { DevServerOptions } from './server-options.js';

/** A stored entry as seen through {@link DevServer.kv}. */
export interface DevServerEntry {
  key: string;
  value: Buffer | null;
  /** Exact up to 2^53; larger flags (set over HTTP) are rounded here, so read those over HTTP. */
  flags: number;
  createIndex: number;
  modifyIndex: number;
}

/** Direct store access that bypasses HTTP; writes wake blocking queries like HTTP writes. */
export interface DevServerKv {
  /**
   * Sets a key; returns its ModifyIndex (unchanged when the value and flags are identical, consul-semantics §2). Flags are a
   * uint64: pass a bigint for values above 2^53.
   */
  put(key: string, value: string | Uint8Array, flags?: number | bigint): number;
  /** Deletes a key, or with `recurse` every key under a raw prefix; leaves tombstones like Consul (consul-semantics §3). */
  delete(key: string, opts?: { recurse?: boolean }): void;
  /** A key's entry, or undefined. */
  get(key: string): DevServerEntry | undefined;
  /**
   * The index of the last write of any kind: KV, catalog and session writes share one Raft log
   * (consul-semantics §S9.1); 1 before any write.
   */
  index(): number;
  /** Reaps every tombstone older than the TTL by the server's clock, now. */
  reapTombstones(): void;
}

/**
 * What a blocking query reads: `kv` (`/v1/kv`), `session` (`/v1/session/info|list|node`), `catalog`
 * (`/v1/catalog/*`), `health` (`/v1/health/*`), `agent` (`/v1/agent/service/<id>?hash=`).
 */
export type DevServerBlockingKind = BlockingKind;

/** Counters for tests and the bench. */
export interface DevServerStats {
  /** HTTP requests received. */
  requests: number;
  /**
   * Blocking queries held open now, of every kind (KV, sessions, catalog, health, and agent services
   * blocking on `?hash`); `hang` faults are not counted. {@link DevServerStats.blockingHeldByKind} splits it.
   */
  blockingHeld: number;
  /** {@link DevServerStats.blockingHeld} by what the queries read. */
  blockingHeldByKind: Record<DevServerBlockingKind, number>;
  /** Wake-ups delivered to blocking queries by writes (one per query per touching write), every kind. */
  wakeups: number;
  /** {@link DevServerStats.wakeups} by what the woken queries read. */
  wakeupsByKind: Record<DevServerBlockingKind, number>;
  /** Open client connections now (excluding ones refused by the per-client cap). */
  connections: number;
  /** Connections accepted since start, refused ones included. */
  connectionsTotal: number;
  /** Connections refused with go-connlimit's 429. */
  connectionsRejected: number;
  /** Tombstones not yet reaped. */
  tombstones: number;
  /**
   * Tombstones looked at by prefix reads since start. A read visits only the tombstones under its prefix,
   * so this shows that a read's cost follows its prefix, not the whole store.
   */
  tombstonesVisited: number;
}

/** A running dev server. */
export interface DevServer {
  /** Base URL, e.g. `http://127.0.0.1:8500`. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly kv: DevServerKv;
  readonly faults: FaultInjector;
  /**
   * The session store (consul-semantics §L1–§L4), for tests: `expireDue()` after moving an injected clock,
   * `checkTurnedCritical(checkId)` to invalidate the sessions linked to a check.
   */
  readonly sessions: SessionStore;
  /** The agent and catalog: services, checks, their runner, check-change events. */
  readonly agent: DevServerAgent;
  stats(): DevServerStats;
  /** Ends blocking queries, destroys every socket, stops timers. Idempotent: later calls return the same promise. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

class RunningDevServer implements DevServer {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly kv: DevServerKv;
  readonly faults: DevServerFaults;
  readonly sessions: SessionStore;
  readonly agent: DevServerAgent;
  readonly #agent: InternalAgentApi;
  readonly #net: NetServer;
  readonly #http: HttpServer;
  readonly #store: KvStore;
  readonly #held: Set<HeldRequest>;
  readonly #counters: RouteCounters;
  readonly #connections: ConnectionTracker;
  readonly #closeUi: () => void;
  #closing: Promise<void> | undefined;

  constructor(parts: {
    net: NetServer;
    http: HttpServer;
    context: RouteContext;
    agent: InternalAgentApi;
    connections: ConnectionTracker;
    host: string;
    port: number;
    /** Ends the web page's streams and timers (src/devserver/ui). */
    closeUi: () => void;
  }) {
    const { context } = parts;
    this.#net = parts.net;
    this.#http = parts.http;
    this.#store = context.store;
    this.#held = context.held;
    this.#counters = context.counters;
    this.#connections = parts.connections;
    this.#closeUi = parts.closeUi;
    this.faults = context.faults;
    this.sessions = context.sessions;
    this.host = parts.host;
    this.port = parts.port;
    this.address = `http://${parts.host.includes(':') ? `[${parts.host}]` : parts.host}:${parts.port}`;
    this.kv = directKv(context.store);
    this.agent = parts.agent;
    this.#agent = parts.agent;
  }

  stats(): DevServerStats {
    const held = emptyKinds();
    for (const request of this.#held) if (request.kind !== 'hang') held[request.kind]++;
    const wakeups = this.#counters.wakeups;
    const sum = (kinds: Record<BlockingKind, number>) =>
      Object.values(kinds).reduce((total, count) => total + count, 0);
    return {
      requests: this.#counters.requests,
      blockingHeld: sum(held),
      blockingHeldByKind: held,
      wakeups: sum(wakeups),
      wakeupsByKind: { ...wakeups },
      connections: this.#connections.open,
      connectionsTotal: this.#connections.total,
      connectionsRejected: this.#connections.rejected,
      tombstones: this.#store.tombstoneCount,
      tombstonesVisited: this.#store.tombstonesVisited,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    for (const held of [...this.#held]) held.end();
    this.#closeUi();
    this.#store.dispose();
    this.sessions.dispose();
    this.agent.runner.close();
    this.#agent.dispose();
    this.#http.close(); // stops Node's connection-timeout checks
    await this.#connections.destroyAll();
    await closed;
  }
}

const MAX_UINT64 = (1n << 64n) - 1n;

function emptyKinds(): Record<BlockingKind, number> {
  return { kv: 0, session: 0, catalog: 0, health: 0, agent: 0 };
}

function directKv(store: KvStore): DevServerKv {
  const requireKey = (key: string, operation: string) => {
    if (typeof key !== 'string' || key === '') {
      throw new InvalidArgumentError(`${operation}: key must be a non-empty string`, { operation, key });
    }
  };
  return {
    put(key, value, flags = 0) {
      requireKey(key, 'devserver.kv.put');
      const valid =
        typeof flags === 'bigint'
          ? flags >= 0n && flags <= MAX_UINT64
          : Number.isSafeInteger(flags) && flags >= 0;
      if (!valid) {
        throw new InvalidArgumentError(
          `devserver.kv.put: flags must be an integer from 0 to 2^64-1, got ${flags}`,
          { operation: 'devserver.kv.put', key },
        );
      }
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
      return store.set(key, bytes.length === 0 ? null : bytes, BigInt(flags)).modifyIndex;
    },
    delete(key, opts) {
      if (opts?.recurse === true) {
        store.deleteTree(key);
        return;
      }
      requireKey(key, 'devserver.kv.delete');
      store.delete(key);
    },
    get(key) {
      const entry = store.get(key).value;
      if (entry === undefined) return undefined;
      return {
        key: entry.key,
        value: entry.value,
        flags: Number(entry.flags),
        createIndex: entry.createIndex,
        modifyIndex: entry.modifyIndex,
      };
    },
    index: () => store.index(),
    reapTombstones: () => {
      store.reapTombstones();
    },
  };
}

/**
 * Applies the agent fault (agent restart, no-leader window) the request meets, if any, then serves it. With
 * ACLs on, a request without the configured token never takes a fault: the ACL check comes first
 * (consul-semantics §1.6), whatever the route.
 */
function agentFaults(
  agent: InternalAgentApi,
  faults: DevServerFaults,
  aclToken: string | undefined,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    const query = queryAt < 0 ? '' : url.slice(queryAt + 1);
    const authorized = aclToken === undefined || requestToken(req, new GoQuery(query)) === aclToken;
    const fault = authorized ? faults.takeAgent() : undefined;
    if (fault !== undefined) agent.applyFault(fault);
    handle(req, res);
  };
}

/**
 * Starts a dev server and resolves once it listens.
 * @throws {InvalidArgumentError} for a bad option, seed or service definition, naming it.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const resolved = resolveOptions(options);
  const seed = resolved.seed === undefined ? [] : seedEntries(resolved.seed);
  const services = decodeServiceDefinitions(resolved.services);
  const waiters = new WaiterRegistry();
  // The web page's live feed hears every committed write after the blocking queries it woke.
  const uiEvents = new UiEventStream();
  const store = new KvStore({
    tombstoneTtlMs: resolved.tombstoneTtlMs,
    now: resolved.now,
    onCommit: (keys) => uiEvents.kvCommitted(keys, waiters.notify(keys)),
  });
  for (const entry of seed) store.set(entry.key, entry.value, entry.flags);
  const catalog = new Catalog({ now: () => resolved.clock.now(), raft: store.raft });
  // Sessions live on the agent's one node and are tied to its checks: a check that turns critical, or
  // goes away, invalidates the sessions that name it (consul-semantics §L1).
  const sessions = new SessionStore({
    store,
    nodeName: NODE_NAME,
    now: resolved.now,
    checks: { status: (checkId) => catalog.checkStatus(checkId) },
  });
  catalog.onCheckChange((event) => {
    if (event.status === 'critical' || event.status === undefined)
      sessions.checkTurnedCritical(event.checkId);
  });

  const faults = new DevServerFaults();
  const context: RouteContext = {
    store,
    sessions,
    waiters,
    faults,
    settings: {
      aclToken: resolved.aclToken,
      defaultQueryTimeMs: resolved.defaultQueryTimeMs,
      maxQueryTimeMs: resolved.maxQueryTimeMs,
      jitter: resolved.jitter,
      kvMaxValueSize: resolved.kvMaxValueSize,
      txnMaxReqLen: resolved.txnMaxReqLen,
    },
    held: new Set(),
    counters: { requests: 0, wakeups: emptyKinds() },
    logger: resolveLogger(options.logger),
    leader: catalog,
  };
  const runner = new ChecksRunner({
    catalog,
    clock: resolved.clock,
    random: resolved.random,
    reapIntervalMs: resolved.checkReapIntervalMs,
    deregisterMinMs: resolved.checkDeregisterMinMs,
    probeHangs: (checkId) => faults.takeProbeHang(checkId),
  });
  const agent = createAgentApi({ catalog, runner, sessions, clock: resolved.clock });
  for (const registration of services) registerDecoded(catalog, runner, registration, false);
  const uiFaults = new UiFaults(faults, resolved.clock);
  let stats = (): DevServerStats => ({ ...EMPTY_STATS });
  const ui = {
    events: uiEvents,
    faults: uiFaults,
    store,
    waiters,
    catalog,
    sessions,
    aclToken: resolved.aclToken,
    stats: () => stats(),
  };
  uiEvents.attach({ ...ui, now: resolved.now });
  // Node's request and header timeouts cover receiving the request only, so they bound slow or idle
  // clients but never a blocking query's answer (consul-semantics §4). Node checks them every connectionsCheckingInterval.
  const http = createHttpServer(
    {
      headersTimeout: resolved.headersTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      keepAliveTimeout: resolved.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(resolved.headersTimeoutMs / 4))),
    },
    withUi(
      ui,
      agentFaults(
        agent,
        faults,
        resolved.aclToken,
        createRequestHandler(context, { catalog, runner, route: context }),
      ),
    ),
  );
  // Node tracks connections for those timeouts only once its HTTP server emits 'listening'; this one
  // never listens itself (the net server below hands it sockets), so it is told here. close() stops it.
  http.emit('listening');
  const connections = new ConnectionTracker(resolved.maxConnsPerClient);
  // Sockets are accepted here and handed to the HTTP server only when under the per-client cap.
  const net = createNetServer((socket) => {
    if (connections.admit(socket)) http.emit('connection', socket);
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(resolved.port, resolved.host, () => {
      net.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    uiFaults.close();
    store.dispose();
    sessions.dispose();
    runner.close();
    http.close();
    throw error;
  });
  const address = net.address();
  const port = typeof address === 'object' && address !== null ? address.port : resolved.port;
  const closeUi = () => {
    uiEvents.close();
    uiFaults.close();
  };
  const server = new RunningDevServer({
    net,
    http,
    context,
    agent,
    connections,
    host: resolved.host,
    port,
    closeUi,
  });
  stats = () => server.stats();
  return server;
}

const EMPTY_STATS: DevServerStats = {
  requests: 0,
  blockingHeld: 0,
  blockingHeldByKind: emptyKinds(),
  wakeups: 0,
  wakeupsByKind: emptyKinds(),
  connections: 0,
  connectionsTotal: 0,
  connectionsRejected: 0,
  tombstones: 0,
  tombstonesVisited: 0,
};
