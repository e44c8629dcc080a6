/**
 * instrumentWatcher against a fake watcher (a stats() of our choosing) and messages published by hand on
 * the diagnostics channels: which series each instrument reports, which messages it counts and which it
 * leaves to another watcher, and that close() leaves nothing subscribed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RequestFinishMessage,
  requestFinishChannel,
  type WatchErrorMessage,
  watchErrorChannel,
} from '../../../src/diagnostics.js';
import {
  ConfigValidationError,
  InvalidArgumentError,
  ServerError,
  TransportError,
} from '../../../src/errors.js';
import { instrumentWatcher, type WatcherInstrumentation } from '../../../src/metrics/index.js';
import type { QueryStats, WatcherStats } from '../../../src/watch/types.js';
import { type MeterHarness, meterHarness } from './meter-harness.js';
import { queryRow } from './query-row.js';

/** A watcher whose stats() lists `queries`, which a test changes as it goes. */
function fakeWatcher(queries: QueryStats[]): { queries: QueryStats[]; stats(): WatcherStats } {
  return {
    queries,
    stats() {
      return { queries: this.queries.map((q) => ({ ...q })), subscriptions: this.queries.length, decodes: 0 };
    },
  };
}

const CONFIG = { key: 'config/', kind: 'prefix', consistency: 'default' };

function finish(path: string, overrides: Partial<RequestFinishMessage> = {}): RequestFinishMessage {
  return {
    operation: 'kv.list',
    method: 'GET',
    path,
    index: 5,
    status: 200,
    resultIndex: 6,
    bytes: 10,
    durationMs: 1500,
    error: undefined,
    ...overrides,
  };
}

const publishError = (message: WatchErrorMessage): void => watchErrorChannel.publish(message);
const serverError = (key: string) => new ServerError(`kv.list ${key}: 500`, { operation: 'kv.list', key });

let harness: MeterHarness;
let instrumentation: WatcherInstrumentation | undefined;

afterEach(async () => {
  instrumentation?.close();
  instrumentation = undefined;
  await harness?.shutdown();
});

