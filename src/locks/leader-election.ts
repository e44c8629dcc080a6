/**
 * Leader election on one key: campaign with a {@link Lock}, say when elected and when demoted, campaign again
 * after a loss, resign on close (consul-semantics §L8).
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import { parseDuration } from '../consul/duration.js';
import { ClosedError, ConsulError, type LockLostCause, type LockLostError } from '../errors.js';
import { SafeEmitter } from '../events.js';
import { resolveLogger } from '../logger.js';
import { type LockClock, SYSTEM_CLOCK, sleep } from './clock.js';
import { Lock } from './lock.js';
import type { LockAcquiredEvent, LockOptions } from './lock-options.js';

/** Options of {@link leaderElection}: those of the lock it campaigns with. */
export interface LeaderElectionOptions extends LockOptions {}

/** Payload of `demoted`. */
export interface DemotedEvent {
  key: string;
  /** The session that was leader. */
  session: string;
  reason: LockLostCause;
  error: LockLostError;
}

/** Events of a {@link LeaderElection}. */
export interface LeaderElectionEvents {
  /** This process became leader. */
  elected: (event: LockAcquiredEvent) => void;
  /** This process stopped being leader without resigning (not on close); it campaigns again at once. */
  demoted: (event: DemotedEvent) => void;
  /** A request failed; the campaign goes on (after a pause of 10 × `retryInterval` when retrying cannot help). */
  error: (error: ConsulError) => void;
}

/**
 * A campaign for leadership of one key, started at construction and kept up until {@link LeaderElection.close}.
 * Build it with {@link leaderElection}.
 */
export class LeaderElection extends SafeEmitter<LeaderElectionEvents> {
  /** The election's key. */
  readonly key: string;
  readonly #lock: Lock;
  readonly #stop = new AbortController();
  readonly #campaign: Promise<void>;
  readonly #retryMs: number;
  readonly #clock: LockClock;
  #closing: Promise<void> | undefined;

  /** Use {@link leaderElection}. */
  constructor(client: ConsulClient, key: string, options: LeaderElectionOptions = {}) {
    const logger = resolveLogger(options.logger);
    super((event, error) =>
      logger.error({ key, event, err: error }, `leader election ${key}: a '${event}' listener threw`),
    );
    this.key = key;
    this.#lock = new Lock(client, key, options);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#retryMs = parseDuration(options.retryInterval ?? 1000, 'retryInterval', 'lock');
    this.#lock.on('acquired', (event) => this.emit('elected', event));
    this.#lock.on('error', (error) => this.emit('error', error));
    this.#campaign = this.#run();
  }

  /** True while this process is leader. */
  get isLeader(): boolean {
    return this.#lock.isHeld;
  }

  /** The lock the election campaigns with (its `signal` aborts when leadership ends). */
  get lock(): Lock {
    return this.#lock;
  }

  /**
   * Stops campaigning and resigns: a leader releases the key and destroys its session, so another process
   * can be elected at once. Never rejects; idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      await this.#lock.close();
      await this.#campaign;
    })();
    return this.#closing;
  }

  /** Same as {@link LeaderElection.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.#lock.acquire({ signal });
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ConsulError) this.emit('error', error);
        // The caller closed the client: nothing can be campaigned for any more.
        if (error instanceof ClosedError) return;
        // acquire() retries what retrying can fix; what reaches here (an ACL denial, a key used by
        // something else) is retried slowly rather than in a tight loop.
        if (!(await this.#pause(10 * this.#retryMs))) return;
        continue;
      }
      const lost = await this.#lost(signal);
      if (lost === undefined) return;
      this.emit('demoted', { key: this.key, session: lost.session, reason: lost.reason, error: lost.error });
    }
  }

  /** Resolves with the loss of the lock, or undefined when the election is closed first. */
  #lost(
    signal: AbortSignal,
  ): Promise<{ session: string; reason: LockLostCause; error: LockLostError } | undefined> {
    return new Promise((resolve) => {
      // close() may come between the lock's `acquired` event and the end of acquire().
      if (signal.aborted) {
        resolve(undefined);
        return;
      }
      const onLost = (event: { session: string; reason: LockLostCause; error: LockLostError }): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(event);
      };
      const onAbort = (): void => {
        this.#lock.off('lost', onLost);
        resolve(undefined);
      };
      this.#lock.once('lost', onLost);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(this.#clock, ms, this.#stop.signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Starts campaigning for leadership of `key` and returns at once; listen to `elected` and `demoted`, or read
 * `isLeader`. Options as for {@link Lock}.
 *
 * @example
 * ```ts
 * const election = leaderElection(client, 'service/report/leader');
 * election.on('elected', () => startScheduler());
 * election.on('demoted', () => stopScheduler());
 * // on shutdown:
 * await election.close();
 * ```
 */
export function leaderElection(
  client: ConsulClient,
  key: string,
  options: LeaderElectionOptions = {},
): LeaderElection {
  return new LeaderElection(client, key, options);
}
