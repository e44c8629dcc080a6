/**
 * Watcher.service() against the embedded dev server over real loopback sockets: instances registered over
 * HTTP arrive, a TTL check flipped to critical or maintenance mode removes an instance in one event, the
 * last one leaving is the `empty` signal, identical watches share one held blocking request, and close()
 * leaves nothing behind (consul-semantics §S8).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import type { DevServer } from '../../src/devserver/server.js';
import { Balancer } from '../../src/services/balancer.js';
import type { ServiceChangeEvent } from '../../src/watch/types.js';
import type { ServiceList } from '../../src/watch/watcher.js';
import { recordingLogger } from '../helpers/logger.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { Log, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher } = useWatchHarness();

/**
 * Resolves once the dev server holds `count` catalog/health blocking queries. `stats().blockingHeld`
 * counts only KV waiters, so this reads the catalog's own waiter registry.
 */
function held(dev: DevServer, count = 1): Promise<void> {
  return vi.waitFor(() => expect(dev.agent.catalog.waiters.counts().held).toBe(count), {
    timeout: 5_000,
    interval: 2,
  });
}

async function put(dev: DevServer, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${dev.address}${path}`, {
    method: 'PUT',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${text}`);
}

const register = (dev: DevServer, id: string, port: number, address = '') =>
  put(dev, '/v1/agent/service/register', {
    Name: 'web',
    ID: id,
    Port: port,
    Address: address,
    Check: { TTL: '30s', Status: 'passing' },
  });

/** Every change and empty event of a list, summarised by instance IDs. */
function record(list: ServiceList): Log<unknown> {
  const log = new Log<unknown>();
  const ids = (instances: ServiceChangeEvent['added']) => instances.map((i) => i.id);
  list.on('change', (e) =>
    log.push(['change', ids(e.added), ids(e.removed), e.changed.map((c) => c.instance.id)]),
  );
  list.on('empty', (e) => log.push(['empty', ids(e.removed)]));
  return log;
}

describe('Watcher.service on the dev server', () => {
  it('sees instances arrive and leave on a critical check, maintenance and deregistration, one event each', async () => {
    const dev = await start({ clock: new ManualClock() });
    await register(dev, 'web-1', 8081, '10.0.0.5');
    await register(dev, 'web-2', 8082);
    const w = makeWatcher(dev);
    const list = w.service('web');
    const log = record(list);
    const first = await list.ready;
    expect(first.map((i) => [i.id, i.address, i.port, i.status])).toEqual([
      ['web-1', '10.0.0.5', 8081, 'passing'],
      ['web-2', '127.0.0.1', 8082, 'passing'],
    ]);
    await held(dev);

    await register(dev, 'web-3', 8083);
    await log.until(1);
    await put(dev, '/v1/agent/check/fail/service:web-1?note=down');
    await log.until(2);
    await put(dev, '/v1/agent/service/maintenance/web-2?enable=true&reason=drain');
    await log.until(3);
    await put(dev, '/v1/agent/service/deregister/web-3');
    await log.until(5);
    await held(dev);
    expect(log.items).toEqual([
      ['change', ['web-3'], [], []],
      ['change', [], ['web-1'], []],
      ['change', [], ['web-2'], []],
      ['change', [], ['web-3'], []],
      ['empty', ['web-3']],
    ]);
    expect(list.instances).toEqual([]);
    // A check that passes again brings its instance back.
    await put(dev, '/v1/agent/check/pass/service:web-1');
    await log.until(6);
    expect(log.items[5]).toEqual(['change', ['web-1'], [], []]);
  });

  it('lists warning instances with warning: include and weighs them with Weights.Warning', async () => {
    const dev = await start({ clock: new ManualClock() });
    await put(dev, '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-1',
      Port: 1,
      Weights: { Passing: 5, Warning: 2 },
      Check: { TTL: '30s', Status: 'warning' },
    });
    const w = makeWatcher(dev);
    const excluded = await w.service('web').ready;
    const included = await w.service('web', { warning: 'include' }).ready;
    expect(excluded).toEqual([]);
    expect(included.map((i) => [i.id, i.status, i.weights])).toEqual([
      ['web-1', 'warning', { passing: 5, warning: 2 }],
    ]);
  });

  it('serves two identical service watches with exactly one held blocking request', async () => {
    const dev = await start({ clock: new ManualClock() });
    await register(dev, 'web-1', 8081);
    const w = makeWatcher(dev);
    const one = w.service('web');
    const two = w.service('web');
    const [a, b] = await Promise.all([one.ready, two.ready]);
    expect(a).toEqual(b);
    await held(dev);
    expect(dev.stats().requests).toBe(3);
    const logOne = record(one);
    const logTwo = record(two);
    await register(dev, 'web-2', 8082);
    await Promise.all([logOne.until(1), logTwo.until(1)]);
    await held(dev);
    // One more request for both lists: the blocking read's answer, then one new blocking read.
    expect(dev.stats().requests).toBe(5);
    expect(w.stats().services).toMatchObject([{ service: 'web', subscriptions: 2 }]);
  });

  it('feeds a balancer that stops picking an instance whose check failed', async () => {
    const dev = await start({ clock: new ManualClock() });
    await register(dev, 'web-1', 8081);
    await register(dev, 'web-2', 8082);
    const w = makeWatcher(dev);
    const list = w.service('web');
    await list.ready;
    const balancer = new Balancer(list);
    expect([balancer.pick().id, balancer.pick().id]).toEqual(['web-1', 'web-2']);
    const log = record(list);
    await put(dev, '/v1/agent/check/fail/service:web-2');
    await log.until(1);
    expect([balancer.pick().id, balancer.pick().id]).toEqual(['web-1', 'web-1']);
  });

  it('closes its blocking request and connection, and lets a process exit by itself', async () => {
    const dev = await start({ clock: new ManualClock() });
    // Registered directly: a fetch() here would keep a socket of its own open.
    dev.agent.registerService({ Name: 'web', ID: 'web-1', Port: 8081 });
    const w = makeWatcher(dev);
    const list = w.service('web');
    await list.ready;
    await held(dev);
    expect(dev.stats().connections).toBe(1);
    await w.close();
    expect(list.state).toBe('closed');
    await held(dev, 0);
    await vi.waitFor(() => expect(dev.stats().connections).toBe(0), { timeout: 5_000, interval: 2 });
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/services-exit.ts'], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr, stdout }).toEqual({
      code: 0,
      stderr: '',
      stdout: 'ready\nheld\nwatcher closed\nserver closed\n',
    });
  }, 20_000);
});

