/**
 * Coalescing against the embedded dev server over real loopback sockets: subscriptions under a root, or to
 * the same prefix, share one blocking query and one connection (consul-semantics §7: Consul caps connections per client IP),
 * and the query ends with its last subscription.
 */
import { describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/watch/subscription.js';
import type { ChangeEvent } from '../../src/watch/types.js';
import { held, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher } = useWatchHarness();

const nextChange = <T>(sub: Subscription<T>): Promise<ChangeEvent<T>> =>
  new Promise((resolve) => {
    sub.once('change', resolve);
  });

const SUBSCRIPTIONS = 1_000;

describe('Watcher on the dev server: coalescing', () => {
  it('serves 1,000 subscriptions under a root with one query on at most two connections', async () => {
    const seed: Record<string, string> = {};
    for (let i = 0; i < SUBSCRIPTIONS; i++) seed[`config/k${i}`] = `v${i}`;
    const dev = await start({ seed });
    const w = makeWatcher(dev, { roots: ['config/'] });
    const subs = Array.from({ length: SUBSCRIPTIONS }, (_, i) => w.watch(`config/k${i}`));
    const changed: string[] = [];
    for (const sub of subs) sub.on('change', () => changed.push(sub.key));
    const values = await Promise.all(subs.map((sub) => sub.ready));
    expect(values).toEqual(Array.from({ length: SUBSCRIPTIONS }, (_, i) => `v${i}`));
    await held(dev);
    // One full read, then one blocking query: the request count of a single query.
    expect(dev.stats()).toMatchObject({ requests: 2, blockingHeld: 1 });
    expect(dev.stats().connectionsTotal).toBeLessThanOrEqual(2);
    expect(w.stats()).toMatchObject({
      subscriptions: SUBSCRIPTIONS,
      queries: [{ key: 'config/', kind: 'prefix', subscriptions: SUBSCRIPTIONS, requests: 2 }],
    });

    const index = dev.kv.put('config/k7', 'seven');
    const change = await nextChange(subs[7] as Subscription<unknown>);
    expect(change).toEqual({
      index,
      changes: [{ key: 'config/k7', type: 'updated', value: 'seven', previous: 'v7' }],
      current: 'seven',
    });
    // Only the subscription whose key changed heard of it.
    expect(changed).toEqual(['config/k7']);
    await held(dev);
    expect(dev.stats().requests).toBe(3);
    expect(dev.stats().connectionsTotal).toBeLessThanOrEqual(2);
  });

  it('shares one query between two subscriptions to the same prefix', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const w = makeWatcher(dev);
    const first = w.watch('config/app/', { format: 'json' });
    const second = w.watch('config/app/', { format: 'json' });
    await expect(Promise.all([first.ready, second.ready])).resolves.toEqual([{ a: 1 }, { a: 1 }]);
    await held(dev);
    expect(dev.stats().requests).toBe(2);
    expect(w.stats().queries).toEqual([
      expect.objectContaining({ key: 'config/app/', kind: 'prefix', subscriptions: 2, requests: 2 }),
    ]);
    const changes = Promise.all([nextChange(first), nextChange(second)]);
    const index = dev.kv.put('config/app/a', '2');
    const expected = {
      index,
      changes: [{ key: 'config/app/a', type: 'updated', value: 2, previous: 1 }],
      current: { a: 2 },
    };
    await expect(changes).resolves.toEqual([expected, expected]);
  });

  it('keeps the query while a subscription is left and ends it with the last one', async () => {
    const dev = await start({ seed: { 'config/a': 'x', 'config/b': 'y' } });
    const w = makeWatcher(dev, { roots: ['config/'] });
    const subs = [w.watch('config/a'), w.watch('config/b'), w.watch('config/')];
    await Promise.all(subs.map((sub) => sub.ready));
    await held(dev);
    await Promise.all([subs[0]?.close(), subs[1]?.close()]);
    expect(dev.stats()).toMatchObject({ requests: 2, blockingHeld: 1 });
    expect(w.stats()).toMatchObject({ subscriptions: 1, queries: [{ key: 'config/', subscriptions: 1 }] });

    await subs[2]?.close();
    expect(w.stats()).toEqual({
      queries: [],
      subscriptions: 0,
      decodes: expect.any(Number),
      budget: {
        maxBlockingQueries: 32,
        blockingQueries: 0,
        watchedKeys: 0,
        coalesced: 0,
        waiting: 0,
        replans: 0,
      },
      services: [],
    });
    // The aborted request's socket is gone, so the server drops the blocking query.
    await held(dev, 0);
    expect(dev.stats()).toMatchObject({ requests: 2, blockingHeld: 0 });
  });
});
