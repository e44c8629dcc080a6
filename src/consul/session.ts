/**
 * The session API (`/v1/session/`): create, renew, destroy and info, on the client's transport. Sessions are
 * what KV locks hang on (consul-semantics §L1–§L4); src/locks/ builds locks and leader election on them.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { ResolvedClientConfig } from './config.js';
import { parseDuration } from './duration.js';
import { checkOptions, checkSignal } from './kv-args.js';
import { malformed, parseJson } from './kv-entry.js';
import type { Transport, TransportRequest, TransportResponse } from './transport.js';

/** What Consul does to the keys a session holds when it is invalidated (consul-semantics §L4). */
export type SessionBehavior = 'release' | 'delete';

/** Options of {@link SessionApi.create}. */
export interface SessionCreateOptions {
  /**
   * A human-readable name, shown in `/v1/session/list`.
   * @default '' (none)
   */
  name?: string;
  /**
   * Time to live: ms, or a Go duration (`'15s'`). Consul invalidates the session when twice this passes
   * without a renew (consul-semantics §L3). Must lie in 10 s … 24 h; 0 or undefined means no TTL (the session
   * then lives as long as its node and checks).
   * @default undefined (no TTL)
   */
  ttl?: number | string;
  /**
   * How long the keys this session held refuse `?acquire` after it is invalidated (consul-semantics §L4): ms
   * or a Go duration, 0 … 60 s (Consul's maximum); 0 disables it.
   * @default undefined (Consul's default of 15 s)
   */
  lockDelay?: number | string;
  /**
   * What happens to held keys on invalidation: `'release'` clears their `Session`, `'delete'` deletes them.
   * @default 'release'
   */
  behavior?: SessionBehavior;
  /**
   * Node checks the session is linked to: any of them turning critical invalidates it. `[]` links none
   * (then only the TTL keeps it alive). Replaces Consul's deprecated `Checks` field.
   * @default undefined (Consul's default, `['serfHealth']`)
   */
  nodeChecks?: readonly string[];
  /**
   * Service checks the session is linked to, by check ID.
   * @default undefined (none)
   */
  serviceChecks?: readonly string[];
  /** Aborts the request with AbortedError. */
  signal?: AbortSignal;
}

/** A session as Consul reports it (consul-semantics §L2). */
export interface SessionInfo {
  id: string;
  name: string;
  node: string;
  /** The lock-delay as given at creation, in ms (Consul applies at most 60 s). */
  lockDelayMs: number;
  behavior: SessionBehavior;
  /** The TTL as Consul shows it (`'15s'`), `''` when none. */
  ttl: string;
  /** The TTL in ms, 0 when none. */
  ttlMs: number;
  nodeChecks: string[];
  /** IDs of the linked service checks. */
  serviceChecks: string[];
  createIndex: number;
  modifyIndex: number;
}

/** Consul's bounds on a session TTL (`session_ttl_min`, 24 h; consul-semantics §L1). */
export const SESSION_TTL_MIN_MS = 10_000;
const SESSION_TTL_MAX_MS = 24 * 3_600_000;
/** Consul applies at most this lock-delay (`MaxLockDelay`, consul-semantics §L1). */
export const MAX_LOCK_DELAY_MS = 60_000;

const WRITE_HINT = "the token needs session:write on the agent's node";
const READ_HINT = "the token needs session:read on the session's node";

/**
 * Session operations of one client (`client.session`). Every method validates its arguments before sending
 * and accepts an AbortSignal.
 */
export class SessionApi {
  readonly #transport: Transport;
  readonly #config: ResolvedClientConfig;

  /** Used by {@link ConsulClient}; not meant to be built directly. */
  constructor(transport: Transport, config: ResolvedClientConfig) {
    this.#transport = transport;
    this.#config = config;
  }

