/**
 * The options of `startDevServer()`, their defaults, and their resolution into a record with no optional
 * fields: a bad option throws InvalidArgumentError naming it.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type DevServerClock, SYSTEM_CLOCK } from './checks-runner.js';
import type { DevServerSeed } from './seed.js';

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

export interface ResolvedDevServerOptions {
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

export function resolveOptions(options: DevServerOptions): ResolvedDevServerOptions {
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
