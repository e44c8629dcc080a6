/**
 * The dev server's sessions (consul-semantics §L1–§L4): create with Consul's defaults, bounds and check rules,
 * renew, destroy and reads, expiry at twice the TTL, and invalidation (destroy, expiry, a linked check turning
 * critical) with the `release`/`delete` behaviours and lock-delays, all on the KV store's one index.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { goQuote, parseGoDurationNs } from './go-strconv.js';
import type { KvStore, SessionBehavior, SessionRules } from './store.js';

/** A check's status as the session store needs it; `undefined` = no such check is registered. */
export type SessionCheckStatus = 'passing' | 'warning' | 'critical';

/**
 * Where the session store reads check statuses (consul-semantics §L2). The services side implements it and calls
 * {@link SessionStore.checkTurnedCritical} when a check turns critical or is deregistered.
 */
export interface SessionChecks {
  status(checkId: string): SessionCheckStatus | undefined;
}

/** The agent node's own health check, linked to every session by default (consul-semantics §L1). */
export const SERF_HEALTH_CHECK = 'serfHealth';

/** Until the services side is wired in: `serfHealth` always passing, every other check unknown. */
export const SERF_HEALTH_ONLY: SessionChecks = {
  status: (checkId) => (checkId === SERF_HEALTH_CHECK ? 'passing' : undefined),
};

/** A service check linked to a session (`ServiceChecks` entries). */
export interface SessionServiceCheck {
  readonly id: string;
  readonly namespace: string;
}

/** A create request after decoding and Consul's defaults (consul-semantics §L1). */
export interface SessionSpec {
  readonly name: string;
  readonly node: string;
  /** As given; capped at {@link MAX_LOCK_DELAY_NS} only when applied (consul-semantics §L4). */
  readonly lockDelayNs: number;
  /** `''` means `release`. */
  readonly behavior: string;
  /** A Go duration string, `''` for none. */
  readonly ttl: string;
  readonly nodeChecks: readonly string[] | null;
  readonly serviceChecks: readonly SessionServiceCheck[] | null;
  /** The deprecated `Checks` field, `null` once folded into `NodeChecks` (consul-semantics §L1). */
  readonly checks: readonly string[] | null;
}

/** A live session. */
export interface Session extends SessionSpec {
  readonly id: string;
  readonly behavior: SessionBehavior;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** consul-semantics §L1: the effective lock-delay never exceeds 60 s. */
export const MAX_LOCK_DELAY_NS = 60_000_000_000;
/** consul-semantics §L3: a session lives until twice its TTL has passed without a renew. */
export const SESSION_TTL_MULTIPLIER = 2;
const SESSION_TTL_MIN_NS = 10_000_000_000n;
const SESSION_TTL_MAX_NS = 24n * 3_600_000_000_000n;

/** Options of {@link SessionStore}; the server resolves them. */
export interface SessionStoreOptions {
  /** The KV store whose index sessions share and whose keys they lock. */
  readonly store: KvStore;
  /** The agent's node name: the default `Node`, and the only node that exists. */
  readonly nodeName: string;
  /** Clock for TTLs and lock-delays, in ms. */
  readonly now: () => number;
  /** Check statuses. @default {@link SERF_HEALTH_ONLY} */
  readonly checks?: SessionChecks | undefined;
}

/** The outcome of {@link SessionStore.create}: the session, or Consul's error text (a 500, consul-semantics §L1). */
export type SessionCreateResult = { ok: true; session: Session } | { ok: false; error: string };

/** Sessions, their TTL timers and the lock-delays their invalidation leaves on keys. */
export class SessionStore {
  readonly #options: SessionStoreOptions;
  readonly #checks: SessionChecks;
  readonly #sessions = new Map<string, Session>();
  /** session id -> when it expires (ms, by the clock); only sessions with a TTL. */
  readonly #expiresAtMs = new Map<string, number>();
  /** key -> end of its lock-delay (ms, by the clock). */
  readonly #lockDelayUntilMs = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #tableIndex = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs: number | undefined;
  #disposed = false;
  /** consul-semantics §S9.5: the TTL timers run on the leader only. */
  #leader = true;

