/**
 * `startDevServer()`: an embedded Consul-compatible KV server on a real socket, for tests, the demo, the
 * bench and `consul-hotreload dev`. It speaks the KV HTTP API, blocking queries, `/v1/txn`, sessions and
 * locks as the docs/consul-semantics.md describes Consul, with tombstones, an injectable clock, an optional ACL token, go-connlimit's
 * per-client cap, and fault injection.
 *
 * It never imports `src/consul/`: a shared bug would make the tests agree with themselves.
 * @module
 */
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import {
  createAgentApi,
  type DevServerAgent,
  decodeServiceDefinitions,
  type InternalAgentApi,
  registerDecoded,
} from './agent-api.js';
import { Catalog, NODE_NAME } from './catalog.js';
import { ChecksRunner, type DevServerClock, SYSTEM_CLOCK } from './checks-runner.js';
import { type HeldRequest, type RouteContext, requestToken } from './consul-http.js';
import { DevServerFaults, type FaultInjector } from './faults.js';
import { GoQuery } from './go-url.js';
import { createRequestHandler } from './routes.js';
import { type DevServerSeed, seedEntries } from './seed.js';
import { SessionStore } from './sessions.js';
import { KvStore } from './store.js';
import { WaiterRegistry } from './waiters.js';

export type { DevServerAgent } from './agent-api.js';
export type { DevServerClock } from './checks-runner.js';
export type { DevServerSeed } from './seed.js';

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** TCP port; `0` picks a free one (read it from {@link DevServer.port}). @default 0 */
  port?: number;
  /**
   * Interface to listen on. An empty string is refused: Node would listen on every interface and the
   * address would read `http://:PORT`; pass `'0.0.0.0'` or `'::'` to mean that.
   * @default '127.0.0.1'
   */
  host?: string;
  /** Keys to create before listening, each as its own write (like `consul kv import`). @default no keys */
  seed?: DevServerSeed;
  /**
   * Services to register before listening: ServiceDefinition objects, each the JSON body
   * `PUT /v1/agent/service/register` takes (with `Check`/`Checks`), decoded and validated the same way.
   * @default no services
   */
  services?: readonly unknown[];
  /**
   * When set, ACLs are on and this is the only valid token, taken from `?token=`, `X-Consul-Token` or
   * `Authorization: Bearer` (consul-semantics §1). No token → `403 Permission denied`; another token → `403 ACL not found`.
   * @default undefined (ACLs off: every request is allowed, tokens are ignored)
   */
  aclToken?: string;
  /**
   * How long a delete's tombstone keeps a prefix's index from going backwards (consul-semantics §3), in ms. Reaped at the
   * TTL (checked on every read and write, and by a timer); `0` reaps them at the next read or write.
   * @default 900_000 (Consul's 15 min)
   */
  tombstoneTtlMs?: number;
  /** Blocking-query timeout when `wait` is absent or ≤ 0 (consul-semantics §4), in ms. @default 300_000 */
  defaultQueryTimeMs?: number;
  /** Upper bound for `wait` (consul-semantics §4), in ms. @default 600_000 */
  maxQueryTimeMs?: number;
  /** Add Consul's random stagger of [0, wait/16) to each blocking query's timeout (consul-semantics §4). @default true */
  jitter?: boolean;
  /** Largest value a PUT or txn op may carry, in bytes (`kv_max_value_size`). @default 524288 */
  kvMaxValueSize?: number;
  /** Largest txn body, in bytes (`txn_max_req_len`; the effective limit is the larger of the two). @default 524288 */
  txnMaxReqLen?: number;
  /**
   * Concurrent connections allowed per client IP (`limits.http_max_conns_per_client`); over it the
   * connection gets go-connlimit's raw 429 and is closed (consul-semantics §7). Each held blocking query holds one
   * connection, so raise it (or pass `0` = unlimited) to hold more than 200 queries from one host.
   * @default 200 (Consul's default)
   */
  maxConnsPerClient?: number;
  /**
   * Time a client has to send a request's headers, in ms, counted from the connection (or the previous
   * request); past it the server answers `408` and closes. Bounds slowloris-style connections that send
   * headers a byte at a time. Must be > 0 and at most {@link DevServerOptions.requestTimeoutMs}.
   * @default 30_000
   */
  headersTimeoutMs?: number;
  /**
   * Time a client has to send a whole request, headers and body, in ms; past it the server answers `408`
   * and closes. It ends once the request has arrived, so it never bounds a blocking query's answer (up to
   * 10 min, consul-semantics §4). Must be > 0.
   * @default 60_000
   */
  requestTimeoutMs?: number;
  /**
   * How long a kept-alive connection may sit idle between requests, in ms, before the server closes it
   * (announced as `Keep-Alive: timeout=<s>`). Must be > 0.
   * @default 30_000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Clock for tombstone reaping, session TTLs and lock-delays, in ms; inject one to reproduce an index going
   * backwards (consul-semantics §3) or to expire a session without waiting (consul-semantics §L3). Expiries that are due by
   * this clock are applied before every request and by {@link SessionStore.expireDue}.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Clock and timers the checks run on (TTL expiry, HTTP/TCP intervals, the reaper); inject one to drive
   * time in tests. Its `now` also times `criticalSinceMs`. When only {@link DevServerOptions.now} is given,
   * checks use it with real timers.
   * @default the system clock and real timers
   */
  clock?: DevServerClock;
  /** [0, 1) source for the first-run stagger of HTTP/TCP checks (consul-semantics §S2.3). @default Math.random */
  random?: () => number;
  /** How often the reaper removes services critical past `DeregisterCriticalServiceAfter`, in ms (consul-semantics §S2.6). @default 30_000 */
  checkReapIntervalMs?: number;
  /** The floor of `DeregisterCriticalServiceAfter`, in ms (consul-semantics §S2.6). @default 60_000 */
  checkDeregisterMinMs?: number;
  /** Where failures of the server itself are logged (pino or console shape). @default no logging */
  logger?: Logger;
}