  /**
   * Creates a session on the agent's node and resolves to its ID. Durations are sent as strings, as the Go
   * client does. Operation `'session.create'`.
   */
  async create(options: SessionCreateOptions = {}): Promise<string> {
    const operation = 'session.create';
    checkOptions(options, operation, undefined);
    const body = createBody(options, operation);
    const response = await this.#transport.request(
      this.#request(operation, undefined, 'PUT', 'create', options.signal, WRITE_HINT, JSON.stringify(body)),
    );
    const parsed = parseJson(response, operation, undefined) as { ID?: unknown } | null;
    if (typeof parsed?.ID !== 'string' || parsed.ID === '') {
      throw malformed(operation, undefined, 'expected {"ID": "<session>"}', response.status);
    }
    return parsed.ID;
  }

  /**
   * Renews a session's TTL. Resolves to the session (its `ttl` may be longer than asked: renew less often
   * then), or null when Consul no longer knows it (404: expired or invalidated, consul-semantics §L3).
   * Operation `'session.renew'`.
   */
  async renew(id: string, options: { signal?: AbortSignal } = {}): Promise<SessionInfo | null> {
    const operation = 'session.renew';
    checkId(id, operation);
    checkOptions(options, operation, id);
    const response = await this.#transport.request({
      ...this.#request(operation, id, 'PUT', `renew/${encodeURIComponent(id)}`, options.signal, WRITE_HINT),
      acceptStatus: [404],
    });
    if (response.status === 404) return null;
    return parseSessions(response, operation, id)[0] ?? null;
  }

  /**
   * Destroys a session, releasing (or deleting) the keys it holds. Consul answers `true` also for an unknown
   * ID (consul-semantics §L3), so this resolves once the session is surely gone. Operation `'session.destroy'`.
   */
  async destroy(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const operation = 'session.destroy';
    checkId(id, operation);
    checkOptions(options, operation, id);
    await this.#transport.request(
      this.#request(operation, id, 'PUT', `destroy/${encodeURIComponent(id)}`, options.signal, WRITE_HINT),
    );
  }

  /** Reads a session; null when Consul does not know it (`[]`, consul-semantics §L3). Operation `'session.info'`. */
  async info(id: string, options: { signal?: AbortSignal } = {}): Promise<SessionInfo | null> {
    const operation = 'session.info';
    checkId(id, operation);
    checkOptions(options, operation, id);
    const response = await this.#transport.request(
      this.#request(operation, id, 'GET', `info/${encodeURIComponent(id)}`, options.signal, READ_HINT),
    );
    return parseSessions(response, operation, id)[0] ?? null;
  }

  #request(
    operation: string,
    id: string | undefined,
    method: 'GET' | 'PUT',
    path: string,
    signal: AbortSignal | undefined,
    permissionHint: string,
    body?: string,
  ): TransportRequest {
    const search = new URLSearchParams();
    if (this.#config.datacenter !== undefined) search.append('dc', this.#config.datacenter);
    if (this.#config.namespace !== undefined) search.append('ns', this.#config.namespace);
    if (this.#config.partition !== undefined) search.append('partition', this.#config.partition);
    return {
      operation,
      key: id,
      method,
      path: `/v1/session/${path}`,
      query: search.toString(),
      ...(body === undefined ? {} : { body, contentType: 'application/json' }),
      index: 0,
      timeoutMs: this.#config.requestTimeout,
      signal: checkSignal(signal, operation, id),
      permissionHint,
    };
  }
}

/** ms as a Go duration string: whole seconds as `'15s'`, anything else as `'<ms>ms'` (consul-semantics §0). */
export function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

function createBody(options: SessionCreateOptions, operation: string): Record<string, unknown> {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`${operation}: ${problem}`, { operation });
  };
  const body: Record<string, unknown> = {};
  if (options.name !== undefined) {
    if (typeof options.name !== 'string') fail('name must be a string');
    body.Name = options.name;
  }
  if (options.ttl !== undefined) {
    const ttlMs = parseDuration(options.ttl, 'ttl', operation);
    if (ttlMs !== 0 && (ttlMs < SESSION_TTL_MIN_MS || ttlMs > SESSION_TTL_MAX_MS)) {
      fail(`ttl must be 0 (none) or from 10s to 24h, as Consul requires; got ${String(options.ttl)}`);
    }
    if (ttlMs > 0) body.TTL = goDuration(ttlMs);
  }
  if (options.lockDelay !== undefined) {
    const lockDelayMs = parseDuration(options.lockDelay, 'lockDelay', operation);
    if (lockDelayMs > MAX_LOCK_DELAY_MS) {
      fail(`lockDelay must be at most 60s (Consul applies no more); got ${String(options.lockDelay)}`);
    }
    // Sent even when 0: `'0s'` disables the delay, while leaving it out means Consul's 15 s.
    body.LockDelay = goDuration(lockDelayMs);
  }
  if (options.behavior !== undefined) {
    if (options.behavior !== 'release' && options.behavior !== 'delete') {
      fail(`behavior must be 'release' or 'delete'; got ${String(options.behavior)}`);
    }
    body.Behavior = options.behavior;
  }
  if (options.nodeChecks !== undefined) body.NodeChecks = checkList(options.nodeChecks, 'nodeChecks', fail);
  if (options.serviceChecks !== undefined) {
    body.ServiceChecks = checkList(options.serviceChecks, 'serviceChecks', fail).map((id) => ({ ID: id }));
  }
  return body;
}

