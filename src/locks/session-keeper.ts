/**
 * Keeps one session alive: renews it every TTL/2, retries a failed renew until a whole TTL has passed since
 * the last success, and says when the session is gone (404) or could not be renewed in time
 * (consul-semantics §L3, §L8).
 * @module
 */
import type { SessionApi } from '../consul/session.js';
import type { LockClock } from './clock.js';

/** What the keeper needs and whom it tells. */
export interface SessionKeeperOptions {
  readonly sessions: SessionApi;
  readonly id: string;
  /** The session's TTL in ms. */
  readonly ttlMs: number;
  /** Pause between retries of a failed renew, in ms. */
  readonly retryMs: number;
  readonly clock: LockClock;
  /** Consul answered 404: the session expired or was invalidated. */
  readonly onGone: () => void;
  /** Renewals failed for a whole TTL since the last success; `error` is the last failure. */
  readonly onExpired: (error: unknown) => void;
  /** One renew failed (it will be retried). */
  readonly onError: (error: unknown) => void;
}

/** Renews a session until stopped, gone or expired. Starts at construction. */
export class SessionKeeper {
  readonly #o: SessionKeeperOptions;
  readonly #controller = new AbortController();
  #ttlMs: number;
  #lastSuccessMs: number;
  #timer: unknown;
  #stopped = false;

  constructor(options: SessionKeeperOptions) {
    this.#o = options;
    this.#ttlMs = options.ttlMs;
    this.#lastSuccessMs = options.clock.now();
    this.#schedule(this.#ttlMs / 2);
  }

  /** Stops renewing: clears the timer and aborts a renew in flight. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller.abort();
  }

  #schedule(ms: number): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#renew();
    }, ms);
  }

  async #renew(): Promise<void> {
    const { sessions, id, clock } = this.#o;
    try {
      const info = await sessions.renew(id, { signal: this.#controller.signal });
      if (this.#stopped) return;
      if (info === null) {
        this.#stopped = true;
        this.#o.onGone();
        return;
      }
      this.#lastSuccessMs = clock.now();
      // consul-semantics §L3: Consul may answer with a longer TTL; renew less often then.
      if (info.ttlMs > this.#ttlMs) this.#ttlMs = info.ttlMs;
      this.#schedule(this.#ttlMs / 2);
    } catch (error) {
      if (this.#stopped) return;
      this.#o.onError(error);
      const elapsedMs = clock.now() - this.#lastSuccessMs;
      if (elapsedMs >= this.#ttlMs) {
        this.#stopped = true;
        this.#o.onExpired(error);
        return;
      }
      // Retry until a whole TTL has passed since the last success (consul-semantics §L8); the last try
      // lands exactly at that point.
      this.#schedule(Math.min(this.#o.retryMs, this.#ttlMs - elapsedMs));
    }
  }
}
