/**
 * The official `consul` npm package (v2) against the dev server: it must get what docs/consul-semantics.md says
 * Consul returns, since it was written against real Consul.
 */
import { once } from 'node:events';
import Consul from 'consul';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';

interface KvItem {
  LockIndex: number;
  Key: string;
  Flags: number;
  Value: string | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The package's watch: an EventEmitter with end(). */
type Watch = ReturnType<Consul['watch']>;

let server: DevServer | undefined;
let consul: Consul | undefined;
const watches: Watch[] = [];

afterEach(async () => {
  for (const watch of watches.splice(0)) watch.end();
  consul?.destroy();
  consul = undefined;
  await server?.close();
  server = undefined;
});

async function connect(options: DevServerOptions = {}): Promise<{ dev: DevServer; client: Consul }> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  consul = new Consul({ host: server.host, port: server.port });
  return { dev: server, client: consul };
}

/** Starts a watch of the package and records its change events (the data only). */
function watchKv(client: Consul, options: Record<string, unknown>): { watch: Watch; changes: unknown[] } {
  const watch = client.watch({
    method: client.kv.get,
    options: options as Record<string, string>,
    backoffFactor: 10,
    backoffMax: 50,
  });
  watches.push(watch);
  const changes: unknown[] = [];
  watch.on('change', (data: unknown) => changes.push(data));
  watch.on('error', () => {});
  return { watch, changes };
}

async function changeCount(watch: Watch, changes: unknown[], count: number): Promise<void> {
  while (changes.length < count) await once(watch, 'change');
}