  /** Session existence and lock-delays, as the KV transaction needs them (consul-semantics §L7). */
  readonly rules: SessionRules = {
    exists: (sessionId) => this.get(sessionId) !== undefined,
    lockDelayed: (key) => this.lockDelayed(key),
  };

  constructor(options: SessionStoreOptions) {
    this.#options = options;
    this.#checks = options.checks ?? SERF_HEALTH_ONLY;
  }

  /** The agent's node name. */
  get nodeName(): string {
    return this.#options.nodeName;
  }

  /** consul-semantics §L3: the sessions table index (last create or invalidation), never 0. */
  index(): number {
    this.expireDue();
    return Math.max(this.#tableIndex, 1);
  }

  /** Validates in Consul's order (consul-semantics §L1) and creates the session under a new index. */
  create(spec: SessionSpec): SessionCreateResult {
    this.expireDue();
    if (spec.node === '') return { ok: false, error: 'Must provide Node' };
    const behavior = spec.behavior === '' ? 'release' : spec.behavior;
    if (behavior !== 'release' && behavior !== 'delete') {
      return { ok: false, error: `Invalid Behavior setting '${spec.behavior}'` };
    }
    let ttlNs = 0n;
    if (spec.ttl !== '') {
      const parsed = parseTtl(spec.ttl);
      if (typeof parsed === 'string') return { ok: false, error: parsed };
      ttlNs = parsed;
    }
    if (spec.node !== this.#options.nodeName) return { ok: false, error: 'Missing node registration' };
    for (const checkId of linkedChecks(spec)) {
      const status = this.#checks.status(checkId);
      if (status === undefined) return { ok: false, error: `Missing check '${checkId}' registration` };
      if (status === 'critical') return { ok: false, error: `Check '${checkId}' is in critical state` };
    }
    const index = this.#options.store.commitWithIndex();
    const session: Session = { ...spec, id: randomUUID(), behavior, createIndex: index, modifyIndex: index };
    this.#sessions.set(session.id, session);
    this.#tableIndex = index;
    if (ttlNs > 0n) this.#expiresAtMs.set(session.id, this.#deadlineMs(ttlNs));
    this.#changed();
    return { ok: true, session };
  }

  /** consul-semantics §L3 renew: resets the TTL timer, no index change; undefined when the session is gone. */
  renew(sessionId: string): Session | undefined {
    const session = this.get(sessionId);
    if (session === undefined) return undefined;
    const ttlNs = session.ttl === '' ? 0n : (parseTtl(session.ttl) as bigint);
    if (ttlNs > 0n) {
      this.#expiresAtMs.set(sessionId, this.#deadlineMs(ttlNs));
      this.#schedule();
    }
    return session;
  }

  /** consul-semantics §L4: invalidates the session; false when it did not exist (not an error for the caller). */
  destroy(sessionId: string): boolean {
    this.expireDue();
    return this.#invalidate(sessionId);
  }

  /** A live session. */
  get(sessionId: string): Session | undefined {
    this.expireDue();
    return this.#sessions.get(sessionId);
  }

  /** Every live session, in creation order. */
  list(): Session[] {
    this.expireDue();
    return [...this.#sessions.values()];
  }

  /** The live sessions of a node. */
  forNode(node: string): Session[] {
    return this.list().filter((session) => session.node === node);
  }

  /** consul-semantics §L4: whether an acquire of this key must answer `false` now. */
  lockDelayed(key: string): boolean {
    const untilMs = this.#lockDelayUntilMs.get(key);
    if (untilMs === undefined) return false;
    if (untilMs > this.#options.now()) return true;
    this.#lockDelayUntilMs.delete(key);
    return false;
  }

  /**
   * consul-semantics §L4: a check linked to sessions turned critical or was deregistered; every session naming it
   * is invalidated. Returns the invalidated session IDs. Called by the services side.
   */
  checkTurnedCritical(checkId: string): string[] {
    this.expireDue();
    const doomed = [...this.#sessions.values()]
      .filter((session) => linkedChecks(session).includes(checkId))
      .map((session) => session.id);
    for (const sessionId of doomed) this.#invalidate(sessionId);
    return doomed;
  }

  /**
   * consul-semantics §S9.5: the TTL timers live on the leader. Without one no session expires; when a
   * leader is back, every TTL session's timer restarts at its full length (TTL × 2).
   */
  setLeader(leader: boolean): void {
    if (leader === this.#leader) return;
    this.expireDue();
    this.#leader = leader;
    if (leader) {
      for (const sessionId of this.#expiresAtMs.keys()) {
        const ttl = this.#sessions.get(sessionId)?.ttl ?? '';
        this.#expiresAtMs.set(sessionId, this.#deadlineMs(parseTtl(ttl) as bigint));
      }
    }
    this.#schedule();
  }

  /** Invalidates every session whose TTL ran out by the clock; returns how many. Runs before every request. */
  expireDue(): number {
    if (!this.#leader) return 0;
    const nowMs = this.#options.now();
    let expired = 0;
    for (const [sessionId, atMs] of this.#expiresAtMs) {
      if (atMs <= nowMs && this.#invalidate(sessionId)) expired++;
    }
    this.#schedule();
    return expired;
  }

  /** Registers a listener for any change of the sessions table (for blocking reads); returns its remover. */
  subscribe(onChange: () => void): () => void {
    this.#listeners.add(onChange);
    return () => this.#listeners.delete(onChange);
  }

  /** Stops the expiry timer. The store stays usable; expiry then happens only on access. */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #deadlineMs(ttlNs: bigint): number {
    return this.#options.now() + (Number(ttlNs) / 1e6) * SESSION_TTL_MULTIPLIER;
  }

  #invalidate(sessionId: string): boolean {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return false;
    const { store, now } = this.#options;
    const held = store.heldBy(sessionId);
    // consul-semantics §L4: the session goes and its keys are released or deleted under one index.
    this.#tableIndex = store.commitWithIndex((tx) => tx.dropLocks(held, session.behavior));
    this.#sessions.delete(sessionId);
    this.#expiresAtMs.delete(sessionId);
    const delayMs = Math.min(session.lockDelayNs, MAX_LOCK_DELAY_NS) / 1e6;
    if (delayMs > 0) {
      const untilMs = now() + delayMs;
      for (const key of held) this.#lockDelayUntilMs.set(key, untilMs);
    }
    this.#changed();
    return true;
  }

  #changed(): void {
    this.#schedule();
    for (const listener of [...this.#listeners]) listener();
  }

  /** One timer for the earliest expiry, so a real clock expires sessions without any request. */
  #schedule(): void {
    let nextAtMs: number | undefined;
    for (const atMs of this.#expiresAtMs.values())
      if (nextAtMs === undefined || atMs < nextAtMs) nextAtMs = atMs;
    if (this.#disposed || !this.#leader || nextAtMs === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAtMs = undefined;
      return;
    }
    if (this.#timer !== undefined && this.#timerAtMs === nextAtMs) return;
    clearTimeout(this.#timer);
    this.#timerAtMs = nextAtMs;
    const delayMs = Math.min(Math.max(nextAtMs - this.#options.now(), 1), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = undefined;
      this.expireDue();
    }, delayMs);
    this.#timer.unref();
  }
}

/** consul-semantics §L1 TTL: a Go duration; 0 means none; otherwise 10 s to 24 h. Returns ns or Consul's error text. */
function parseTtl(ttl: string): bigint | string {
  const ns = parseGoDurationNs(ttl);
  if (ns === undefined) return `Session TTL '${ttl}' invalid: time: invalid duration ${goQuote(ttl)}`;
  if (ns !== 0n && (ns < SESSION_TTL_MIN_NS || ns > SESSION_TTL_MAX_NS)) {
    return `Invalid Session TTL '${ns}', must be between [10s=24h0m0s]`;
  }
  return ns;
}

/** consul-semantics §L2: the checks a session is linked to, legacy `Checks` first, as Consul validates them. */
function linkedChecks(spec: SessionSpec): string[] {
  return [
    ...(spec.checks ?? []),
    ...(spec.nodeChecks ?? []),
    ...(spec.serviceChecks ?? []).map((check) => check.id),
  ];
}
