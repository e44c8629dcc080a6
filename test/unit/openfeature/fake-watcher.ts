/**
 * A stand-in for the Watcher's public API as the provider uses it: `watch(key, { format: 'json' })` → a
 * subscription with `ready`, `entries`, `state` and change/invalid/state events, driven by the test:
 * `sub.load({ key: text })` plays one Consul answer holding exactly those keys, decoded as JSON or by the
 * subscription's decoder function.
 */
import { EventEmitter } from 'eventemitter3';
import { ConfigValidationError } from '../../../src/errors.js';
import type { WatchFormat } from '../../../src/watch/types.js';
import type { Watcher } from '../../../src/watch/watcher.js';

type State = 'connecting' | 'ready' | 'stale' | 'closed';
interface Entry {
  value: unknown;
  modifyIndex: number;
  flags: number;
}

interface FakeSubscriptionEvents {
  change: (event: { index: number; changes: unknown[]; current: unknown }) => void;
  invalid: (error: ConfigValidationError) => void;
  error: (error: Error) => void;
  state: (event: { state: State; previous: State }) => void;
}

export class FakeSubscription extends EventEmitter<FakeSubscriptionEvents> {
  readonly ready: Promise<unknown>;
  entries: ReadonlyMap<string, Entry> = new Map();
  state: State = 'connecting';
  index = 0;
  /** Whether `ready` has settled; later answers emit events instead, as the real subscription does. */
  #settled = false;
  #resolveReady!: (value: unknown) => void;
  #rejectReady!: (error: unknown) => void;

  constructor(
    readonly key: string,
    readonly format: WatchFormat | undefined,
  ) {
    super();
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
  }

  /** One Consul answer: every key under the watched key or prefix with its raw text. */
  load(texts: Record<string, string>): void {
    this.index += 1;
    const entries = new Map<string, Entry>();
    const issues = [];
    for (const [key, text] of Object.entries(texts)) {
      // Like the real subscription: folder keys are left out, an empty value decodes to undefined.
      if (this.key.endsWith('/') && key.endsWith('/')) continue;
      try {
        entries.set(key, { value: this.#decode(key, text), modifyIndex: this.index, flags: 0 });
      } catch (error) {
        issues.push({ key, path: [], message: `not valid JSON: ${(error as Error).message}` });
      }
    }
    if (issues.length > 0) {
      const error = new ConfigValidationError('watch', this.key, issues);
      if (this.#settled) this.emit('invalid', error);
      else this.#rejectReady(error);
      this.#settled = true;
      return;
    }
    this.entries = entries;
    if (this.state === 'connecting') this.#setState('ready');
    if (this.#settled) this.emit('change', { index: this.index, changes: [], current: undefined });
    else this.#resolveReady(undefined);
    this.#settled = true;
  }

  /** Moves to `state` and emits the state event, as the real subscription does on staleness and recovery. */
  setState(state: State): void {
    this.#setState(state);
  }

  /** The `'json'` format, or the subscription's decoder function given the bytes (null when empty). */
  #decode(key: string, text: string): unknown {
    if (typeof this.format === 'function') {
      return this.format(text === '' ? null : Buffer.from(text), key);
    }
    return text === '' ? undefined : JSON.parse(text);
  }

  async close(): Promise<void> {
    this.#setState('closed');
    this.removeAllListeners();
  }

  #setState(state: State): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.emit('state', { state, previous });
  }
}

/** A fake Watcher: records subscriptions and how often it was closed. */
export class FakeWatcher {
  readonly subscriptions: FakeSubscription[] = [];
  closed = 0;

  watch(key: string, options: { format?: WatchFormat } = {}): FakeSubscription {
    const subscription = new FakeSubscription(key, options.format);
    this.subscriptions.push(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    this.closed += 1;
  }

  /** The last subscription made, for driving it. */
  get last(): FakeSubscription {
    const subscription = this.subscriptions.at(-1);
    if (subscription === undefined) throw new Error('no subscription yet');
    return subscription;
  }

  /** This fake typed as the real Watcher for the provider's options. */
  asWatcher(): Watcher {
    return this as unknown as Watcher;
  }
}