describe('the consul npm package against the dev server', () => {
  it('sets and gets a key with its value decoded and Consul fields', async () => {
    const { client } = await connect();
    expect(await client.kv.set('app/name', 'demo')).toBe(true);
    expect(await client.kv.set({ key: 'app/flagged', value: 'x', flags: 42 })).toBe(true);
    const item = (await client.kv.get('app/name')) as unknown as KvItem;
    expect(item).toEqual({
      LockIndex: 0,
      Key: 'app/name',
      Flags: 0,
      Value: 'demo',
      CreateIndex: 2,
      ModifyIndex: 2,
    });
    expect(((await client.kv.get('app/flagged')) as unknown as KvItem).Flags).toBe(42);
  });

  it('resolves undefined for a missing key, as for a 404 from Consul', async () => {
    const { client } = await connect();
    expect(await client.kv.get('missing')).toBeUndefined();
  });

  it('lists a prefix recursively, sorted by key', async () => {
    const { client, dev } = await connect();
    for (const key of ['app/b', 'app/a', 'apple', 'other']) dev.kv.put(key, key);
    const items = (await client.kv.get({ key: 'app', recurse: true })) as unknown as KvItem[];
    expect(items.map((item) => [item.Key, item.Value])).toEqual([
      ['app/a', 'app/a'],
      ['app/b', 'app/b'],
      ['apple', 'apple'],
    ]);
  });

  it('lists keys sorted, folded by a separator, and rejects a missing prefix with a 404', async () => {
    const { client, dev } = await connect();
    for (const key of ['cfg/z', 'cfg/a/1', 'cfg/a/2', 'cfg/m']) dev.kv.put(key, '1');
    expect(await client.kv.keys('cfg/')).toEqual(['cfg/a/1', 'cfg/a/2', 'cfg/m', 'cfg/z']);
    expect(await client.kv.keys({ key: 'cfg/', separator: '/' })).toEqual(['cfg/a/', 'cfg/m', 'cfg/z']);
    expect(await client.kv.keys('')).toEqual(['cfg/a/1', 'cfg/a/2', 'cfg/m', 'cfg/z']);
    // consul-semantics §2: Consul answers an empty, non-root prefix with 404, which the package rejects.
    await expect(client.kv.keys('nothing/')).rejects.toMatchObject({ message: 'not found', statusCode: 404 });
  });

  it('deletes keys and prefixes, and applies CAS', async () => {
    const { client, dev } = await connect();
    dev.kv.put('d/a', '1');
    dev.kv.put('d/b', '2');
    dev.kv.put('d/c', '3');
    expect(await client.kv.del('d/a')).toBe(true);
    expect(await client.kv.del('never-existed')).toBe(true);
    // Consul answers `false`; the package's pipeline turns a falsy body into undefined.
    expect(await client.kv.set({ key: 'd/b', value: 'new', cas: 0 })).toBeUndefined();
    const current = (await client.kv.get('d/b')) as unknown as KvItem;
    expect(await client.kv.set({ key: 'd/b', value: 'new', cas: current.ModifyIndex })).toBe(true);
    expect(await client.kv.del({ key: 'd/', recurse: true })).toBe(true);
    expect(await client.kv.keys('')).toEqual([]);
  });

  it("surfaces Consul's plain-text errors in its error messages", async () => {
    const { client } = await connect({ aclToken: 'secret' });
    await expect(client.kv.get('k')).rejects.toMatchObject({ message: 'consul: kv.get: Permission denied' });
    await expect(client.kv.get({ key: 'k', dc: 'dc9', token: 'secret' } as never)).rejects.toMatchObject({
      message: 'consul: kv.get: No path to datacenter',
    });
    expect(await client.kv.get({ key: 'k', token: 'secret' } as never)).toBeUndefined();
  });

  it('watches a key: first the missing key, then each write, and stops cleanly on end()', async () => {
    const { client, dev } = await connect();
    const { watch, changes } = watchKv(client, { key: 'feature/flag', wait: '5s' });
    await changeCount(watch, changes, 1);
    expect(changes).toEqual([undefined]);
    await client.kv.set('feature/flag', 'on');
    await changeCount(watch, changes, 2);
    await client.kv.set('feature/flag', 'off');
    await changeCount(watch, changes, 3);
    expect((changes as Array<KvItem | undefined>).map((item) => item?.Value)).toEqual([
      undefined,
      'on',
      'off',
    ]);
    const ended = once(watch, 'end');
    watch.end();
    await ended;
    expect(watch.isRunning()).toBe(false);
    expect(dev.stats().blockingHeld).toBe(0);
  });

  it('does not report a change for a write to another key while watching a missing key', async () => {
    const { client, dev } = await connect();
    const { watch, changes } = watchKv(client, { key: 'wanted', wait: '5s' });
    await changeCount(watch, changes, 1);
    await expect.poll(() => dev.stats().blockingHeld).toBe(1);
    await client.kv.set('unrelated', 'x');
    await client.kv.set('wanted', 'here');
    await changeCount(watch, changes, 2);
    expect((changes as Array<KvItem | undefined>).map((item) => item?.Value)).toEqual([undefined, 'here']);
  });

  it('restarts its watch from 0 when the prefix index goes backwards after tombstones are reaped', async () => {
    let nowMs = 0;
    const { client, dev } = await connect({ tombstoneTtlMs: 1_000, now: () => nowMs });
    dev.kv.put('svc/a', '1'); // 2
    dev.kv.put('svc/b', '2'); // 3
    const { watch, changes } = watchKv(client, { key: 'svc/', recurse: true, wait: '100ms' });
    await changeCount(watch, changes, 1);
    dev.kv.delete('svc/b'); // 4: tombstone keeps the index at 4
    await changeCount(watch, changes, 2);
    nowMs = 1_000;
    dev.kv.reapTombstones();
    // The held query times out with index 2 < 4: the package resets to 0 and reports the list again.
    await changeCount(watch, changes, 3);
    expect((changes as KvItem[][]).map((items) => items.map((item) => item.Key))).toEqual([
      ['svc/a', 'svc/b'],
      ['svc/a'],
      ['svc/a'],
    ]);
  });
});
