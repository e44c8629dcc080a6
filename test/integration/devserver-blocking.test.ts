import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { httpGet, httpPut, httpRequest } from '../helpers/http.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

/** Resolves once the server holds this many blocking queries. */
async function held(dev: DevServer, count: number): Promise<void> {
  await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(count), { timeout: 5_000, interval: 2 });
}

describe('dev server blocking queries (consul-semantics §4)', () => {
  it('answers at once without an index, whatever the wait', async () => {
    const dev = await start();
    dev.kv.put('k', 'v');
    const res = await httpGet(dev.address, '/v1/kv/k?wait=10m');
    expect([res.status, res.headers['x-consul-index']]).toEqual([200, '2']);
    const zero = await httpGet(dev.address, '/v1/kv/k?index=0&wait=10m');
    expect(zero.status).toBe(200);
    expect(dev.stats().wakeups).toBe(0);
  });

  it('answers at once when the result index already exceeds the client index', async () => {
    const dev = await start();
    dev.kv.put('k', 'v'); // 2
    const res = await httpGet(dev.address, '/v1/kv/k?index=1&wait=10m');
    expect(res.headers['x-consul-index']).toBe('2');
  });

  it('returns as soon as a write changes the watched key', async () => {
    const dev = await start();
    dev.kv.put('k', 'v1'); // 2
    const pending = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await held(dev, 1);
    dev.kv.put('k', 'v2'); // 3
    const res = await pending;
    expect(res.headers['x-consul-index']).toBe('3');
    expect(JSON.parse(res.text)[0].Value).toBe(Buffer.from('v2').toString('base64'));
    expect(dev.stats()).toMatchObject({ blockingHeld: 0, wakeups: 1 });
  });

  it('returns the unchanged result with the same index when the wait expires', async () => {
    const dev = await start();
    dev.kv.put('k', 'v'); // 2
    const res = await httpGet(dev.address, '/v1/kv/k?index=2&wait=50ms');
    expect([res.status, res.headers['x-consul-index']]).toEqual([200, '2']);
    expect(JSON.parse(res.text)[0].ModifyIndex).toBe(2);
  });

  it('uses the default query time when wait is absent and clamps a long wait to the maximum', async () => {
    const dev = await start({ defaultQueryTimeMs: 30, maxQueryTimeMs: 40 });
    dev.kv.put('k', 'v');
    expect((await httpGet(dev.address, '/v1/kv/k?index=2')).headers['x-consul-index']).toBe('2');
    expect((await httpGet(dev.address, '/v1/kv/k?index=2&wait=0s')).headers['x-consul-index']).toBe('2');
    expect((await httpGet(dev.address, '/v1/kv/k?index=2&wait=1h')).headers['x-consul-index']).toBe('2');
  });

  it('is not woken by an identical PUT', async () => {
    const dev = await start();
    dev.kv.put('k', 'same'); // 2
    const pending = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await held(dev, 1);
    await httpPut(dev.address, '/v1/kv/k', 'same');
    expect(dev.stats()).toMatchObject({ blockingHeld: 1, wakeups: 0 });
    dev.kv.put('k', 'changed'); // 3
    expect((await pending).headers['x-consul-index']).toBe('3');
  });

  it('wakes a prefix query for a write under it but not for a sibling prefix', async () => {
    const dev = await start();
    dev.kv.put('app/a/x', '1'); // 2
    dev.kv.put('app/b/x', '1'); // 3
    const pending = httpGet(dev.address, '/v1/kv/app/a/?recurse&index=2&wait=10m');
    await held(dev, 1);
    dev.kv.put('app/b/y', '1'); // 4
    expect(dev.stats()).toMatchObject({ blockingHeld: 1, wakeups: 0 });
    dev.kv.put('app/a/y', '1'); // 5
    const res = await pending;
    expect(res.headers['x-consul-index']).toBe('5');
    expect(JSON.parse(res.text).map((entry: { Key: string }) => entry.Key)).toEqual(['app/a/x', 'app/a/y']);
  });

  it('returns a 404 with the delete index when the watched key is deleted', async () => {
    const dev = await start();
    dev.kv.put('k', 'v'); // 2
    const pending = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await held(dev, 1);
    await httpRequest(dev.address, { method: 'DELETE', path: '/v1/kv/k' }); // 3
    const res = await pending;
    expect([res.status, res.headers['x-consul-index']]).toEqual([404, '3']);
  });

  it('keeps blocking on a missing key through unrelated writes and returns when the key appears', async () => {
    const dev = await start();
    dev.kv.put('other', '1'); // 2
    const pending = httpGet(dev.address, '/v1/kv/wanted?index=2&wait=10m');
    await held(dev, 1);
    dev.kv.put('other', '2'); // 3
    dev.kv.put('wanted-not', '1'); // 4
    expect(dev.stats()).toMatchObject({ blockingHeld: 1, wakeups: 0 });
    dev.kv.put('wanted', 'here'); // 5
    const res = await pending;
    expect([res.status, res.headers['x-consul-index']]).toEqual([200, '5']);
  });

  it('answers a missing key at timeout with the current, higher whole-KV index', async () => {
    const dev = await start();
    dev.kv.put('other', '1'); // 2
    const pending = httpGet(dev.address, '/v1/kv/wanted?index=2&wait=60ms');
    await held(dev, 1);
    dev.kv.put('other', '2'); // 3
    const res = await pending;
    expect([res.status, res.headers['x-consul-index']]).toEqual([404, '3']);
  });

  it('answers a missing key at once when the whole-KV index already passed the client index', async () => {
    const dev = await start();
    dev.kv.put('a', '1'); // 2
    dev.kv.put('b', '1'); // 3
    const res = await httpGet(dev.address, '/v1/kv/missing?index=2&wait=10m');
    expect([res.status, res.headers['x-consul-index']]).toEqual([404, '3']);
  });

  it('blocks a client index higher than the server index until timeout, then returns the lower index (consul-semantics §3)', async () => {
    const dev = await start();
    dev.kv.put('p/a', '1'); // 2
    const pending = httpGet(dev.address, '/v1/kv/p/?recurse&index=1000&wait=80ms');
    await held(dev, 1);
    dev.kv.put('p/b', '1'); // 3: wakes the query, but 3 is not above 1000
    expect(dev.stats()).toMatchObject({ blockingHeld: 1, wakeups: 1 });
    const res = await pending;
    expect([res.status, res.headers['x-consul-index']]).toEqual([200, '3']);
  });

  it('returns a lower index after tombstones are reaped, at the end of the wait', async () => {
    let nowMs = 0;
    const dev = await start({ tombstoneTtlMs: 1_000, now: () => nowMs });
    dev.kv.put('svc/a', '1'); // 2
    dev.kv.put('svc/b', '1'); // 3
    dev.kv.delete('svc/b'); // 4
    const before = await httpGet(dev.address, '/v1/kv/svc/?recurse');
    expect(before.headers['x-consul-index']).toBe('4');
    nowMs = 5_000;
    dev.kv.reapTombstones();
    const after = await httpGet(dev.address, '/v1/kv/svc/?recurse&index=4&wait=50ms');
    expect(after.headers['x-consul-index']).toBe('2');
  });

  it('removes the waiter at once when the client goes away', async () => {
    const dev = await start();
    dev.kv.put('k', 'v');
    const controller = new AbortController();
    const pending = httpRequest(dev.address, {
      path: '/v1/kv/k?index=2&wait=10m',
      signal: controller.signal,
    });
    await held(dev, 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await held(dev, 0);
    dev.kv.put('k', 'v2');
    expect(dev.stats().wakeups).toBe(0);
  });

  it('holds 200 blocking queries and wakes only the one whose key is written', async () => {
    const dev = await start();
    const count = 200;
    for (let i = 0; i < count; i++) dev.kv.put(`many/${i}`, 'v');
    const base = dev.kv.index();
    const pending = Array.from({ length: count }, (_, i) =>
      httpGet(dev.address, `/v1/kv/many/${i}?index=${base}&wait=10m`),
    );
    await held(dev, count);
    dev.kv.put('many/7', 'changed');
    const woken = await pending[7];
    expect(woken?.headers['x-consul-index']).toBe(String(base + 1));
    expect(dev.stats()).toMatchObject({ blockingHeld: count - 1, wakeups: 1 });
    const settled = Promise.allSettled(pending);
    await dev.close();
    const rest = await settled;
    expect(rest.filter((result) => result.status === 'rejected')).toHaveLength(count - 1);
    expect(dev.stats().blockingHeld).toBe(0);
  });

  it('wakes queries from transaction writes', async () => {
    const dev = await start();
    dev.kv.put('t/a', '1'); // 2
    const pending = httpGet(dev.address, '/v1/kv/t/?keys&index=2&wait=10m');
    await held(dev, 1);
    await httpRequest(dev.address, {
      method: 'PUT',
      path: '/v1/txn',
      body: JSON.stringify([{ KV: { Verb: 'set', Key: 't/b', Value: 'eA==' } }]),
    });
    const res = await pending;
    expect([res.headers['x-consul-index'], res.text]).toEqual(['3', '["t/a","t/b"]']);
  });

  it('ends blocking queries and closes every socket on close()', async () => {
    const dev = await start();
    dev.kv.put('k', 'v');
    const pending = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await held(dev, 1);
    const failed = expect(pending).rejects.toThrow('socket hang up');
    await dev.close();
    await failed;
    expect(dev.stats()).toMatchObject({ blockingHeld: 0, connections: 0 });
    await dev.close();
  });
});

describe('dev server blocking queries and tombstones (consul-semantics §3, §4)', () => {
  it('re-evaluates woken prefix queries over their own tombstones only, not every tombstone in the store', async () => {
    const dev = await start();
    for (let i = 0; i < 1_000; i++) dev.kv.put(`gone/${i}`, 'x');
    dev.kv.delete('gone/', { recurse: true });
    for (let i = 0; i < 1_000; i++) dev.kv.put(`gone-one/${i}`, 'x');
    for (let i = 0; i < 1_000; i++) dev.kv.delete(`gone-one/${i}`);
    dev.kv.put('live/a', '1');
    dev.kv.put('live/b', '2');
    dev.kv.delete('live/b');
    const index = dev.kv.index();
    const queries = Array.from({ length: 50 }, () =>
      httpGet(dev.address, `/v1/kv/live/?recurse&index=${index}&wait=10m`),
    );
    await held(dev, 50);
    const before = dev.stats();
    expect(before.tombstones).toBe(1_002);
    dev.kv.put('live/c', '3');
    const answers = await Promise.all(queries);
    expect(answers.map((res) => res.status)).toEqual(answers.map(() => 200));
    // The 50 identical woken queries share one re-read of live/, which sees its one tombstone (live/b).
    expect(dev.stats().tombstonesVisited - before.tombstonesVisited).toBe(1);
  });
});