function checkList(value: unknown, name: string, fail: (problem: string) => never): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
    fail(`${name} must be an array of check IDs`);
  }
  return [...(value as string[])];
}

function checkId(id: unknown, operation: string): void {
  if (typeof id !== 'string' || id === '' || id.includes('/')) {
    throw new InvalidArgumentError(`${operation}: the session ID must be a non-empty string without '/'`, {
      operation,
    });
  }
}

/** A `[Session]` answer (info, renew) as SessionInfo objects (consul-semantics §L2). */
function parseSessions(response: TransportResponse, operation: string, id: string): SessionInfo[] {
  const parsed = parseJson(response, operation, id);
  if (!Array.isArray(parsed))
    throw malformed(operation, id, 'expected a JSON array of sessions', response.status);
  return parsed.map((raw: unknown) => {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (typeof r.ID !== 'string')
      throw malformed(operation, id, 'a session has no string ID', response.status);
    const ttl = typeof r.TTL === 'string' ? r.TTL : '';
    let ttlMs = 0;
    try {
      ttlMs = ttl === '' ? 0 : parseDuration(ttl, 'TTL', operation);
    } catch {
      throw malformed(
        operation,
        id,
        `the session's TTL ${JSON.stringify(ttl)} is not a duration`,
        response.status,
      );
    }
    const lockDelayNs = typeof r.LockDelay === 'number' && r.LockDelay >= 0 ? r.LockDelay : 0;
    const serviceChecks = Array.isArray(r.ServiceChecks) ? (r.ServiceChecks as Array<{ ID?: unknown }>) : [];
    return {
      id: r.ID,
      name: typeof r.Name === 'string' ? r.Name : '',
      node: typeof r.Node === 'string' ? r.Node : '',
      lockDelayMs: lockDelayNs / 1e6,
      behavior: r.Behavior === 'delete' ? 'delete' : 'release',
      ttl,
      ttlMs,
      nodeChecks: Array.isArray(r.NodeChecks) ? r.NodeChecks.filter((c) => typeof c === 'string') : [],
      serviceChecks: serviceChecks.flatMap((c) => (typeof c?.ID === 'string' ? [c.ID] : [])),
      createIndex: typeof r.CreateIndex === 'number' ? r.CreateIndex : 0,
      modifyIndex: typeof r.ModifyIndex === 'number' ? r.ModifyIndex : 0,
    };
  });
}
