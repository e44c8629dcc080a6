/**
 * A fake Watcher for the bindings' unit tests: `watch()` returns a subscription the test drives by hand
 * (resolve or reject `ready`, emit changes), with no HTTP and no timers.
 */
import { EventEmitter } from 'eventemitter3';
import type { WatchChangeEvent, WatchSource, WatchSubscription } from '../../../src/bindings/config.js';
import type { ConfigValidationError, ConsulError } from '../../../src/errors.js';
import type { LogFn } from '../../../src/logger.js';
import type { WatchFormat } from '../../../src/watch/decode.js';
import { buildTree, type Folder } from '../../../src/watch/tree.js';

interface FakeEvents {
  change: (event: WatchChangeEvent) => void;
  invalid: (error: ConfigValidationError) => void;
  error: (error: ConsulError) => void;
}

/** A subscription whose value and events the test sets. */
export class FakeSubscription extends EventEmitter<FakeEvents> implements WatchSubscription {
  readonly ready: Promise<unknown>;
  current: unknown;
  closed = false;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  #index = 10;

  constructor(
    readonly key: string,
    readonly options: { format: WatchFormat; signal?: AbortSignal },
  ) {
    super();
    this.ready = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Like a real subscription, a rejected `ready` nobody awaits must not crash the test process.
    this.ready.catch(() => {});
  }

  /** Consul answered: `current` becomes `value` and `ready` resolves. */
  answer(value: unknown): void {
    this.current = value;
    this.#resolve(value);
  }

  /** The first read failed. */
  fail(error: unknown): void {
    this.#reject(error);
  }

  /** A later change: `current` becomes `value`, then `change` is emitted (state first, then the event). */
  change(value: unknown): void {
    this.current = value;
    this.#index += 1;
    this.emit('change', { current: value, index: this.#index, changes: [] } as WatchChangeEvent);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A Watcher whose `watch()` hands out {@link FakeSubscription}s, recorded in `subscriptions`. */
export class FakeWatcher implements WatchSource {
  readonly subscriptions: FakeSubscription[] = [];
  closeCalls = 0;

  watch(key: string, options: { format: WatchFormat; signal?: AbortSignal }): FakeSubscription {
    const subscription = new FakeSubscription(key, options);
    this.subscriptions.push(subscription);
    return subscription;
  }

  /** The most recent subscription. */
  get last(): FakeSubscription {
    const last = this.subscriptions.at(-1);
    if (last === undefined) throw new Error('watch() was not called');
    return last;
  }

  async close(): Promise<void> {
    this.closeCalls += 1;
  }
}

/**
 * The tree a prefix subscription serves for these keys (relative to the prefix) and decoded values, built by
 * the Watcher's own tree code so that folders and decoded objects are told apart as in production.
 */
export function treeOf(values: Record<string, unknown>): Folder {
  const { root, conflicts } = buildTree(
    Object.entries(values).map(([key, value]) => [key.split('/'), value]),
  );
  if (conflicts.length > 0) throw new Error(`conflicting keys in test tree: ${JSON.stringify(conflicts)}`);
  return root;
}

/** A logger recording every call as `[level, obj, msg]`. */
export function recordingLogger(): {
  calls: Array<[string, Record<string, unknown>, string | undefined]>;
  logger: { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };
} {
  const calls: Array<[string, Record<string, unknown>, string | undefined]> = [];
  const level =
    (name: string): LogFn =>
    (obj, msg) => {
      calls.push([name, obj, msg]);
    };
  return {
    calls,
    logger: { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') },
  };
}
