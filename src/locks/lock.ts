/**
 * A distributed lock on one Consul key, compatible with the Go client's `api/lock.go`: the key itself holds
 * the lock, with the lock flag, under a session this lock creates, renews and destroys (consul-semantics §L8).
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import { checkSignal, validateKey } from '../consul/kv-args.js';
import { MAX_LOCK_DELAY_MS } from '../consul/session.js';
import { type LockStateMessage, lockStateChannel } from '../diagnostics.js';
import {
  AbortedError,
  ClosedError,
  ConsulError,
  InvalidArgumentError,
  LockConflictError,
  type LockLostCause,
  LockLostError,
} from '../errors.js';
import { SafeEmitter } from '../events.js';
import { resolveLogger } from '../logger.js';
import { sleep } from './clock.js';
import {
  LOCK_FLAG_VALUE,
  type LockEvents,
  type LockOptions,
  type LockState,
  type ResolvedLockOptions,
  resolveLockOptions,
} from './lock-options.js';
import { SessionKeeper } from './session-keeper.js';

const OPERATION = 'lock';

/** Mirrors a lock's state on the `consul-hotreload:lock:state` channel (docs/diagnostics.md). */
function publish(message: LockStateMessage): void {
  if (lockStateChannel.hasSubscribers) lockStateChannel.publish(message);
}

/**
 * One lock on one key. Acquire it with {@link Lock.acquire} (or {@link lock}); while held, its session is
 * renewed and the key is watched, and `lost` fires (with {@link Lock.signal} aborting) when the hold ends
 * without {@link Lock.release}. After a loss or a release it can be acquired again, with a new session.
 */
export class Lock extends SafeEmitter<LockEvents> {
  /** The lock's key. */
  readonly key: string;
  readonly #client: ConsulClient;
  readonly #o: ResolvedLockOptions;
  #state: LockState = 'idle';
  #session: string | undefined;
  #keeper: SessionKeeper | undefined;
  #lockIndex = 0;
  /** Aborts the current acquire or hold (its reads, waits and renewals). */
  #run: AbortController | undefined;
  #hold: AbortController | undefined;
  /** The acquire in progress, settled; close() waits for it. */
  #acquiring: Promise<void> | undefined;
  /** The last release; a second release() or close() waits for it. */
  #releasing: Promise<void> | undefined;
  /** Session destroys started after a loss; close() waits for them. */
  readonly #cleanups = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;
  /** The last other session seen holding the key and its lock-delay (undefined when unknown). */
  #holder: { id: string; lockDelayMs: number | undefined } | undefined;

  /**
   * @throws InvalidArgumentError when the key or an option cannot be used
   */
  constructor(client: ConsulClient, key: string, options: LockOptions = {}) {
    const logger = resolveLogger(options.logger);
    super((event, error) =>
      logger.error({ key, event, err: error }, `lock ${key}: a '${event}' listener threw`),
    );
    validateKey(key, OPERATION, false);
    this.key = key;
    this.#client = client;
    this.#o = resolveLockOptions(options, key);
  }

  /** Where the lock is in its life. */
  get state(): LockState {
    return this.#state;
  }

  /** True while the lock is held. */
  get isHeld(): boolean {
    return this.#state === 'held';
  }

  /** The session of the current acquire or hold, if any. */
  get session(): string | undefined {
    return this.#session;
  }

  /** The key's `LockIndex` of the last acquire (a fencing token: it grows with every acquire); 0 before. */
  get lockIndex(): number {
    return this.#lockIndex;
  }

  /**
   * Aborted when the current hold ends: with a {@link LockLostError} on a loss, a ClosedError on release or
   * close. Pass it to the work the lock protects. Before the first acquire, a signal that never aborts.
   */
  get signal(): AbortSignal {
    this.#hold ??= new AbortController();
    return this.#hold.signal;
  }

