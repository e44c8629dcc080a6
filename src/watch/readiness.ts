/**
 * Readiness: what a KV subscription and a service list share about their start: the `ready` promise (settled
 * once, never an unhandled rejection), the start timeout, and the `state` they report (`connecting` →
 * `ready`/`stale` → `closed`) with one `state` event per change.
 * @module
 */
import type { LoopState, StateEvent, SubscriptionState } from './types.js';

/** What a {@link Readiness} needs from its owner. Times in ms. */
export interface ReadinessInit {
  /** 0 = no start timeout. */
  startTimeoutMs: number;
  /** The start timeout ended with `ready` still pending (the owner rejects it, or starts from a cache). */
  onStartTimeout: () => void;
  /** Emits the owner's `state` event; called after the state changed. */
  onState: (event: StateEvent) => void;
}

/** The `ready` promise, the start timer and the state of one watch as its user sees it. */
export class Readiness<T> {
  /** Settled once: by {@link Readiness.resolve} or {@link Readiness.reject}, whichever comes first. */
  readonly ready: Promise<T>;
  readonly #init: ReadinessInit;
  #state: SubscriptionState = 'connecting';
  #pending = true;
  #resolve!: (value: T) => void;
  #reject!: (error: Error) => void;
  #startTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(init: ReadinessInit) {
    this.#init = init;
    this.ready = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A rejection nobody awaits must not crash the process.
    this.ready.catch(() => {});
    if (init.startTimeoutMs > 0) {
      this.#startTimer = setTimeout(() => {
        this.#startTimer = undefined;
        init.onStartTimeout();
      }, init.startTimeoutMs);
    }
  }

  /** The state the owner reports. */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** Whether `ready` is still unsettled. */
  get pending(): boolean {
    return this.#pending;
  }

  /** Resolves `ready` (if still pending) and stops the start timer. */
  resolve(value: T): void {
    if (!this.#pending) return;
    this.#pending = false;
    this.clearStartTimer();
    this.#resolve(value);
  }

  /** Rejects `ready` (if still pending) and stops the start timer. */
  reject(error: Error): void {
    if (!this.#pending) return;
    this.#pending = false;
    this.clearStartTimer();
    this.#reject(error);
  }

  /** Moves to `state`, emitting one `state` event when it differs from the current one. */
  setState(state: SubscriptionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#init.onState({ state, previous });
  }

  /** Follows the query's health: a `ready` watch turns `stale` with it, and back. */
  followHealth(state: LoopState): void {
    if (state === 'stale' && this.#state === 'ready') this.setState('stale');
    else if (state === 'ready' && this.#state === 'stale') this.setState('ready');
  }

  /** Stops the start timer (a first value arrived, or the owner closes). */
  clearStartTimer(): void {
    if (this.#startTimer !== undefined) clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
  }
}