describe('instrumentWatcher', () => {
  it("reports the watcher's counters per query, with its key, kind and consistency", async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([
      queryRow('config/', { requests: 7, changes: 4, spurious: 1, indexResets: 2, bytes: 900 }),
      { ...queryRow('flags/beta', { requests: 2 }), consistency: 'stale', state: 'stale' },
    ]);
    instrumentation = instrumentWatcher(watcher, { meter: harness.meter });
    const points = await harness.collect();
    const flags = { key: 'flags/beta', kind: 'key', consistency: 'stale' };
    expect(points.map(({ name, attributes, value }) => [name, attributes.key, value]).sort()).toEqual(
      [
        ['consul_hotreload.requests', 'config/', 7],
        ['consul_hotreload.changes', 'config/', 4],
        ['consul_hotreload.spurious_wakeups', 'config/', 1],
        ['consul_hotreload.index_resets', 'config/', 2],
        ['consul_hotreload.bytes_received', 'config/', 900],
        ['consul_hotreload.stale', 'config/', 0],
        ['consul_hotreload.requests', 'flags/beta', 2],
        ['consul_hotreload.changes', 'flags/beta', 0],
        ['consul_hotreload.spurious_wakeups', 'flags/beta', 0],
        ['consul_hotreload.index_resets', 'flags/beta', 0],
        ['consul_hotreload.bytes_received', 'flags/beta', 0],
        ['consul_hotreload.stale', 'flags/beta', 1],
      ].sort(),
    );
    expect(harness.value(points, 'consul_hotreload.stale', flags)).toBe(1);
    expect(points.find((p) => p.name === 'consul_hotreload.bytes_received')?.unit).toBe('By');
    expect(harness.value(points, 'consul_hotreload.requests', CONFIG)).toBe(7);
  });

  it('counts a request error by code for the query of this watcher whose error count moved', async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([queryRow('config/', { errors: 0 })]);
    instrumentation = instrumentWatcher(watcher, { meter: harness.meter });
    // Another watcher's query on the same key failed: this watcher's count did not move.
    publishError({ key: 'config/', error: serverError('config/') });
    // Ours failed twice, the second time with a transport error.
    watcher.queries[0]!.errors = 1;
    publishError({ key: 'config/', error: serverError('config/') });
    watcher.queries[0]!.errors = 2;
    publishError({
      key: 'config/',
      error: new TransportError('watch config/: socket hang up', { operation: 'watch', key: 'config/' }),
    });
    // A listener that threw, with our error or its own: no request failed.
    publishError({ key: 'config/', error: serverError('config/') });
    publishError({ key: 'config/', error: new Error('listener bug') });
    // A key this watcher does not watch.
    publishError({ key: 'other/', error: serverError('other/') });
    const points = await harness.collect();
    const errorSeries = points.filter((p) => p.name === 'consul_hotreload.errors');
    expect(errorSeries.map(({ attributes, value }) => [attributes, value])).toEqual([
      [{ ...CONFIG, code: 'CONSUL_SERVER_ERROR' }, 1],
      [{ ...CONFIG, code: 'CONSUL_TRANSPORT' }, 1],
    ]);
  });

  it('tells apart two queries of one key by which count moved (consistency)', async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([queryRow('config/'), { ...queryRow('config/'), consistency: 'stale' }]);
    instrumentation = instrumentWatcher(watcher, { meter: harness.meter });
    watcher.queries[1]!.errors = 1;
    publishError({ key: 'config/', error: serverError('config/') });
    const points = await harness.collect();
    expect(harness.value(points, 'consul_hotreload.errors', { consistency: 'stale' })).toBe(1);
    expect(harness.value(points, 'consul_hotreload.errors', { consistency: 'default' })).toBeUndefined();
  });

  it('counts a refused value for the query serving the subscription (its own, or the root above it)', async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([queryRow('config/'), queryRow('config/app/db/')]);
    instrumentation = instrumentWatcher(watcher, { meter: harness.meter });
    const refused = (key: string) =>
      new ConfigValidationError('watch', key, [{ key: `${key}x`, path: [], message: 'not JSON' }]);
    publishError({ key: 'config/app/', error: refused('config/app/') });
    publishError({ key: 'config/app/db/', error: refused('config/app/db/') });
    publishError({ key: 'config/app/db/pool/', error: refused('config/app/db/pool/') });
    publishError({ key: 'elsewhere/', error: refused('elsewhere/') });
    const points = await harness.collect();
    expect(harness.value(points, 'consul_hotreload.invalid_values', { key: 'config/' })).toBe(1);
    expect(harness.value(points, 'consul_hotreload.invalid_values', { key: 'config/app/db/' })).toBe(2);
    expect(harness.value(points, 'consul_hotreload.errors')).toBeUndefined();
  });

  it('records the latency of blocking answers of its queries only, in seconds', async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([queryRow('config/'), queryRow('flags/beta')]);
    instrumentation = instrumentWatcher(watcher, { meter: harness.meter });
    requestFinishChannel.publish(finish('/v1/kv/config/?recurse=&index=5&wait=30000ms'));
    requestFinishChannel.publish(
      finish('/v1/kv/flags/beta?index=9&wait=30000ms', { operation: 'kv.get', durationMs: 250 }),
    );
    // Not counted: a full read, a failure, a write, another consistency, another key.
    requestFinishChannel.publish(finish('/v1/kv/config/?recurse=', { index: 0 }));
    requestFinishChannel.publish(
      finish('/v1/kv/config/?recurse=&index=5', { error: new Error('reset'), status: undefined }),
    );
    requestFinishChannel.publish(finish('/v1/kv/config/x', { method: 'PUT', operation: 'kv.put' }));
    requestFinishChannel.publish(finish('/v1/kv/config/?recurse=&stale=&index=5'));
    requestFinishChannel.publish(finish('/v1/kv/other/?recurse=&index=5'));
    const points = await harness.collect();
    const name = 'consul_hotreload.blocking_query.duration';
    expect(harness.value(points, name, CONFIG)).toEqual({ count: 1, sum: 1.5 });
    expect(harness.value(points, name, { key: 'flags/beta', kind: 'key' })).toEqual({ count: 1, sum: 0.25 });
    expect(points.find((p) => p.name === name)?.unit).toBe('s');
  });

  it('uses the prefix for every name and adds the given attributes to every series', async () => {
    harness = meterHarness();
    const watcher = fakeWatcher([queryRow('config/', { requests: 1, errors: 1 })]);
    instrumentation = instrumentWatcher(watcher, {
      meter: harness.meter,
      prefix: 'app.kv',
      attributes: { watcher: 'flags' },
    });
    watcher.queries[0]!.errors = 2;
    publishError({ key: 'config/', error: serverError('config/') });
    const points = await harness.collect();
    expect(points.every((p) => p.name.startsWith('app.kv.') && p.attributes.watcher === 'flags')).toBe(true);
    expect(harness.value(points, 'app.kv.requests', CONFIG)).toBe(1);
    expect(harness.value(points, 'app.kv.errors', CONFIG)).toBe(1);
  });

  it('keeps two watchers on one meter apart by their attributes', async () => {
    harness = meterHarness();
    const a = fakeWatcher([queryRow('config/', { requests: 3 })]);
    const b = fakeWatcher([queryRow('config/', { requests: 5 })]);
    const first = instrumentWatcher(a, { meter: harness.meter, attributes: { watcher: 'a' } });
    instrumentation = instrumentWatcher(b, { meter: harness.meter, attributes: { watcher: 'b' } });
    b.queries[0]!.errors = 1;
    publishError({ key: 'config/', error: serverError('config/') });
    const points = await harness.collect();
    first.close();
    expect(harness.value(points, 'consul_hotreload.requests', { watcher: 'a' })).toBe(3);
    expect(harness.value(points, 'consul_hotreload.requests', { watcher: 'b' })).toBe(5);
    expect(harness.value(points, 'consul_hotreload.errors', { watcher: 'a' })).toBeUndefined();
    expect(harness.value(points, 'consul_hotreload.errors', { watcher: 'b' })).toBe(1);
  });

  it('unsubscribes and stops observing on close(), and a second close() does nothing', async () => {
    harness = meterHarness();
    let reads = 0;
    const watcher = {
      stats(): WatcherStats {
        reads++;
        return { queries: [queryRow('config/', { requests: 1 })], subscriptions: 1, decodes: 0 };
      },
    };
    expect(requestFinishChannel.hasSubscribers).toBe(false);
    const handle = instrumentWatcher(watcher, { meter: harness.meter });
    expect([requestFinishChannel.hasSubscribers, watchErrorChannel.hasSubscribers]).toEqual([true, true]);
    await harness.collect();
    const readsBeforeClose = reads;
    handle.close();
    handle[Symbol.dispose]();
    expect([requestFinishChannel.hasSubscribers, watchErrorChannel.hasSubscribers]).toEqual([false, false]);
    await harness.collect();
    expect(reads).toBe(readsBeforeClose);
  });

  it('works without an OpenTelemetry SDK: the global meter is a no-op and nothing throws', () => {
    const watcher = fakeWatcher([queryRow('config/', { errors: 1 })]);
    const handle = instrumentWatcher(watcher);
    requestFinishChannel.publish(finish('/v1/kv/config/?recurse=&index=5'));
    publishError({ key: 'config/', error: serverError('config/') });
    handle.close();
    expect(requestFinishChannel.hasSubscribers).toBe(false);
  });

  it('refuses a bad prefix, meter, attributes or watcher at the call, naming it', () => {
    const watcher = fakeWatcher([]);
    const cases: Array<[unknown, unknown, RegExp]> = [
      [watcher, { prefix: '9lives' }, /prefix must start with a letter/],
      [watcher, { prefix: 'has space' }, /prefix must start with a letter.*"has space"/],
      [watcher, { meter: {} }, /meter must be an OpenTelemetry Meter/],
      [watcher, { attributes: 'watcher=a' }, /attributes must be an object/],
      [{}, {}, /watcher must be a Watcher/],
    ];
    for (const [target, options, message] of cases) {
      const call = () => instrumentWatcher(target as never, options as never);
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(message);
    }
    expect(requestFinishChannel.hasSubscribers).toBe(false);
  });
});
