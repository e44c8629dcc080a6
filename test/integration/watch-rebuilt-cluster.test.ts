/**
 * consul-semantics §3: a restarted or rebuilt Consul can hand out the same ModifyIndex again for other bytes. The watcher
 * must not trust an equal ModifyIndex on a full read (index 0: startup, after an error or an index reset),
 * and a value restored from the last-known-good cache must be compared by its bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DevServer } from '../../src/devserver/server.js';
import { startDevServer } from '../../src/devserver/server.js';
import type { Subscription } from '../../src/watch/subscription.js';
import type { ChangeEvent, WatcherOptions } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';

const servers: DevServer[] = [];
const watchers: Watcher[] = [];
const folders: string[] = [];

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

async function server(port = 0): Promise<DevServer> {
  const started = await startDevServer({ port, jitter: false });
  servers.push(started);
  return started;
}

function watcher(address: string, options: WatcherOptions = {}): Watcher {
  const made = new Watcher({
    address,
    env: {},
    wait: '30s',
    minInterval: 0,
    backoff: { min: 1, max: 5 },
    random: () => 0,
    ...options,
  });
  watchers.push(made);
  return made;
}

const nextChange = (sub: Subscription<unknown>) =>
  new Promise<ChangeEvent<unknown>>((resolve) => sub.once('change', resolve));

describe('a cluster that reuses ModifyIndexes', () => {
  it('reports a value that changed under the same ModifyIndex after Consul restarted', async () => {
    const first = await server();
    expect(first.kv.put('cfg/a', 'one')).toBe(2);
    // A short wait: the single-key query may be carried over to the new server (undici retries a GET whose
    // keep-alive socket closed before it was answered) and then sees the reused index only at the timeout.
    const w = watcher(first.address, { wait: '300ms' });
    const prefix = w.watch('cfg/');
    const key = w.watch('cfg/a');
    expect(await prefix.ready).toEqual({ a: 'one' });
    expect(await key.ready).toBe('one');
    const prefixChanged = nextChange(prefix);
    const keyChanged = nextChange(key);

    // Consul restarts empty on the same port and is re-seeded: the key is back at ModifyIndex 2.
    await first.close();
    const second = await server(first.port);
    expect(second.kv.put('cfg/a', 'two')).toBe(2);

    expect((await prefixChanged).changes).toEqual([
      { key: 'cfg/a', type: 'updated', value: 'two', previous: 'one' },
    ]);
    expect((await keyChanged).changes).toEqual([
      { key: 'cfg/a', type: 'updated', value: 'two', previous: 'one' },
    ]);
    expect(prefix.current).toEqual({ a: 'two' });
    expect(key.current).toBe('two');
  });

  it('replaces a cached value that Consul holds with other bytes under the same ModifyIndex', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'rebuilt-'));
    folders.push(folder);
    const cache = { path: join(folder, 'lkg.json') };
    const before = await server();
    before.kv.put('cfg/a', 'one');
    const filler = watcher(before.address, { cache });
    expect(await filler.watch('cfg/').ready).toEqual({ a: 'one' });
    await filler.close();

    // A rebuilt cluster: the same key at the same ModifyIndex, other bytes; Consul fails at first.
    const rebuilt = await server();
    expect(rebuilt.kv.put('cfg/a', 'two')).toBe(2);
    rebuilt.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
    const w = watcher(rebuilt.address, { cache });
    const sub = w.watch('cfg/');
    expect(await sub.ready).toEqual({ a: 'one' });
    expect(sub.state).toBe('stale');
    const changed = nextChange(sub);
    rebuilt.faults.clear();
    expect((await changed).changes).toEqual([
      { key: 'cfg/a', type: 'updated', value: 'two', previous: 'one' },
    ]);
    expect(sub.current).toEqual({ a: 'two' });
    expect(sub.state).toBe('ready');
  });
});
