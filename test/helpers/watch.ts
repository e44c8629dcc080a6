/**
 * Shared fixtures for the Watcher's integration tests against the embedded dev server: a per-file harness
 * that starts the server and the watcher and closes both after each test, an awaitable event log, and a
 * wait for the server to hold blocking queries.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, expect, vi } from 'vitest';
import type { DevServer, DevServerOptions } from '../../src/devserver/server.js';
import { startDevServer } from '../../src/devserver/server.js';
import type { RequestStartMessage } from '../../src/diagnostics.js';
import type { ConfigValidationError, ConsulError } from '../../src/errors.js';
import type { Subscription } from '../../src/watch/subscription.js';
import type { ChangeEvent, StateEvent, WatcherOptions } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';

/** One event of a subscription, tagged with its name. */
export type Recorded =
  | ['change', ChangeEvent<unknown>]
  | ['invalid', ConfigValidationError]
  | ['error', ConsulError]
  | ['state', StateEvent];

/** Items in arrival order; resolves waits as items arrive (awaits, never sleeps). */
export class Log<T> {
  readonly items: T[] = [];
  #wake: () => void = () => {};
  push(item: T): void {
    this.items.push(item);
    this.#wake();
  }
  /** Resolves once `test` holds for the items. */
  readonly when = async (test: (items: readonly T[]) => boolean): Promise<void> => {
    while (!test(this.items)) await new Promise<void>((resolve) => (this.#wake = resolve));
  };
  /** Resolves once `count` items have arrived. */
  readonly until = (count: number): Promise<void> => this.when((items) => items.length >= count);
}

/** Every event of a subscription, in order. */
export function record(sub: Subscription<unknown>): Log<Recorded> {
  const log = new Log<Recorded>();
  sub.on('change', (event) => log.push(['change', event]));
  sub.on('invalid', (error) => log.push(['invalid', error]));
  sub.on('error', (error) => log.push(['error', error]));
  sub.on('state', (event) => log.push(['state', event]));
  return log;
}

/** Resolves once the dev server holds `count` blocking queries: the watcher is idle, waiting for a change. */
export function held(dev: DevServer, count = 1): Promise<void> {
  return vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(count), { timeout: 5_000, interval: 2 });
}

/**
 * Watcher options for tests: a 30-second wait (far above any test's run time), no minimum interval, and a
 * short, fixed backoff.
 */
export const FAST_WATCHER: WatcherOptions = {
  wait: '30s',
  minInterval: 0,
  backoff: { min: 1, max: 20 },
  random: () => 0.5,
};

/** What {@link useWatchHarness} gives a test file. */
export interface WatchHarness {
  /** Starts the dev server on a free loopback port, without jitter. */
  start(options?: DevServerOptions): Promise<DevServer>;
  /** A Watcher on `dev` with the harness defaults, then `options`. */
  makeWatcher(dev: DevServer, options?: WatcherOptions): Watcher;
  /** The `index` of every request the watcher starts, from the `request:start` diagnostics channel. */
  sentIndexes(): Log<number>;
}

/**
 * Registers an `afterEach` that closes the last watcher and dev server made and drops diagnostics
 * subscribers; call once at the top level of a test file.
 * @param watcherDefaults options every watcher gets before its own (after `address` and `env: {}`).
 */
export function useWatchHarness(watcherDefaults: WatcherOptions = FAST_WATCHER): WatchHarness {
  let server: DevServer | undefined;
  let watcher: Watcher | undefined;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await watcher?.close();
    await server?.close();
    watcher = undefined;
    server = undefined;
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  return {
    async start(options: DevServerOptions = {}): Promise<DevServer> {
      // No jitter: a blocking query is held exactly `wait`, which the tests set far above their run time.
      server = await startDevServer({ port: 0, jitter: false, ...options });
      return server;
    },
    makeWatcher(dev: DevServer, options: WatcherOptions = {}): Watcher {
      watcher = new Watcher({ address: dev.address, env: {}, ...watcherDefaults, ...options });
      return watcher;
    },
    sentIndexes(): Log<number> {
      const log = new Log<number>();
      const onStart = (message: unknown): void => log.push((message as RequestStartMessage).index);
      diagnosticsChannel.subscribe('consul-hotreload:request:start', onStart);
      cleanups.push(() => diagnosticsChannel.unsubscribe('consul-hotreload:request:start', onStart));
      return log;
    },
  };
}