  /**
   * Waits until the lock is held: creates a session, then blocks on the key until no session holds it and
   * acquires it; after a refusal it waits out the previous holder's lock-delay (consul-semantics §L8). Failed
   * requests are retried (each reported as `error`).
   * @throws LockConflictError when the key carries flags other than {@link LOCK_FLAG_VALUE}
   * @throws AbortedError when `signal` aborts; ClosedError when the lock is closed meanwhile
   * @throws InvalidArgumentError when the lock is already held or being acquired
   * @throws ConsulError subclasses that retrying cannot fix (an ACL denial…)
   */
  async acquire(options: { signal?: AbortSignal } = {}): Promise<void> {
    const userSignal = checkSignal(options.signal, 'lock.acquire', this.key);
    if (this.#closing !== undefined) {
      throw new ClosedError(`lock.acquire ${this.key}: the lock was closed`, {
        operation: 'lock.acquire',
        key: this.key,
      });
    }
    if (this.#state === 'acquiring' || this.#state === 'held') {
      throw new InvalidArgumentError(
        `lock.acquire ${this.key}: the lock is already ${this.#state === 'held' ? 'held' : 'being acquired'}; release it first`,
        { operation: 'lock.acquire', key: this.key },
      );
    }
    this.#state = 'acquiring';
    const run = new AbortController();
    this.#run = run;
    const attempt = this.#attempt(run, userSignal);
    // close() waits for the whole attempt, its session's destroy included.
    this.#acquiring = attempt.then(
      () => {},
      () => {},
    );
    return attempt;
  }

  /** One acquire: the loop, and on failure the session's destroy and the error the caller sees. */
  async #attempt(run: AbortController, userSignal: AbortSignal | undefined): Promise<void> {
    const signal = userSignal === undefined ? run.signal : AbortSignal.any([run.signal, userSignal]);
    try {
      await this.#acquireLoop(signal);
    } catch (error) {
      await this.#abandonSession();
      if (this.#state === 'acquiring') this.#state = 'idle';
      if (userSignal?.aborted) {
        throw new AbortedError(`lock.acquire ${this.key}: aborted by the caller's signal`, {
          operation: 'lock.acquire',
          key: this.key,
          cause: userSignal.reason,
        });
      }
      if (run.signal.aborted) {
        throw new ClosedError(`lock.acquire ${this.key}: the lock was closed`, {
          operation: 'lock.acquire',
          key: this.key,
        });
      }
      throw error;
    }
  }

  /**
   * Releases a held lock: `?release` on the key, then destroys the session (consul-semantics §L8). Does
   * nothing when the lock is not held. If the release request fails, the destroy still frees the key (with
   * the session's lock-delay).
   * @throws ConsulError when the session could not be destroyed (it then expires after 2 × TTL)
   */
  async release(): Promise<void> {
    if (this.#state === 'held') {
      this.#releasing = this.#release();
      await this.#releasing;
    } else {
      // A release in progress is waited for, not repeated; its failure belongs to its own caller.
      await this.#releasing?.catch(() => {});
    }
    await Promise.all(this.#cleanups);
  }

  async #release(): Promise<void> {
    const session = this.#session as string;
    this.#state = 'released';
    publish({ key: this.key, event: 'released', session });
    this.#stopHold(new ClosedError(`lock ${this.key}: released`, { operation: OPERATION, key: this.key }));
    let releaseError: unknown;
    try {
      await this.#client.kv.put(this.key, this.#o.value, { release: session, flags: LOCK_FLAG_VALUE });
    } catch (error) {
      releaseError = error;
    }
    await this.#client.session.destroy(session);
    if (releaseError instanceof ConsulError) this.emit('error', releaseError);
  }

  /**
   * Ends everything: stops an acquire in progress (it rejects with ClosedError), releases a held lock and
   * destroys its session, and waits for every request; no timer, socket or session is left. Never rejects
   * (failures are emitted as `error`). Idempotent: a second call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@link Lock.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    if (this.#state === 'acquiring') {
      this.#run?.abort(new ClosedError(`lock ${this.key}: closed`, { operation: OPERATION, key: this.key }));
      await this.#acquiring;
    }
    try {
      await this.release();
    } catch (error) {
      if (error instanceof ConsulError) this.emit('error', error);
    }
    await Promise.all(this.#cleanups);
    this.#state = 'closed';
  }

  async #acquireLoop(signal: AbortSignal): Promise<void> {
    const { kv } = this.#client;
    let index = 0;
    let freedAtMs: number | undefined;
    let refused = false;
    for (;;) {
      try {
        if (this.#session === undefined) await this.#startSession(signal);
        const session = this.#session as string;
        const read = await kv.get(this.key, { index, signal });
        const entry = read.entry;
        if (entry !== null && entry.flagsBigInt !== LOCK_FLAG_VALUE) throw this.#conflict(entry.flagsBigInt);
        if (entry?.session === session) {
          // An earlier acquire went through but its answer was lost.
          return this.#held(session, entry.lockIndex);
        }
        if (entry?.session !== undefined) {
          if (this.#holder?.id !== entry.session) await this.#learnHolder(entry.session, signal);
          freedAtMs = undefined;
          index = nextIndex(index, read.index);
          await this.#paceRead(read.index, signal);
          continue;
        }
        if (this.#holder !== undefined && freedAtMs === undefined) freedAtMs = this.#o.clock.now();
        if (refused) {
          // consul-semantics §L4: a refusal of a free key is a lock-delay; wait it out, not a fixed sleep.
          await sleep(this.#o.clock, this.#lockDelayWaitMs(freedAtMs), signal);
          refused = false;
        }
        const acquired = await kv.put(this.key, this.#o.value, {
          acquire: session,
          flags: LOCK_FLAG_VALUE,
          signal,
        });
        if (acquired) {
          // consul-semantics §L5: the key's LockIndex is the fencing token. The read above may predate a
          // lock-delay wait and other holders, so the monitor's first (consistent) read is done now.
          const confirm = await kv.get(this.key, { consistency: 'consistent', signal });
          if (confirm.entry?.session === session) {
            return this.#held(session, confirm.entry.lockIndex, confirm.index);
          }
          // Ours was lost between the acquire and the read (the session ended): try again.
          index = 0;
          continue;
        }
        refused = true;
        index = 0;
      } catch (error) {
        if (signal.aborted || error instanceof LockConflictError) throw error;
        if (!(error instanceof ConsulError) || !error.retryable) throw error;
        if (error.message.includes('invalid session')) this.#dropSession();
        this.emit('error', error);
        await sleep(this.#o.clock, this.#o.retryMs, signal);
        index = 0;
      }
    }
  }

  /**
   * An answer without `X-Consul-Index` (a proxy dropped it) cannot block the next read: wait `retryInterval`
   * first, so such answers never make a tight loop (consul-semantics §4.7).
   */
  async #paceRead(answeredIndex: number, signal: AbortSignal): Promise<void> {
    if (answeredIndex === 0) await sleep(this.#o.clock, this.#o.retryMs, signal);
  }

  /** How long to wait after a refused acquire of a free key: the rest of the last holder's lock-delay. */
  #lockDelayWaitMs(freedAtMs: number | undefined): number {
    const holderDelayMs = this.#holder?.lockDelayMs;
    if (holderDelayMs === undefined || freedAtMs === undefined) {
      // Never saw who held it: assume it used the same lock-delay as this lock.
      return Math.max(this.#o.lockDelayMs, this.#o.retryMs);
    }
    const remainingMs = holderDelayMs - (this.#o.clock.now() - freedAtMs);
    // Refused after the delay should be over (clocks differ): retry later, never at once.
    return remainingMs > 0 ? remainingMs : this.#o.retryMs;
  }

  async #learnHolder(holder: string, signal: AbortSignal): Promise<void> {
    const info = await this.#client.session.info(holder, { signal });
    this.#holder = {
      id: holder,
      lockDelayMs: info === null ? undefined : Math.min(info.lockDelayMs, MAX_LOCK_DELAY_MS),
    };
  }

  async #startSession(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    const id = await this.#client.session.create({
      name: o.sessionName,
      ttl: o.sessionTtlMs,
      ...(o.lockDelaySent ? { lockDelay: o.lockDelayMs } : {}),
      behavior: o.behavior,
      ...(o.nodeChecks === undefined ? {} : { nodeChecks: o.nodeChecks }),
      ...(o.serviceChecks === undefined ? {} : { serviceChecks: o.serviceChecks }),
      signal,
    });
    this.#session = id;
    this.#keeper = new SessionKeeper({
      sessions: this.#client.session,
      id,
      ttlMs: o.sessionTtlMs,
      retryMs: o.retryMs,
      clock: o.clock,
      onGone: () => this.#sessionEnded(id, 'session-invalidated', undefined),
      onExpired: (error) => this.#sessionEnded(id, 'renew-failed', error),
      onError: (error) => {
        if (error instanceof ConsulError) this.emit('error', error);
      },
    });
  }

  /** The keeper gave up on session `id`: a held lock is lost; an acquire in progress starts a new session. */
  #sessionEnded(id: string, reason: LockLostCause, cause: unknown): void {
    if (this.#session !== id) return;
    if (this.#state === 'held') this.#lose(reason, cause);
    else this.#abandonSessionInBackground();
  }

  /** `answeredIndex`: the index of a consistent read that showed the key ours, where the monitor goes on. */
  #held(session: string, lockIndex: number, answeredIndex?: number): void {
    this.#state = 'held';
    this.#lockIndex = lockIndex;
    this.#holder = undefined;
    if (this.#hold === undefined || this.#hold.signal.aborted) this.#hold = new AbortController();
    const run = this.#run as AbortController;
    void this.#monitor(session, run.signal, answeredIndex);
    this.emit('acquired', { key: this.key, session, lockIndex });
    publish({ key: this.key, event: 'acquired', session, lockIndex });
  }

  /**
   * Watches the key while held (consistent blocking reads, as the Go client does) and loses the lock when
   * its `Session` is no longer ours or it is deleted. Failed reads are retried: a leader election answers
   * 500 for a while and must not lose the lock (consul-semantics §L8).
   */
  async #monitor(session: string, signal: AbortSignal, answeredIndex: number | undefined): Promise<void> {
    let index = 0;
    if (answeredIndex !== undefined) {
      index = nextIndex(0, answeredIndex);
      try {
        await this.#paceRead(answeredIndex, signal);
      } catch {
        return;
      }
    }
    for (;;) {
      try {
        const read = await this.#client.kv.get(this.key, { index, consistency: 'consistent', signal });
        if (signal.aborted || this.#state !== 'held') return;
        if (read.entry === null) return this.#lose('key-deleted', undefined);
        if (read.entry.session !== session) return this.#lose('session-changed', undefined);
        index = nextIndex(index, read.index);
        await this.#paceRead(read.index, signal);
      } catch (error) {
        if (signal.aborted || this.#state !== 'held') return;
        if (error instanceof ClosedError) return this.#lose('renew-failed', error);
        if (error instanceof ConsulError) this.emit('error', error);
        try {
          await sleep(this.#o.clock, this.#o.retryMs, signal);
        } catch {
          return;
        }
      }
    }
  }

  #lose(reason: LockLostCause, cause: unknown): void {
    if (this.#state !== 'held') return;
    const session = this.#session as string;
    this.#state = 'lost';
    const error = new LockLostError(
      `lock ${this.key}: lost (${LOST_TEXT[reason]}); stop the work it protected`,
      reason,
      {
        operation: OPERATION,
        key: this.key,
        cause,
      },
    );
    this.#stopHold(error);
    // The session may still exist (renewals failed, or someone else took the key): destroy it so it holds
    // nothing and nobody waits for its TTL.
    this.#destroyInBackground(session);
    this.emit('lost', { key: this.key, session, reason, error });
    publish({ key: this.key, event: 'lost', session, reason });
  }

  /** Ends a hold: stops renewals and the monitor, forgets the session, aborts {@link Lock.signal}. */
  #stopHold(reason: Error): void {
    this.#keeper?.stop();
    this.#keeper = undefined;
    this.#session = undefined;
    this.#run?.abort(reason);
    this.#run = undefined;
    this.#hold?.abort(reason);
  }

  #dropSession(): string | undefined {
    const session = this.#session;
    this.#keeper?.stop();
    this.#keeper = undefined;
    this.#session = undefined;
    return session;
  }

  /** After a failed acquire: stop renewing and destroy the session, waiting for it. */
  async #abandonSession(): Promise<void> {
    const session = this.#dropSession();
    if (session !== undefined) this.#destroyInBackground(session);
    await Promise.all(this.#cleanups);
  }

  #abandonSessionInBackground(): void {
    const session = this.#dropSession();
    if (session !== undefined) this.#destroyInBackground(session);
  }

  #destroyInBackground(session: string): void {
    const done = this.#client.session.destroy(session).then(
      () => {},
      (error: unknown) => {
        if (error instanceof ConsulError) this.emit('error', error);
      },
    );
    this.#cleanups.add(done);
    void done.then(() => this.#cleanups.delete(done));
  }

  #conflict(flags: bigint): LockConflictError {
    return new LockConflictError(
      `lock ${this.key}: the key exists with flags ${flags}, not the lock flag ${LOCK_FLAG_VALUE} (Existing key does not match lock use); pick another key or delete this one`,
      { operation: OPERATION, key: this.key },
    );
  }
}

