/**
 * The Watcher against the embedded dev server over real loopback sockets: exact change events for
 * additions, updates and deletions, 404s (consul-semantics §3), one event per Consul index, and answers that change nothing (consul-semantics §4).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ConfigValidationError } from '../../src/errors.js';
import { httpRequest } from '../helpers/http.js';
import { held, record, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher, sentIndexes } = useWatchHarness();

const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe('Watcher on the dev server: change events', () => {
  it('emits exactly one change per added, updated and deleted key under a prefix', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 } });
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await expect(sub.ready).resolves.toEqual({ a: 1, b: 2 });

    const added = dev.kv.put('config/app/c', '3');
    await until(2);
    const updated = dev.kv.put('config/app/a', '10');
    await until(3);
    dev.kv.delete('config/app/b');
    const deleted = dev.kv.index();
    await until(4);

    expect(events).toEqual([
      ['state', { state: 'ready', previous: 'connecting' }],
      [
        'change',
        {
          index: added,
          changes: [{ key: 'config/app/c', type: 'added', value: 3, previous: undefined }],
          current: { a: 1, b: 2, c: 3 },
        },
      ],
      [
        'change',
        {
          index: updated,
          changes: [{ key: 'config/app/a', type: 'updated', value: 10, previous: 1 }],
          current: { a: 10, b: 2, c: 3 },
        },
      ],
      [
        'change',
        {
          // consul-semantics §3: the tombstone carries the delete's index, so the prefix's index moves forward.
          index: deleted,
          changes: [{ key: 'config/app/b', type: 'deleted', value: undefined, previous: 2 }],
          current: { a: 10, c: 3 },
        },
      ],
    ]);
    expect(sub.current).toEqual({ a: 10, c: 3 });
  });

  it('reports every key deleted when the prefix becomes empty (404), and keeps blocking (consul-semantics §3)', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 } });
    const indexes = sentIndexes();
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    dev.kv.delete('config/app/', { recurse: true });
    const emptied = dev.kv.index();
    await until(2);
    await held(dev);
    expect(events[1]).toEqual([
      'change',
      {
        index: emptied,
        changes: [
          { key: 'config/app/a', type: 'deleted', value: undefined, previous: 1 },
          { key: 'config/app/b', type: 'deleted', value: undefined, previous: 2 },
        ],
        current: {},
      },
    ]);
    // The 404's X-Consul-Index is the next request's index: the watch keeps blocking on the empty prefix.
    expect(indexes.items).toEqual([0, 3, emptied]);
  });

  it('serves the schema default while a key is missing, then its value, then the default again', async () => {
    const dev = await start();
    const sub = makeWatcher(dev).watch('config/limit', { format: 'json', schema: z.number().default(3) });
    const { items: events, until } = record(sub);
    await expect(sub.ready).resolves.toBe(3);
    await held(dev);
    const created = dev.kv.put('config/limit', '7');
    await until(2);
    dev.kv.delete('config/limit');
    const deleted = dev.kv.index();
    await until(3);
    expect(events.slice(1)).toEqual([
      [
        'change',
        {
          index: created,
          changes: [{ key: 'config/limit', type: 'added', value: 7, previous: undefined }],
          current: 7,
        },
      ],
      [
        'change',
        {
          index: deleted,
          changes: [{ key: 'config/limit', type: 'deleted', value: undefined, previous: 7 }],
          current: 3,
        },
      ],
    ]);
  });

  it('emits one change event for a transaction that writes three keys at one index', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    await held(dev);
    const txn = await httpRequest(dev.address, {
      method: 'PUT',
      path: '/v1/txn',
      body: JSON.stringify([
        { KV: { Verb: 'set', Key: 'config/app/a', Value: b64('2') } },
        { KV: { Verb: 'set', Key: 'config/app/b', Value: b64('3') } },
        { KV: { Verb: 'set', Key: 'config/app/c', Value: b64('4') } },
      ]),
    });
    expect(txn.status).toBe(200);
    const txnIndex = dev.kv.index();
    await until(2);
    // A later write fences the check: a second event for the transaction would arrive before this one.
    const fence = dev.kv.put('config/app/fence', '0');
    await until(3);
    expect(events.slice(1)).toEqual([
      [
        'change',
        {
          index: txnIndex,
          changes: [
            { key: 'config/app/a', type: 'updated', value: 2, previous: 1 },
            { key: 'config/app/b', type: 'added', value: 3, previous: undefined },
            { key: 'config/app/c', type: 'added', value: 4, previous: undefined },
          ],
          current: { a: 2, b: 3, c: 4 },
        },
      ],
      [
        'change',
        {
          index: fence,
          changes: [{ key: 'config/app/fence', type: 'added', value: 0, previous: undefined }],
          current: { a: 2, b: 3, c: 4, fence: 0 },
        },
      ],
    ]);
  });
});

describe('Watcher on the dev server: answers that change nothing (consul-semantics §4)', () => {
  it('emits nothing for spurious wake-ups and counts them', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const indexes = sentIndexes();
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    await held(dev);
    // The held query took no fault; the next two blocking queries return at once, unchanged.
    dev.faults.inject({ fault: { kind: 'spurious' }, times: 2 });
    const woken = dev.kv.put('config/app/b', '2');
    await until(2);
    await indexes.until(5);
    await held(dev);
    const fence = dev.kv.put('config/app/fence', '0');
    await until(3);
    expect(events.map(([name, event]) => [name, name === 'change' ? event.index : undefined])).toEqual([
      ['state', undefined],
      ['change', woken],
      ['change', fence],
    ]);
    expect(indexes.items).toEqual([0, 2, woken, woken, woken, fence]);
    expect(w.stats().queries[0]).toMatchObject({ requests: 6, changes: 3, spurious: 2, errors: 0 });
  });

  it('emits nothing when a key is deleted and re-created with the same value in one transaction', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    await held(dev);
    const txn = await httpRequest(dev.address, {
      method: 'PUT',
      path: '/v1/txn',
      body: JSON.stringify([
        { KV: { Verb: 'delete', Key: 'config/app/a' } },
        { KV: { Verb: 'set', Key: 'config/app/a', Value: b64('1') } },
      ]),
    });
    expect(txn.status).toBe(200);
    // A new ModifyIndex with the same Value and Flags is not a change (diff by content, consul-semantics §4).
    expect(dev.kv.get('config/app/a')?.modifyIndex).toBe(3);
    await held(dev);
    const fence = dev.kv.put('config/app/fence', '0');
    await until(2);
    expect(events.slice(1).map(([name, event]) => [name, name === 'change' ? event.index : 0])).toEqual([
      ['change', fence],
    ]);
    expect(w.stats().queries[0]).toMatchObject({ requests: 4, changes: 2, spurious: 1 });
  });

  it('sends nothing and emits nothing for a PUT of the identical value (consul-semantics §2: no index bump)', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    await held(dev);
    const put = await httpRequest(dev.address, { method: 'PUT', path: '/v1/kv/config/app/a', body: '1' });
    expect([put.status, put.text]).toEqual([200, 'true']);
    const fence = dev.kv.put('config/app/fence', '0');
    await until(2);
    expect(events.slice(1).map(([name, event]) => [name, name === 'change' ? event.index : 0])).toEqual([
      ['change', fence],
    ]);
    // The identical PUT woke nothing: the full read, the blocking query the fence answered, the next one.
    expect(w.stats().queries[0]).toMatchObject({ requests: 3, changes: 2, spurious: 0 });
  });

  it('emits nothing to a subscription when a root query wakes for a sibling prefix', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'other/x': 'x' } });
    // The empty-prefix root lists every key with the whole-KV index, so every write wakes it (consul-semantics §3, §4).
    const w = makeWatcher(dev, { roots: [''] });
    const sub = w.watch('config/app/', { format: 'json' });
    const { items: events, until } = record(sub);
    await sub.ready;
    await held(dev);
    dev.kv.put('other/y', 'y');
    // The write answered the held query synchronously; wait for the next one.
    await held(dev);
    const fence = dev.kv.put('config/app/fence', '0');
    await until(2);
    expect(events.slice(1).map(([name, event]) => [name, name === 'change' ? event.index : 0])).toEqual([
      ['change', fence],
    ]);
    // Stats are per query: other/y did change the root's view, so it counts as a change, not as spurious.
    expect(w.stats().queries).toEqual([
      expect.objectContaining({ key: '', kind: 'prefix', requests: 4, changes: 3, spurious: 0 }),
    ]);
  });
});

describe('Watcher on the dev server: invalid values', () => {
  it('reports a key that does not decode, keeps the last good value, then diffs against it', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 } });
    const schema = z.object({ a: z.number(), b: z.number() });
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json', schema });
    const { items: events, until } = record(sub);
    const good = await sub.ready;
    dev.kv.put('config/app/b', '{not json');
    await until(2);
    const [name, error] = events[1] ?? [];
    expect(name).toBe('invalid');
    const invalid = error as ConfigValidationError;
    expect(invalid.code).toBe('CONSUL_CONFIG_VALIDATION');
    expect(invalid.issues.map((issue) => issue.key)).toEqual(['config/app/b']);
    expect(invalid.message).toContain('config/app/b');
    // The last good value keeps serving, the very same object.
    expect(sub.current).toBe(good);

    const fixed = dev.kv.put('config/app/b', '5');
    await until(3);
    expect(events[2]).toEqual([
      'change',
      {
        index: fixed,
        // Relative to the last good value (b = 2), not to the broken one.
        changes: [{ key: 'config/app/b', type: 'updated', value: 5, previous: 2 }],
        current: { a: 1, b: 5 },
      },
    ]);
  });

  it('rejects ready when the first value breaks the schema, then announces the fixed value as a change', async () => {
    const dev = await start({ seed: { 'config/limit': '"many"' } });
    const sub = makeWatcher(dev).watch('config/limit', { format: 'json', schema: z.number() });
    const { items: events, until } = record(sub);
    const rejected = await sub.ready.then(
      () => undefined,
      (error: unknown) => error as ConfigValidationError,
    );
    expect(rejected?.name).toBe('ConfigValidationError');
    expect(rejected?.code).toBe('CONSUL_CONFIG_VALIDATION');
    expect(rejected?.issues.map((issue) => issue.key)).toEqual(['config/limit']);
    expect(sub.current).toBeUndefined();
    expect(sub.state).toBe('connecting');
    await held(dev);
    const fixed = dev.kv.put('config/limit', '12');
    await until(3);
    expect(events.map(([name]) => name)).toEqual(['invalid', 'state', 'change']);
    expect(events.slice(1)).toEqual([
      ['state', { state: 'ready', previous: 'connecting' }],
      [
        'change',
        {
          index: fixed,
          // No good value came before, so the key is new to the subscription.
          changes: [{ key: 'config/limit', type: 'added', value: 12, previous: undefined }],
          current: 12,
        },
      ],
    ]);
    expect(sub.current).toBe(12);
  });
});
