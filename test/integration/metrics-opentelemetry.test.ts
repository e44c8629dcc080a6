/**
 * instrumentWatcher on a real Watcher against the embedded dev server, over loopback sockets: exact values
 * after a known sequence of answers, a refused value and an injected 500; index resets and the stale gauge;
 * two watchers at once; nothing recorded after close(); and no SDK at all.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DevServer } from '../../src/devserver/server.js';
import { startDevServer } from '../../src/devserver/server.js';
import { requestFinishChannel, watchErrorChannel } from '../../src/diagnostics.js';
import { type InstrumentWatcherOptions, instrumentWatcher } from '../../src/metrics/index.js';
import { Watcher } from '../../src/watch/watcher.js';
import { held, type Log, type Recorded, record, useWatchHarness } from '../helpers/watch.js';
import { type MeterHarness, meterHarness, type Point } from '../unit/metrics/meter-harness.js';

const { start, makeWatcher } = useWatchHarness();

const QUERY = { key: 'config/app/', kind: 'prefix', consistency: 'default' };
const DURATION = 'consul_hotreload.blocking_query.duration';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A MeterProvider read by hand and `watcher` instrumented on it, both closed after the test. */
function instrument(
  watcher: Watcher,
  options: InstrumentWatcherOptions = {},
): { metrics: MeterHarness; close(): void } {
  const metrics = meterHarness();
  const instrumentation = instrumentWatcher(watcher, { meter: metrics.meter, ...options });
  cleanups.push(
    () => metrics.shutdown(),
    () => instrumentation.close(),
  );
  return { metrics, close: () => instrumentation.close() };
}

/** `config/app/` watched as JSON, once its first value is in and its next blocking query is held. */
async function watchApp(dev: DevServer, watcher: Watcher): Promise<Log<Recorded>> {
  const sub = watcher.watch('config/app/', { format: 'json' });
  const events = record(sub);
  await sub.ready;
  await held(dev);
  return events;
}

/** Writes, then waits for the subscription's `count`-th event and for the next blocking query to be held. */
async function step(dev: DevServer, events: Log<Recorded>, count: number, write: () => void): Promise<void> {
  write();
  await events.until(count);
  await held(dev);
}

/** The value of every series, by instrument name (and error code). */
function byName(points: readonly Point[]): Record<string, Point['value']> {
  const result: Record<string, Point['value']> = {};
  for (const point of points) {
    const label =
      point.attributes.code === undefined ? point.name : `${point.name}{${point.attributes.code}}`;
    result[label] = point.value;
  }
  return result;
}

const names = (events: readonly Recorded[]): string[] => events.map(([name]) => name);