const LOST_TEXT: Readonly<Record<LockLostCause, string>> = {
  'session-changed': "the key's Session is no longer this lock's",
  'session-invalidated': "Consul no longer knows the lock's session",
  'key-deleted': 'the key was deleted',
  'renew-failed': 'the session could not be renewed for a whole TTL',
};

/**
 * Acquires a lock on `key` and resolves with it once held. Options as for {@link Lock}, plus a `signal` that
 * aborts the wait (nothing is left behind then).
 *
 * @example
 * ```ts
 * const held = await lock(client, 'locks/report', { sessionTtl: '15s' });
 * try {
 *   await writeReport({ signal: held.signal });
 * } finally {
 *   await held.close();
 * }
 * ```
 */
export async function lock(
  client: ConsulClient,
  key: string,
  options: LockOptions & { signal?: AbortSignal } = {},
): Promise<Lock> {
  const { signal, ...lockOptions } = options;
  const held = new Lock(client, key, lockOptions);
  try {
    await held.acquire(signal === undefined ? {} : { signal });
  } catch (error) {
    await held.close();
    throw error;
  }
  return held;
}

/** The next blocking index: the answer's, or 0 (start over) when it went backwards (consul-semantics §4.7). */
function nextIndex(previous: number, answered: number): number {
  if (answered < previous) return 0;
  return Math.max(answered, 1);
}
