/**
 * The connection budget (`maxBlockingQueries`) against the embedded dev server over real loopback sockets:
 * more distinct keys than the budget never hold more blocking queries or sockets than it, every change
 * still reaches exactly its own subscription, subscriptions that move between queries report only what
 * really changed, and reaching the budget is said once in the log and in `stats().budget`.
 */
import { describe, expect, it } from 'vitest';
import type { LogFn } from '../../src/logger.js';
import type { Subscription } from '../../src/watch/subscription.js';
import { held, Log, type Recorded, record, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher } = useWatchHarness();

/** Every event of several subscriptions, tagged with the subscription's key. */
function recordAll(subs: readonly Subscription<unknown>[]): Log<[string, Recorded]> {
  const all = new Log<[string, Recorded]>();
  for (const sub of subs) {
    const log = record(sub);
    const push = log.push.bind(log);
    log.push = (item) => {
      push(item);
      all.push([sub.key, item]);
    };
  }
  return all;
}

/** Only the change events, as `key: type key=value …`. */
function changes(events: readonly [string, Recorded][]): string[] {
  return events.flatMap(([key, [name, payload]]) =>
    name === 'change'
      ? [`${key}: ${payload.changes.map((c) => `${c.type} ${c.key}=${String(c.value)}`).join(' ')}`]
      : [],
  );
}

function warnings(): { lines: string[]; warn: LogFn } {
  const lines: string[] = [];
  return {
    lines,
    warn: (_obj, msg) => {
      lines.push(msg ?? '');
    },
  };
}

const quiet: LogFn = () => {};

