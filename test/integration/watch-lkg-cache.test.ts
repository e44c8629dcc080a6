/**
 * The last-known-good cache against the embedded dev server over real loopback sockets: a first run fills
 * the cache, a second run starts from it while Consul fails (500s, or nothing listening on the port), and
 * turns `ready` with only real changes once Consul answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DevServer } from '../../src/devserver/server.js';
import { startDevServer } from '../../src/devserver/server.js';
import type { Subscription } from '../../src/watch/subscription.js';
import type { WatcherOptions } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';

const AppConfig = z.object({
  db: z.object({ host: z.string(), port: z.number() }),
  features: z.record(z.string(), z.boolean()),
});

const SEED = {
  'config/app/db': { host: 'db.internal', port: 5432 },
  'config/app/features': { checkout: true },
};

let server: DevServer | undefined;
const watchers: Watcher[] = [];
let folder: string;
let cachePath: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'watch-lkg-it-'));
  cachePath = join(folder, 'consul-lkg.json');
});

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
  await server?.close();
  server = undefined;
  await rm(folder, { recursive: true, force: true });
});

function makeWatcher(address: string, options: WatcherOptions = {}): Watcher {
  const watcher = new Watcher({
    address,
    env: {},
    wait: '30s',
    minInterval: 0,
    backoff: { min: 1, max: 20 },
    random: () => 0.5,
    cache: { path: cachePath },
    ...options,
  });
  watchers.push(watcher);
  return watcher;
}

/** Runs the app once against Consul: its validated config lands in the cache, and the watcher closes. */
async function fillCache(address: string): Promise<unknown> {
  const watcher = makeWatcher(address);
  const value = await watcher.watch('config/app/', { format: 'json', schema: AppConfig }).ready;
  await watcher.close();
  return value;
}

/** Every event but `error` (one per failed retry: their number depends on timing), in order. */
function record(sub: Subscription<unknown>) {
  const events: Array<[string, unknown]> = [];
  let wake: () => void = () => {};
  const push = (event: [string, unknown]) => {
    events.push(event);
    wake();
  };
  sub.on('change', (event) => push(['change', event.changes]));
  sub.on('invalid', (error) => push(['invalid', error.issues]));
  sub.on('state', (event) => push(['state', `${event.previous}->${event.state}`]));
  const when = async (test: (event: [string, unknown]) => boolean): Promise<void> => {
    while (!events.some(test)) await new Promise<void>((resolve) => (wake = resolve));
  };
  return { events, when };
}

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

describe('Watcher last-known-good cache against the dev server', () => {
  it('starts from the cache while Consul answers 500, then turns ready with no change once it recovers', async () => {
    server = await startDevServer({ port: 0, jitter: false, seed: SEED });
    const first = await fillCache(server.address);
    server.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
    const sub = makeWatcher(server.address).watch('config/app/', { format: 'json', schema: AppConfig });
    const { events, when } = record(sub);
    const value = await sub.ready;
    expect(value).toEqual(first);
    expect(sub.state).toBe('stale');
    server.faults.clear();
    await when((event) => event[1] === 'stale->ready');
    expect(events).toEqual([
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
    ]);
    expect(sub.current).toBe(value);
  });

  it('reports exactly the key that changed while the app was down, once Consul answers', async () => {
    server = await startDevServer({ port: 0, jitter: false, seed: SEED });
    await fillCache(server.address);
    server.kv.put('config/app/features', JSON.stringify({ checkout: false }));
    server.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
    const sub = makeWatcher(server.address).watch('config/app/', { format: 'json', schema: AppConfig });
    const { events, when } = record(sub);
    await expect(sub.ready).resolves.toEqual({
      db: { host: 'db.internal', port: 5432 },
      features: { checkout: true },
    });
    server.faults.clear();
    await when((event) => event[0] === 'change');
    expect(events).toEqual([
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
      [
        'change',
        [
          {
            key: 'config/app/features',
            type: 'updated',
            value: { checkout: false },
            previous: { checkout: true },
          },
        ],
      ],
    ]);
    expect(sub.current).toEqual({ db: { host: 'db.internal', port: 5432 }, features: { checkout: false } });
  });

  it('starts from the cache at once when nothing listens on Consul’s port', async () => {
    server = await startDevServer({ port: 0, jitter: false, seed: SEED });
    const first = await fillCache(server.address);
    const port = await closedPort();
    // startTimeout far away: the refused connection, not the timeout, brings the cached value.
    const sub = makeWatcher(`http://127.0.0.1:${port}`, { startTimeout: 600_000 }).watch('config/app/', {
      format: 'json',
      schema: AppConfig,
    });
    const { events } = record(sub);
    await expect(sub.ready).resolves.toEqual(first);
    expect(sub.state).toBe('stale');
    expect(events).toEqual([['state', 'connecting->stale']]);
  });
});