describe('Watcher.service on the dev server: a connection budget for many services', () => {
  it('watches 500 services on the shared watch past maxBlockingQueries (32); a flip reaches its list in one event', async () => {
    const dev = await start({ clock: new ManualClock() });
    const SERVICES = 500;
    for (let i = 0; i < SERVICES; i++) {
      dev.agent.registerService({
        Name: `svc-${i}`,
        ID: `svc-${i}-a`,
        Port: 9000 + i,
        Check: { CheckID: `check:svc-${i}`, TTL: '30s', Status: 'passing' },
      });
    }
    const { logger, calls } = recordingLogger();
    const w = makeWatcher(dev, { logger });
    const lists = Array.from({ length: SERVICES }, (_, i) => w.service(`svc-${i}`));
    const ready = await Promise.all(lists.map((list) => list.ready));
    expect(ready.every((instances) => instances.length === 1)).toBe(true);
    // The 33rd service moved every list to the shared watch: two blocking queries for all 500.
    await held(dev, 2);
    // Idle keep-alive sockets of the first reads may linger in the pool; never more than the budget.
    expect(dev.stats().connections).toBeLessThanOrEqual(32);
    const stats = w.stats().services ?? [];
    expect([stats.length, stats.every((s) => s.shared)]).toEqual([500, true]);
    expect(calls.filter(([level]) => level === 'warn').map(([, , message]) => message)).toEqual([
      expect.stringContaining(
        '32 blocking queries held, at maxBlockingQueries (32); every service watch (32 so far)',
      ),
    ]);

    const flipped = lists[400]!;
    const other = lists[401]!;
    const log = record(flipped);
    const otherLog = record(other);
    const requestsBefore = dev.stats().requests;
    dev.agent.runner.updateTtl('check:svc-400', 'critical', 'down');
    await log.until(1);
    expect(log.items).toEqual([
      ['change', [], ['svc-400-a'], []],
      ['empty', ['svc-400-a']],
    ]);
    await held(dev, 2);
    // The held checks watch answers; then one targeted read of svc-400 and the checks watch's next request.
    expect(dev.stats().requests - requestsBefore).toBe(2);
    expect(otherLog.items).toEqual([]);
    expect(dev.stats().connections).toBeLessThanOrEqual(32);

    // A new instance with a check reaches its list through the checks watch; the services watch, woken at
    // the same index, reads nothing more.
    const beforeRegistration = dev.stats().requests;
    dev.agent.registerService({
      Name: 'svc-401',
      ID: 'svc-401-b',
      Port: 1,
      Check: { TTL: '30s', Status: 'passing' },
    });
    await otherLog.until(1);
    expect(otherLog.items).toEqual([['change', ['svc-401-b'], [], []]]);
    await held(dev, 2);
    expect(w.stats().services?.find((s) => s.service === 'svc-402')).toMatchObject({ requests: 1 });
    expect(dev.stats().requests - beforeRegistration).toBe(3);
    await w.close();
    await held(dev, 0);
  }, 60_000);

  it('brings lists on the shared watch back when node maintenance ends (maxBlockingQueries: 1)', async () => {
    const dev = await start({ clock: new ManualClock() });
    // `a` has a check of its own, `b` none: only the node check hides and shows it.
    dev.agent.registerService({ Name: 'a', ID: 'a-1', Port: 1, Check: { TTL: '30s', Status: 'passing' } });
    dev.agent.registerService({ Name: 'b', ID: 'b-1', Port: 2 });
    const w = makeWatcher(dev, { maxBlockingQueries: 1, logger: recordingLogger().logger });
    const a = w.service('a');
    const b = w.service('b');
    expect((await Promise.all([a.ready, b.ready])).map((list) => list.length)).toEqual([1, 1]);
    await held(dev, 2);
    const logA = record(a);
    const logB = record(b);
    await put(dev, '/v1/agent/maintenance?enable=true&reason=patch');
    await logA.until(2);
    await logB.until(2);
    await put(dev, '/v1/agent/maintenance?enable=false');
    await logA.until(3);
    await logB.until(3);
    expect([logA.items, logB.items]).toEqual([
      [
        ['change', [], ['a-1'], []],
        ['empty', ['a-1']],
        ['change', ['a-1'], [], []],
      ],
      [
        ['change', [], ['b-1'], []],
        ['empty', ['b-1']],
        ['change', ['b-1'], [], []],
      ],
    ]);
    expect([a.instances.length, b.instances.length]).toEqual([1, 1]);
    await w.close();
    await held(dev, 0);
  });
});