describe('Watcher on the dev server: connection budget (maxBlockingQueries)', () => {
  it('serves 12 distinct keys with at most 4 blocking queries, each change reaching only its own subscription', async () => {
    const seed: Record<string, string> = {};
    for (const folder of ['a', 'b', 'c'])
      for (let i = 0; i < 4; i++) seed[`app/${folder}/k${i}`] = `${folder}${i}`;
    const dev = await start({ seed });
    const log = warnings();
    const w = makeWatcher(dev, {
      maxBlockingQueries: 4,
      logger: { debug: quiet, info: quiet, warn: log.warn, error: quiet },
    });
    const keys = Object.keys(seed);
    const subs = keys.map((key) => w.watch(key, { format: 'text' }));
    const events = recordAll(subs);
    await expect(Promise.all(subs.map((sub) => sub.ready))).resolves.toEqual(Object.values(seed));
    // One query per folder: 3 held, never more than the budget, and as many sockets.
    await held(dev, 3);
    expect(dev.stats().connections).toBeLessThanOrEqual(4);
    expect(
      w
        .stats()
        .queries.map((q) => [q.key, q.kind, q.subscriptions])
        .sort(),
    ).toEqual([
      ['app/a/', 'prefix', 4],
      ['app/b/', 'prefix', 4],
      ['app/c/', 'prefix', 4],
    ]);
    expect(w.stats().budget).toEqual({
      maxBlockingQueries: 4,
      blockingQueries: 3,
      watchedKeys: 12,
      coalesced: 12,
      waiting: 0,
      replans: 1,
    });
    expect(log.lines).toEqual([
      'watch: 12 distinct KV watches exceed maxBlockingQueries (4); they share 3 blocking queries under common folders ("app/a/", "app/b/", "app/c/"), each reading every key below its folder. Set `roots` to choose the folders, or raise maxBlockingQueries (Consul caps a client at 200 connections)',
    ]);

    // A write to one key of a shared folder: only its subscription hears of it; its neighbours do not.
    dev.kv.put('app/b/k2', 'B2');
    // A key below a folder that nobody watches wakes the folder's query, and no subscription.
    dev.kv.put('app/b/unwatched', 'x');
    dev.kv.put('app/c/k0', 'C0');
    await events.when((items) => changes(items).length >= 2);
    await held(dev, 3);
    expect(changes(events.items)).toEqual(['app/b/k2: updated app/b/k2=B2', 'app/c/k0: updated app/c/k0=C0']);
    expect(log.lines).toHaveLength(1);
  });

  it('moves subscriptions between queries as watches come and go, reporting only real changes', async () => {
    const dev = await start({
      seed: { 'app/a/k0': 'a0', 'app/a/k1': 'a1', 'app/b/k0': 'b0', 'app/b/k1': 'b1', 'app/c/k0': 'c0' },
    });
    const w = makeWatcher(dev, {
      maxBlockingQueries: 2,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    // Within the budget: a query of its own each.
    const first = [w.watch('app/a/k0', { format: 'text' }), w.watch('app/a/k1', { format: 'text' })];
    const events = recordAll(first);
    await Promise.all(first.map((sub) => sub.ready));
    await held(dev, 2);
    expect(w.stats().queries.map((q) => q.key)).toEqual(['app/a/k0', 'app/a/k1']);

    // Deleted and rewritten while the budget forces a new plan: the move must neither miss the deletion
    // nor invent a change for the untouched key.
    dev.kv.delete('app/a/k1');
    const more = [w.watch('app/b/k0', { format: 'text' }), w.watch('app/b/k1', { format: 'text' })];
    const moreEvents = recordAll(more);
    await Promise.all(more.map((sub) => sub.ready));
    await events.when((items) => changes(items).length >= 1);
    await held(dev, 2);
    expect(
      w
        .stats()
        .queries.map((q) => [q.key, q.subscriptions])
        .sort(),
    ).toEqual([
      ['app/a/', 2],
      ['app/b/', 2],
    ]);
    expect(changes(events.items)).toEqual(['app/a/k1: deleted app/a/k1=undefined']);
    expect(first.map((sub) => sub.current)).toEqual(['a0', undefined]);

    // A third folder does not fit two queries: everything moves under `app/`.
    const third = w.watch('app/c/k0', { format: 'text' });
    await expect(third.ready).resolves.toBe('c0');
    await held(dev, 1);
    expect(w.stats().queries.map((q) => [q.key, q.subscriptions])).toEqual([['app/', 5]]);
    // Held queries only: undici may keep a fresh idle socket for a request the re-plan aborted (reused by
    // later requests); the batch case above counts sockets.
    expect(dev.stats().blockingHeld).toBe(1);
    dev.kv.put('app/b/k1', 'B1');
    await moreEvents.when((items) => changes(items).length >= 1);
    expect(changes(moreEvents.items)).toEqual(['app/b/k1: updated app/b/k1=B1']);
    expect(changes(events.items)).toEqual(['app/a/k1: deleted app/a/k1=undefined']);

    // Back within the budget: each remaining key gets its own query again, with no event.
    await Promise.all([...first, third].map((sub) => sub.close()));
    await held(dev, 2);
    expect(w.stats().queries.map((q) => q.key)).toEqual(['app/b/k0', 'app/b/k1']);
    dev.kv.put('app/b/k0', 'B0');
    await moreEvents.when((items) => changes(items).length >= 2);
    expect(changes(moreEvents.items)).toEqual([
      'app/b/k1: updated app/b/k1=B1',
      'app/b/k0: updated app/b/k0=B0',
    ]);
    expect(w.stats().budget).toMatchObject({ blockingQueries: 2, watchedKeys: 2, coalesced: 0, replans: 3 });
  });

  it('keeps the budget at the client’s connections when those are fewer', async () => {
    const dev = await start({ seed: { 'x/1': '1', 'y/2': '2', 'z/3': '3' } });
    const w = makeWatcher(dev, {
      connections: 2,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    const subs = ['x/1', 'y/2', 'z/3'].map((key) => w.watch(key, { format: 'text' }));
    await expect(Promise.all(subs.map((sub) => sub.ready))).resolves.toEqual(['1', '2', '3']);
    // Nothing in common but the whole KV: one query on '' serves all three.
    await held(dev, 1);
    expect(w.stats().queries.map((q) => [q.key, q.kind])).toEqual([['', 'prefix']]);
    expect(w.stats().budget).toMatchObject({ maxBlockingQueries: 2, blockingQueries: 1, coalesced: 3 });
  });

  it('shares the budget with service watches: their queries count against it', async () => {
    const dev = await start({ seed: { 'x/1': '1', 'y/2': '2' } });
    const w = makeWatcher(dev, {
      maxBlockingQueries: 2,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    const web = w.service('web');
    await web.ready.catch(() => {});
    const subs = ['x/1', 'y/2'].map((key) => w.watch(key, { format: 'text' }));
    await expect(Promise.all(subs.map((sub) => sub.ready))).resolves.toEqual(['1', '2']);
    // One service query holds one of the two: both keys share the other, on the whole KV.
    await held(dev, 2);
    expect(w.stats().queries.map((q) => [q.key, q.kind, q.subscriptions])).toEqual([['', 'prefix', 2]]);
    expect(w.stats().services).toHaveLength(1);
  });
  it('moves a subscription onto a query that has not seen its last change without reporting a step back', async () => {
    const dev = await start({ seed: { 'a/x': 'v1', 'a/other': 'o1', b: 'b1' } });
    const w = makeWatcher(dev, {
      maxBlockingQueries: 2,
      minInterval: 800,
      churnInterval: 0,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    const folder = w.watch('a/', { format: 'text' });
    const key = w.watch('a/x', { format: 'text' });
    const folderEvents = recordAll([folder]);
    const keyEvents = recordAll([key]);
    await Promise.all([folder.ready, key.ready]);
    await held(dev, 2);
    dev.kv.put('a/other', 'o2'); // the a/ query answers, then waits out its minInterval
    await folderEvents.when((items) => changes(items).length >= 1);
    dev.kv.put('a/x', 'v2'); // a/x's own query answers at once: the a/ query has not seen it
    await keyEvents.when((items) => changes(items).length >= 1);
    // A third watch does not fit: a/x moves under the a/ query, whose view still holds v1.
    await expect(w.watch('b', { format: 'text' }).ready).resolves.toBe('b1');
    expect(
      w
        .stats()
        .queries.map((q) => [q.key, q.subscriptions])
        .sort(),
    ).toEqual([
      ['a/', 2],
      ['b', 1],
    ]);
    dev.kv.put('a/x', 'v3');
    await keyEvents.when((items) => changes(items).length >= 2);
    await folderEvents.when((items) => changes(items).some((line) => line.includes('a/x=v3')));
    expect(changes(keyEvents.items)).toEqual(['a/x: updated a/x=v2', 'a/x: updated a/x=v3']);
    expect(key.current).toBe('v3');
  });
  it.each([
    ['maxBlockingQueries: 2', { maxBlockingQueries: 2 }],
    ['connections: 2', { connections: 2 }],
  ])(
    'makes room for a service watched after the KV watches filled the budget (%s), and gives it back',
    async (_name, budget) => {
      const dev = await start({ seed: { a: '1', b: '2' } });
      const w = makeWatcher(dev, {
        ...budget,
        logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      });
      const subs = [w.watch('a', { format: 'text' }), w.watch('b', { format: 'text' })];
      const events = recordAll(subs);
      await expect(Promise.all(subs.map((sub) => sub.ready))).resolves.toEqual(['1', '2']);
      await held(dev, 2);
      const web = w.service('web');
      await web.ready.catch(() => {});
      // The service query takes one of the two; both keys share the other, on the whole KV.
      await held(dev, 2);
      expect(w.stats().queries.map((q) => [q.key, q.kind, q.subscriptions])).toEqual([['', 'prefix', 2]]);
      expect(w.stats().services).toHaveLength(1);
      expect(dev.stats().blockingHeldByKind).toMatchObject({ kv: 1, health: 1 });
      dev.kv.put('b', 'B');
      await events.when((items) => changes(items).length >= 1);
      expect(changes(events.items)).toEqual(['b: updated b=B']);
      // The service gone, each key has a query of its own again, with no event.
      await web.close();
      await held(dev, 2);
      expect(w.stats().queries.map((q) => q.key)).toEqual(['a', 'b']);
      dev.kv.put('a', 'A');
      await events.when((items) => changes(items).length >= 2);
      expect(changes(events.items)).toEqual(['b: updated b=B', 'a: updated a=A']);
    },
  );
  it('warns once when a new key joins a folder query already watched, the budget full', async () => {
    const dev = await start({ seed: { 'a/x': 'x1', 'a/y': 'y1', b: 'b1' } });
    const log = warnings();
    const w = makeWatcher(dev, {
      maxBlockingQueries: 2,
      logger: { debug: quiet, info: quiet, warn: log.warn, error: quiet },
    });
    const subs = [w.watch('a/', { format: 'text' }), w.watch('b', { format: 'text' })];
    await Promise.all(subs.map((sub) => sub.ready));
    await held(dev, 2);
    expect(log.lines).toEqual([]);
    // No re-plan: the a/ query covers it.
    await expect(w.watch('a/x', { format: 'text' }).ready).resolves.toBe('x1');
    await expect(w.watch('a/y', { format: 'text' }).ready).resolves.toBe('y1');
    expect(
      w
        .stats()
        .queries.map((q) => [q.key, q.subscriptions])
        .sort(),
    ).toEqual([
      ['a/', 3],
      ['b', 1],
    ]);
    expect(w.stats().budget).toMatchObject({ blockingQueries: 2, watchedKeys: 4, coalesced: 2, replans: 0 });
    expect(log.lines).toEqual([
      'watch: 3 distinct KV watches exceed maxBlockingQueries (2); they share 2 blocking queries under common folders ("a/"), each reading every key below its folder. Set `roots` to choose the folders, or raise maxBlockingQueries (Consul caps a client at 200 connections)',
    ]);
  });
  it('keeps service watches within the client’s connections when those are fewer than maxBlockingQueries', async () => {
    const dev = await start();
    const w = makeWatcher(dev, {
      connections: 2,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    const lists = ['api', 'db', 'web'].map((name) => w.service(name));
    await Promise.all(lists.map((list) => list.ready.catch(() => {})));
    // Two own queries would fit; a third moves all three to the shared watch (two blocking queries).
    await held(dev, 2);
    expect((w.stats().services ?? []).map((q) => [q.service, q.shared])).toEqual([
      ['api', true],
      ['db', true],
      ['web', true],
    ]);
  });
});