const DEV_SERVER_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  tombstoneTtlMs: 15 * 60_000,
  defaultQueryTimeMs: 300_000,
  maxQueryTimeMs: 600_000,
  jitter: true,
  kvMaxValueSize: 524_288,
  txnMaxReqLen: 524_288,
  maxConnsPerClient: 200,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  checkReapIntervalMs: 30_000,
  checkDeregisterMinMs: 60_000,
} as const;

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
  /** The global raft-like index (index of the last change; 1 before any write). */
  index(): number;
  /** Reaps every tombstone older than the TTL by the server's clock, now. */
  reapTombstones(): void;
}

/** Counters for tests and the bench. */
export interface DevServerStats {
  /** HTTP requests received. */
  requests: number;
  /** Blocking queries held open now. */
  blockingHeld: number;
  /** Wake-ups delivered to blocking queries by writes (one per query per touching write). */
  wakeups: number;
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

// consul-semantics §7: go-connlimit writes this raw response and closes the connection.
const CONNLIMIT_RESPONSE =
  'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
  'Your IP is issuing too many concurrent connections, please rate limit your calls\n';

interface ResolvedDevServerOptions {
  port: number;
  host: string;
  seed: DevServerSeed | undefined;
  services: readonly unknown[];
  aclToken: string | undefined;
  tombstoneTtlMs: number;
  defaultQueryTimeMs: number;
  maxQueryTimeMs: number;
  jitter: boolean;
  kvMaxValueSize: number;
  txnMaxReqLen: number;
  maxConnsPerClient: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  now: () => number;
  clock: DevServerClock;
  random: () => number;
  checkReapIntervalMs: number;
  checkDeregisterMinMs: number;
}

function resolveOptions(options: DevServerOptions): ResolvedDevServerOptions {
  const resolved: ResolvedDevServerOptions = {
    port: options.port ?? DEV_SERVER_DEFAULTS.port,
    host: options.host ?? DEV_SERVER_DEFAULTS.host,
    seed: options.seed,
    services: options.services ?? [],
    aclToken: options.aclToken,
    tombstoneTtlMs: options.tombstoneTtlMs ?? DEV_SERVER_DEFAULTS.tombstoneTtlMs,
    defaultQueryTimeMs: options.defaultQueryTimeMs ?? DEV_SERVER_DEFAULTS.defaultQueryTimeMs,
    maxQueryTimeMs: options.maxQueryTimeMs ?? DEV_SERVER_DEFAULTS.maxQueryTimeMs,
    jitter: options.jitter ?? DEV_SERVER_DEFAULTS.jitter,
    kvMaxValueSize: options.kvMaxValueSize ?? DEV_SERVER_DEFAULTS.kvMaxValueSize,
    txnMaxReqLen: options.txnMaxReqLen ?? DEV_SERVER_DEFAULTS.txnMaxReqLen,
    maxConnsPerClient: options.maxConnsPerClient ?? DEV_SERVER_DEFAULTS.maxConnsPerClient,
    headersTimeoutMs: options.headersTimeoutMs ?? DEV_SERVER_DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? DEV_SERVER_DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEV_SERVER_DEFAULTS.keepAliveTimeoutMs,
    now: options.now ?? Date.now,
    clock:
      options.clock ?? (options.now === undefined ? SYSTEM_CLOCK : { ...SYSTEM_CLOCK, now: options.now }),
    random: options.random ?? Math.random,
    checkReapIntervalMs: options.checkReapIntervalMs ?? DEV_SERVER_DEFAULTS.checkReapIntervalMs,
    checkDeregisterMinMs: options.checkDeregisterMinMs ?? DEV_SERVER_DEFAULTS.checkDeregisterMinMs,
  };
  const check = (name: keyof DevServerOptions, ok: boolean, expected: string) => {
    if (!ok) {
      throw new InvalidArgumentError(`startDevServer: option ${name} must be ${expected}`, {
        operation: 'devserver.start',
      });
    }
  };
  const isInt = (value: number, min: number) => Number.isSafeInteger(value) && value >= min;
  check('port', isInt(resolved.port, 0) && resolved.port <= 65_535, 'an integer from 0 to 65535');
  check(
    'host',
    typeof resolved.host === 'string' && resolved.host.trim() !== '',
    "a non-empty interface address ('0.0.0.0' or '::' for every interface)",
  );
  check('tombstoneTtlMs', resolved.tombstoneTtlMs >= 0, 'a number >= 0');
  check('defaultQueryTimeMs', resolved.defaultQueryTimeMs > 0, 'a number > 0');
  check('maxQueryTimeMs', resolved.maxQueryTimeMs > 0, 'a number > 0');
  check('kvMaxValueSize', isInt(resolved.kvMaxValueSize, 1), 'an integer >= 1');
  check('txnMaxReqLen', isInt(resolved.txnMaxReqLen, 1), 'an integer >= 1');
  check('maxConnsPerClient', isInt(resolved.maxConnsPerClient, 0), 'an integer >= 0');
  check('requestTimeoutMs', isInt(resolved.requestTimeoutMs, 1), 'an integer >= 1');
  check(
    'headersTimeoutMs',
    isInt(resolved.headersTimeoutMs, 1) && resolved.headersTimeoutMs <= resolved.requestTimeoutMs,
    'an integer >= 1 and at most requestTimeoutMs',
  );
  check('keepAliveTimeoutMs', isInt(resolved.keepAliveTimeoutMs, 1), 'an integer >= 1');
  check('aclToken', resolved.aclToken !== '', 'a non-empty string when set');
  check('checkReapIntervalMs', isInt(resolved.checkReapIntervalMs, 1), 'an integer >= 1');
  check('checkDeregisterMinMs', isInt(resolved.checkDeregisterMinMs, 0), 'an integer >= 0');
  return resolved;
}

/** Maps `::ffff:1.2.3.4` to `1.2.3.4`, so one client counts once for the per-client cap. */
function clientIp(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
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
  readonly #waiters: WaiterRegistry;
  readonly #held: Set<HeldRequest>;
  readonly #counters: { requests: number };
  readonly #connections: ConnectionTracker;
  #closing: Promise<void> | undefined;

  constructor(parts: {
    net: NetServer;
    http: HttpServer;
    context: RouteContext;
    agent: InternalAgentApi;
    connections: ConnectionTracker;
    host: string;
    port: number;
  }) {
    const { context } = parts;
    this.#net = parts.net;
    this.#http = parts.http;
    this.#store = context.store;
    this.#waiters = context.waiters;
    this.#held = context.held;
    this.#counters = context.counters;
    this.#connections = parts.connections;
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
    const waiters = this.#waiters.counts();
    return {
      requests: this.#counters.requests,
      blockingHeld: waiters.held,
      wakeups: waiters.wakeups,
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
    this.#store.dispose();
    this.sessions.dispose();
    this.agent.runner.close();
    this.#agent.dispose();
    this.#http.close(); // stops Node's connection-timeout checks
    await this.#connections.destroyAll();
    await closed;
  }
}

/** Tracks accepted sockets per client IP; refuses those over the cap with go-connlimit's raw 429 (consul-semantics §7). */
class ConnectionTracker {
  /** Connections accepted since start, refused ones included. */
  total = 0;
  /** Connections refused over the cap. */
  rejected = 0;
  readonly #served = new Set<Socket>();
  readonly #refused = new Set<Socket>();
  readonly #perClient = new Map<string, number>();
  readonly #maxPerClient: number;
  #closed = false;

  constructor(maxPerClient: number) {
    this.#maxPerClient = maxPerClient;
  }

  /** Connections being served now. */
  get open(): number {
    return this.#served.size;
  }

  /** Returns whether the socket may be served; refuses it (and returns false) over the cap or after close. */
  admit(socket: Socket): boolean {
    this.total++;
    if (this.#closed) {
      socket.destroy();
      return false;
    }
    const ip = clientIp(socket);
    const current = this.#perClient.get(ip) ?? 0;
    if (this.#maxPerClient > 0 && current >= this.#maxPerClient) {
      this.rejected++;
      this.#refuse(socket);
      return false;
    }
    this.#perClient.set(ip, current + 1);
    this.#served.add(socket);
    socket.once('close', () => {
      this.#served.delete(socket);
      const left = (this.#perClient.get(ip) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(ip);
      else this.#perClient.set(ip, left);
    });
    return true;
  }

  /** Destroys every socket and refuses new ones; resolves once every socket has closed. */
  async destroyAll(): Promise<void> {
    this.#closed = true;
    const sockets = [...this.#served, ...this.#refused];
    const closed = sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close')));
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
  }

  #refuse(socket: Socket): void {
    this.#refused.add(socket);
    socket.once('close', () => this.#refused.delete(socket));
    socket.on('error', () => {});
    // Keep reading (and discarding) what the client sends, so closing does not reset the connection
    // before the client has read the 429.
    socket.resume();
    socket.end(CONNLIMIT_RESPONSE);
    socket.setTimeout(2_000, () => socket.destroy());
  }
}

const MAX_UINT64 = (1n << 64n) - 1n;

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
  const store = new KvStore({
    tombstoneTtlMs: resolved.tombstoneTtlMs,
    now: resolved.now,
    onCommit: (keys) => waiters.notify(keys),
  });
  for (const entry of seed) store.set(entry.key, entry.value, entry.flags);
  const catalog = new Catalog({ now: () => resolved.clock.now(), externalIndex: () => store.index() });
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
    counters: { requests: 0 },
    logger: resolveLogger(options.logger),
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
  // Node's request and header timeouts cover receiving the request only, so they bound slow or idle
  // clients but never a blocking query's answer (consul-semantics §4). Node checks them every connectionsCheckingInterval.
  const http = createHttpServer(
    {
      headersTimeout: resolved.headersTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      keepAliveTimeout: resolved.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(resolved.headersTimeoutMs / 4))),
    },
    agentFaults(
      agent,
      faults,
      resolved.aclToken,
      createRequestHandler(context, { catalog, runner, route: context }),
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
    store.dispose();
    sessions.dispose();
    runner.close();
    http.close();
    throw error;
  });
  const address = net.address();
  const port = typeof address === 'object' && address !== null ? address.port : resolved.port;
  return new RunningDevServer({ net, http, context, agent, connections, host: resolved.host, port });
}