describe('instrumentWatcher on the dev server', () => {
  it('reports exact counts after answers, a change, a refused value and one 500', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const watcher = makeWatcher(dev);
    const { metrics } = instrument(watcher);
    // Request 1 is the full read; request 2 blocks.
    const events = await watchApp(dev, watcher);
    await step(dev, events, 2, () => dev.kv.put('config/app/a', '2')); // answers 2; 3 blocks
    await step(dev, events, 3, () => dev.kv.put('config/app/a', '{not json')); // answers 3, refused; 4 blocks
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
    // Answers 4 (a change); request 5 gets the 500; 6 is a full read that changes nothing; 7 blocks.
    await step(dev, events, 5, () => dev.kv.put('config/app/a', '3'));
    expect(names(events.items)).toEqual(['state', 'change', 'invalid', 'change', 'error']);

    const points = await metrics.collect();
    const [stats] = watcher.stats().queries;
    expect(stats).toMatchObject({ requests: 7, errors: 1, changes: 4, spurious: 1, indexResets: 0 });
    expect(stats!.bytes).toBeGreaterThan(0);
    expect(byName(points)).toEqual({
      'consul_hotreload.requests': 7,
      'consul_hotreload.changes': 4,
      'consul_hotreload.spurious_wakeups': 1,
      'consul_hotreload.index_resets': 0,
      'consul_hotreload.bytes_received': stats!.bytes,
      'consul_hotreload.stale': 0,
      'consul_hotreload.errors{CONSUL_SERVER_ERROR}': 1,
      'consul_hotreload.invalid_values': 1,
      // Requests 2, 3 and 4 were answered while blocking; 5 failed, 1 and 6 were full reads.
      [DURATION]: expect.objectContaining({ count: 3 }),
    });
    // Every series is the query's: its key, kind and consistency (and an error's code), never a value.
    expect(new Set(points.map((p) => JSON.stringify({ ...p.attributes, code: undefined })))).toEqual(
      new Set([JSON.stringify(QUERY)]),
    );
  });

  it('records nothing after close()', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const watcher = makeWatcher(dev);
    const { metrics, close } = instrument(watcher);
    const events = await watchApp(dev, watcher);
    await step(dev, events, 2, () => dev.kv.put('config/app/a', '2'));
    const before = await metrics.collect();
    close();
    expect([requestFinishChannel.hasSubscribers, watchErrorChannel.hasSubscribers]).toEqual([false, false]);
    // A change, a refused value and an error after close(): none of them reaches the instruments.
    await step(dev, events, 3, () => dev.kv.put('config/app/a', '3'));
    await step(dev, events, 4, () => dev.kv.put('config/app/a', '{nope'));
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
    await step(dev, events, 6, () => dev.kv.put('config/app/a', '4'));
    expect(names(events.items).slice(2)).toEqual(['change', 'invalid', 'change', 'error']);
    expect(watcher.stats().queries[0]).toMatchObject({ requests: 8, errors: 1, changes: 5 });
    expect(byName(await metrics.collect())).toEqual(byName(before));
    expect(byName(before)).toMatchObject({ 'consul_hotreload.requests': 3, [DURATION]: { count: 1 } });
  });

  it("counts Consul's index going backwards, and reports the stale state while requests fail", async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 } });
    const watcher = makeWatcher(dev, { staleAfter: 50 });
    const { metrics } = instrument(watcher);
    const events = await watchApp(dev, watcher);
    // The next blocking answer comes with index 2, lower than the one sent (consul-semantics §3): a full read follows.
    dev.faults.inject({ fault: { kind: 'index', index: 2 } });
    await step(dev, events, 2, () => dev.kv.put('config/app/c', '3'));
    dev.kv.put('config/app/d', '4');
    await vi.waitFor(() => expect(watcher.stats().queries[0]?.indexResets).toBe(1));
    await held(dev);
    let points = await metrics.collect();
    expect(metrics.value(points, 'consul_hotreload.index_resets', QUERY)).toBe(1);
    expect(metrics.value(points, 'consul_hotreload.stale', QUERY)).toBe(0);

    dev.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
    dev.kv.put('config/app/e', '5');
    await vi.waitFor(() => expect(watcher.stats().queries[0]?.state).toBe('stale'), { timeout: 5_000 });
    points = await metrics.collect();
    expect(metrics.value(points, 'consul_hotreload.stale', QUERY)).toBe(1);
    dev.faults.clear();
    await vi.waitFor(() => expect(watcher.stats().queries[0]?.state).toBe('ready'), { timeout: 5_000 });
    points = await metrics.collect();
    expect(metrics.value(points, 'consul_hotreload.stale', QUERY)).toBe(0);
    expect(metrics.value(points, 'consul_hotreload.errors', { code: 'CONSUL_SERVER_ERROR' })).toBe(
      watcher.stats().queries[0]?.errors,
    );
  });

  it("does not count one watcher's requests or errors for another watching the same key", async () => {
    const devA = await start({ seed: { 'config/app/a': 1 } });
    const watcherA = makeWatcher(devA);
    // A second server and watcher, closed here: the harness closes only the last ones it made.
    const devB = await startDevServer({ port: 0, jitter: false, seed: { 'config/app/a': 1 } });
    const watcherB = new Watcher({ address: devB.address, env: {}, wait: '30s', minInterval: 0 });
    cleanups.push(
      () => devB.close(),
      () => watcherB.close(),
    );
    const { metrics } = instrument(watcherA, { attributes: { watcher: 'a' } });
    instrument(watcherB, { meter: metrics.meter, attributes: { watcher: 'b' } });
    const [events] = await Promise.all([watchApp(devA, watcherA), watchApp(devB, watcherB)]);
    devA.faults.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
    await step(devA, events, 3, () => devA.kv.put('config/app/a', '2'));
    expect(names(events.items)).toEqual(['state', 'change', 'error']);

    const points = await metrics.collect();
    const requests = (watcher: string) =>
      metrics.value(points, 'consul_hotreload.requests', { ...QUERY, watcher });
    const errors = (watcher: string) => metrics.value(points, 'consul_hotreload.errors', { watcher });
    expect([requests('a'), requests('b')]).toEqual([5, 2]);
    expect([errors('a'), errors('b')]).toEqual([1, undefined]);
  });

  it('runs without an OpenTelemetry SDK: nothing throws and close() unsubscribes', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const watcher = makeWatcher(dev);
    const instrumentation = instrumentWatcher(watcher);
    const events = await watchApp(dev, watcher);
    await step(dev, events, 2, () => dev.kv.put('config/app/a', '{nope'));
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
    await step(dev, events, 4, () => dev.kv.put('config/app/a', '2'));
    expect(names(events.items)).toEqual(['state', 'invalid', 'change', 'error']);
    instrumentation.close();
    expect([requestFinishChannel.hasSubscribers, watchErrorChannel.hasSubscribers]).toEqual([false, false]);
  });
});
