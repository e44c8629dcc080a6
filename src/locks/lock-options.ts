/**
 * The options of a {@link Lock}, its states and event payloads, and the options resolved and checked once.
 * @module
 */
import { parseDuration } from '../consul/duration.js';
import { MAX_LOCK_DELAY_MS, SESSION_TTL_MIN_MS, type SessionBehavior } from '../consul/session.js';
import { type ConsulError, InvalidArgumentError, type LockLostCause, type LockLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type LockClock, SYSTEM_CLOCK } from './clock.js';

/** The Go client's `LockFlagValue`: the `Flags` of a key used as a lock (`api/lock.go`). Above 2^53, so a bigint. */
export const LOCK_FLAG_VALUE = 0x2ddccbc058a50c18n;
/** The Go client's `DefaultLockSessionName`. */
export const DEFAULT_LOCK_SESSION_NAME = 'Consul API Lock';

/** Options of {@link lock} and {@link Lock}. */
export interface LockOptions {
  /**
   * The value written to the key when the lock is acquired and released (Go's `LockOptions.Value`).
   * @default '' (empty)
   */
  value?: string | Uint8Array;
  /**
   * Name of the session the lock creates.
   * @default 'Consul API Lock' (the Go client's)
   */
  sessionName?: string;
  /**
   * TTL of the lock's session: ms or a Go duration, at least 10 s (Consul's minimum). The session is renewed
   * every TTL/2; the lock is lost when renewals fail for a whole TTL (Consul would drop the session at 2 × TTL).
   * @default '15s' (the Go client's)
   */
  sessionTtl?: number | string;
  /**
   * The session's lock-delay (ms or a Go duration, 0 … 60 s): after this session is invalidated, nobody can
   * acquire the key for this long. Also what an acquire waits after a refusal when it never saw who held
   * the key.
   * @default '15s' (Consul's default)
   */
  lockDelay?: number | string;
  /**
   * What Consul does to the key when the session is invalidated: `'release'` keeps it, `'delete'` deletes it.
   * @default 'release'
   */
  behavior?: SessionBehavior;
  /**
   * Node checks the session is linked to (`[]` = none: only the TTL keeps it alive).
   * @default undefined (Consul's default, `['serfHealth']`)
   */
  nodeChecks?: readonly string[];
  /**
   * Service checks the session is linked to: the lock is lost when one of them turns critical.
   * @default undefined (none)
   */
  serviceChecks?: readonly string[];
  /**
   * Pause before retrying after a failed request (Consul unreachable, 5xx, 429, no leader), in ms or a Go
   * duration. Failures are retried, never lose the lock by themselves: only the TTL rule does.
   * @default 1000 (the Go client's renew retry)
   */
  retryInterval?: number | string;
  /** Clock and timers for renewals, retries and lock-delay waits. @default the system clock */
  clock?: LockClock;
  /** Where listener failures are logged. @default no logging */
  logger?: Logger;
}

/** Where a lock is in its life. */
export type LockState = 'idle' | 'acquiring' | 'held' | 'lost' | 'released' | 'closed';

/** Payload of `acquired`. */
export interface LockAcquiredEvent {
  key: string;
  /** The session holding the key. */
  session: string;
  /** The key's `LockIndex` after this acquire: grows with every acquire, usable as a fencing token. */
  lockIndex: number;
}

/** Payload of `lost`. */
export interface LockLostEvent {
  key: string;
  session: string;
  reason: LockLostCause;
  error: LockLostError;
}

/** Events of a {@link Lock}. */
export interface LockEvents {
  /** The lock is held (after {@link Lock.acquire} resolved it). */
  acquired: (event: LockAcquiredEvent) => void;
  /** A held lock was lost; {@link Lock.signal} aborts at the same time. Not emitted by release or close. */
  lost: (event: LockLostEvent) => void;
  /** A request failed and will be retried (the lock is not lost by it). */
  error: (error: ConsulError) => void;
}

/** {@link LockOptions} with every default applied. */
export interface ResolvedLockOptions {
  value: string | Uint8Array;
  sessionName: string;
  sessionTtlMs: number;
  lockDelayMs: number;
  lockDelaySent: boolean;
  behavior: SessionBehavior;
  nodeChecks: readonly string[] | undefined;
  serviceChecks: readonly string[] | undefined;
  retryMs: number;
  clock: LockClock;
}

const OPERATION = 'lock';
/** Consul's default lock-delay, used when none is configured (consul-semantics §L1). */
const DEFAULT_LOCK_DELAY_MS = 15_000;

/** Checks `options` and applies the defaults. */
export function resolveLockOptions(options: LockOptions, key: string): ResolvedLockOptions {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`lock ${key}: ${problem}`, { operation: OPERATION, key });
  };
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  const sessionTtlMs = parseDuration(options.sessionTtl ?? 15_000, 'sessionTtl', OPERATION);
  if (sessionTtlMs < SESSION_TTL_MIN_MS)
    fail(`sessionTtl must be at least 10s (Consul's minimum); got ${String(options.sessionTtl)}`);
  const lockDelayMs =
    options.lockDelay === undefined
      ? DEFAULT_LOCK_DELAY_MS
      : parseDuration(options.lockDelay, 'lockDelay', OPERATION);
  if (lockDelayMs > MAX_LOCK_DELAY_MS)
    fail(`lockDelay must be at most 60s; got ${String(options.lockDelay)}`);
  const retryMs = parseDuration(options.retryInterval ?? 1000, 'retryInterval', OPERATION);
  if (retryMs <= 0) fail('retryInterval must be above 0 (a retry at once would loop)');
  const value = options.value ?? '';
  if (typeof value !== 'string' && !(value instanceof Uint8Array))
    fail('value must be a string or Uint8Array');
  const behavior = options.behavior ?? 'release';
  if (behavior !== 'release' && behavior !== 'delete') fail("behavior must be 'release' or 'delete'");
  return {
    value,
    sessionName: options.sessionName ?? DEFAULT_LOCK_SESSION_NAME,
    sessionTtlMs,
    lockDelayMs,
    lockDelaySent: options.lockDelay !== undefined,
    behavior,
    nodeChecks: options.nodeChecks,
    serviceChecks: options.serviceChecks,
    retryMs,
    clock: options.clock ?? SYSTEM_CLOCK,
  };
}
