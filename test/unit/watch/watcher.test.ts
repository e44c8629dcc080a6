import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { z } from 'zod';
import {
  AclDeniedError,
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  InvalidArgumentError,
  UnknownDatacenterError,
} from '../../../src/errors.js';
import type { Subscription } from '../../../src/watch/subscription.js';
import type { ChangeEvent, StateEvent, WatcherOptions } from '../../../src/watch/types.js';
import { Watcher } from '../../../src/watch/watcher.js';
import { recordingLogger } from '../../helpers/logger.js';
import { ADDRESS, consulBody, MockConsul } from './mock-consul.js';

const TOKEN = 's3cr3t-token-value';

let consul: MockConsul;
let watcher: Watcher | undefined;

function makeWatcher(options: WatcherOptions = {}): Watcher {
  watcher = new Watcher({ address: ADDRESS, dispatcher: consul.agent, env: {}, minInterval: 0, ...options });
  return watcher;
}

/** Resolves with the subscription's next change event. */
const nextChange = <T>(sub: Subscription<T>) =>
  new Promise<ChangeEvent<T>>((resolve) => {
    sub.once('change', resolve);
  });

const entry = (key: string, value: string | null, modifyIndex: number, flags = 0) => ({
  key,
  value,
  modifyIndex,
  flags,
});

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  vi.useRealTimers();
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

describe('Watcher: requests', () => {
  it('reads a prefix fully, then blocks with the answer’s index and the wait as <ms>ms (consul-semantics §1, §4)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const second = consul.answer(
      '/v1/kv/config/app/?recurse=&index=5&wait=55000ms',
      { entries: [entry('config/app/a', '2', 7)], index: 7 },
      { hold: true },
    );
    const third = consul.hang('/v1/kv/config/app/?recurse=&index=7&wait=55000ms');
    const sub = makeWatcher({ wait: '55s', token: TOKEN }).watch('config/app/', { format: 'json' });
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    second.release();
    const change = await nextChange(sub);
    expect(change).toEqual({
      index: 7,
      changes: [{ key: 'config/app/a', type: 'updated', value: 2, previous: 1 }],
      current: { a: 2 },
    });
    await third;
    expect(consul.requests()).toEqual([
      '/v1/kv/config/app/?recurse=',
      '/v1/kv/config/app/?recurse=&index=5&wait=55000ms',
      '/v1/kv/config/app/?recurse=&index=7&wait=55000ms',
    ]);
    // consul-semantics §1.6: the token travels as X-Consul-Token, never in the URL.
    expect(consul.headers(0)?.['x-consul-token']).toBe(TOKEN);
    expect(consul.requests().join()).not.toContain(TOKEN);
  });

  it('uses a 5 minute wait by default', async () => {
    consul.answer('/v1/kv/config/flag', { entries: [entry('config/flag', 'on', 9)], index: 9 });
    const blocking = consul.hang('/v1/kv/config/flag?index=9&wait=300000ms');
    const sub = makeWatcher().watch('config/flag', { format: 'text' });
    await expect(sub.ready).resolves.toBe('on');
    await blocking;
  });

  it('keeps blocking on a 404 with its index: an empty prefix serves {} and a missing key undefined (consul-semantics §3)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: null, index: 12 });
    const prefixBlocks = consul.hang('/v1/kv/config/app/?recurse=&index=12&wait=300000ms');
    consul.answer('/v1/kv/config/limit', { entries: null, index: 12 });
    const keyBlocks = consul.hang('/v1/kv/config/limit?index=12&wait=300000ms');
    const w = makeWatcher();
    const prefix = w.watch('config/app/', { format: 'text' });
    const key = w.watch('config/limit', { format: 'json', schema: z.number().default(3) });
    await expect(prefix.ready).resolves.toEqual({});
    await expect(key.ready).resolves.toBe(3);
    await Promise.all([prefixBlocks, keyBlocks]);
  });

  it('emits nothing for a wake-up that changed nothing, and counts it as spurious (consul-semantics §4)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      entries: [entry('config/app/a', '1', 5)],
      index: 5,
    });
    const third = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'json' });
    const events: string[] = [];
    sub.on('change', () => events.push('change'));
    sub.on('invalid', () => events.push('invalid'));
    await sub.ready;
    await third;
    expect(events).toEqual([]);
    expect(w.stats().queries[0]).toMatchObject({ requests: 3, changes: 1, spurious: 1, errors: 0 });
  });

  it('does not emit for a key rewritten with the same value and flags (new ModifyIndex)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      entries: [entry('config/app/a', '1', 8)],
      index: 8,
    });
    const third = consul.hang('/v1/kv/config/app/?recurse=&index=8&wait=300000ms');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'text' });
    const changes: unknown[] = [];
    sub.on('change', (e) => changes.push(e));
    await sub.ready;
    await third;
    expect(changes).toEqual([]);
    expect(w.stats().queries[0]).toMatchObject({ changes: 1, spurious: 1 });
  });

  it('re-reads fully from index 0 when the index goes backwards, and counts the reset (consul-semantics §3)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 50)], index: 50 });
    consul.answer('/v1/kv/config/app/?recurse=&index=50&wait=300000ms', {
      entries: [entry('config/app/a', '1', 50)],
      index: 20,
    });
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 50)], index: 20 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=20&wait=300000ms');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'text' });
    await sub.ready;
    await blocking;
    expect(consul.requests()).toEqual([
      '/v1/kv/config/app/?recurse=',
      '/v1/kv/config/app/?recurse=&index=50&wait=300000ms',
      '/v1/kv/config/app/?recurse=',
      '/v1/kv/config/app/?recurse=&index=20&wait=300000ms',
    ]);
    expect(w.stats().queries[0]).toMatchObject({ indexResets: 1, lastIndex: 20 });
  });

  it('blocks on index 1 when X-Consul-Index is missing (consul-semantics §4)', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', {
      entries: [entry('config/app/a', '1', 5)],
      index: undefined,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=1&wait=300000ms');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'text' });
    await sub.ready;
    await blocking;
    expect(w.stats().queries[0]?.lastIndex).toBe(1);
  });

  it('re-reads consistently an answer staler than maxStale, with consistency stale', async () => {
    consul.answer('/v1/kv/config/app/?recurse=&stale=', {
      entries: [entry('config/app/a', 'old', 4)],
      index: 4,
      lastContact: 5_000,
    });
    consul.answer('/v1/kv/config/app/?recurse=&consistent=', {
      entries: [entry('config/app/a', 'new', 6)],
      index: 6,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&stale=&index=6&wait=300000ms');
    const w = makeWatcher({ consistency: 'stale', maxStale: 1_000 });
    const sub = w.watch('config/app/', { format: 'text' });
    await expect(sub.ready).resolves.toEqual({ a: 'new' });
    await blocking;
    expect(w.stats().queries[0]).toMatchObject({ requests: 3, consistency: 'stale' });
  });
});

describe('Watcher: errors', () => {
  it('emits a 403 as AclDeniedError with a hint, rejects ready with it, logs it, and retries only at the backoff max', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { status: 403, body: 'Permission denied' });
    const retried = consul.hang('/v1/kv/config/app/?recurse=');
    const logged: string[] = [];
    const w = makeWatcher({
      token: TOKEN,
      backoff: { min: 1, max: 25 },
      logger: { error: (_obj, msg) => logged.push(msg ?? '') },
    });
    const sub = w.watch('config/app/', { format: 'text' });
    const errors: ConsulError[] = [];
    sub.on('error', (e) => errors.push(e));
    const error = (await sub.ready.catch((e: unknown) => e)) as AclDeniedError;
    expect(error).toBeInstanceOf(AclDeniedError);
    expect(error.code).toBe('CONSUL_ACL_DENIED');
    expect(error.status).toBe(403);
    expect(error.key).toBe('config/app/');
    expect(error.message).toMatch(/^kv\.list config\/app\/: 403 Permission denied \(.+\)$/);
    expect(error.message).not.toContain(TOKEN);
    expect(errors).toEqual([error]);
    expect(logged).toEqual([`${error.message}; retrying in 25 ms`]);
    await retried;
  });

  it('rejects ready at once for an unknown datacenter (consul-semantics §1) and keeps retrying slowly', async () => {
    consul.answer('/v1/kv/config/app/?dc=nowhere&recurse=', { status: 500, body: 'No path to datacenter' });
    const retried = consul.hang('/v1/kv/config/app/?dc=nowhere&recurse=');
    const sub = makeWatcher({ datacenter: 'nowhere', backoff: { min: 1, max: 5 } }).watch('config/app/', {
      format: 'text',
    });
    await expect(sub.ready).rejects.toBeInstanceOf(UnknownDatacenterError);
    await retried;
  });

  it('keeps the last good value through a 500, then re-reads fully and emits nothing if nothing changed', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', { status: 500, body: 'rpc error' });
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const w = makeWatcher({ backoff: { min: 1, max: 1 }, random: () => 0 });
    const sub = w.watch('config/app/', { format: 'json' });
    const events: Array<[string, unknown]> = [];
    sub.on('change', (e) => events.push(['change', e]));
    sub.on('error', (e) => events.push(['error', e.code]));
    await sub.ready;
    await blocking;
    expect(events).toEqual([['error', 'CONSUL_SERVER_ERROR']]);
    expect(sub.current).toEqual({ a: 1 });
    expect(w.stats().queries[0]).toMatchObject({ requests: 4, errors: 1 });
  });

  it('reports a malformed body as an error and retries', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { status: 200, body: '[{"Key":' });
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const sub = makeWatcher({ backoff: { min: 1, max: 1 } }).watch('config/app/', { format: 'text' });
    const codes: string[] = [];
    sub.on('error', (e) => codes.push(e.code));
    await expect(sub.ready).resolves.toEqual({ a: '1' });
    await blocking;
    expect(codes).toEqual(['CONSUL_MALFORMED_RESPONSE']);
  });

  it('never adopts the index of an answer holding a value that is not base64, and re-reads', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const corrupt = [
      { Key: 'config/app/a', Value: 'bm90!YmFzZTY0', Flags: 0, CreateIndex: 1, ModifyIndex: 9, LockIndex: 0 },
    ];
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      status: 200,
      index: 9,
      body: JSON.stringify(corrupt),
    });
    // The next request is a full read (no index), never ?index=9: the corrupt answer's index was not taken.
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '2', 9)], index: 9 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=9&wait=300000ms');
    const sub = makeWatcher({ backoff: { min: 1, max: 1 } }).watch('config/app/', { format: 'text' });
    const events: unknown[] = [];
    sub.on('error', (e) => events.push(['error', e.code, e.message]));
    sub.on('invalid', (e) => events.push(['invalid', e.message]));
    sub.on('change', (e) => events.push(['change', e.current]));
    await expect(sub.ready).resolves.toEqual({ a: '1' });
    await blocking;
    expect(events).toEqual([
      [
        'error',
        'CONSUL_MALFORMED_RESPONSE',
        expect.stringContaining('entry 0 ("config/app/a"): Value is not valid base64'),
      ],
      ['change', { a: '2' }],
    ]);
  });

  it('refuses an answer whose one changed value is not base64 while its other values are the ones held', async () => {
    const held = [entry('config/app/a', '1', 5), entry('config/app/b', '2', 6)];
    consul.answer('/v1/kv/config/app/?recurse=', { entries: held, index: 6 });
    const a = { Key: 'config/app/a', Value: 'MQ==', Flags: 0, CreateIndex: 1, ModifyIndex: 5, LockIndex: 0 };
    // b's ModifyIndex did not move, so the diff would not even look at it: the answer is refused all the same.
    const corrupt = [a, { ...a, Key: 'config/app/b', Value: 'bm90!YmFzZTY0', ModifyIndex: 6 }];
    consul.answer('/v1/kv/config/app/?recurse=&index=6&wait=300000ms', {
      status: 200,
      index: 9,
      body: JSON.stringify(corrupt),
    });
    consul.answer('/v1/kv/config/app/?recurse=', {
      entries: [held[0]!, entry('config/app/b', '3', 9)],
      index: 9,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=9&wait=300000ms');
    const sub = makeWatcher({ backoff: { min: 1, max: 1 } }).watch('config/app/', { format: 'text' });
    const events: unknown[] = [];
    sub.on('error', (e) => events.push(['error', e.code, e.message]));
    sub.on('change', (e) => events.push(['change', e.current]));
    await expect(sub.ready).resolves.toEqual({ a: '1', b: '2' });
    await blocking;
    expect(events).toEqual([
      [
        'error',
        'CONSUL_MALFORMED_RESPONSE',
        expect.stringContaining('entry 1 ("config/app/b"): Value is not valid base64'),
      ],
      ['change', { a: '1', b: '3' }],
    ]);
  });

  it.each([
    {
      what: 'one changed value that is not base64',
      cut: (text: string) => text.replace('"Value":"OTk5OQ=="', '"Value":"OTk5!Q=="'),
    },
    {
      what: 'a changed entry cut short',
      cut: (text: string) => text.replace(',"ModifyIndex":900}', ',"ModifyIndex":900'),
    },
  ])(
    'refuses a large answer with $what among unchanged entries it reuses, and re-reads',
    async ({ cut: damage }) => {
      const cut = (text: string) => {
        const damaged = damage(text);
        expect(damaged).not.toBe(text);
        return damaged;
      };
      // 500 keys: large enough for the list parser to reuse the unchanged entries of the last answer.
      const keys = Array.from({ length: 500 }, (_, i) => `config/app/k${String(i).padStart(3, '0')}`);
      const first = keys.map((key, i) => entry(key, String(i), 5));
      const second = first.map((e, i) => (i === 250 ? entry(keys[250]!, '9999', 900) : e));
      consul.answer('/v1/kv/config/app/?recurse=', { entries: first, index: 5 });
      consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
        status: 200,
        index: 900,
        body: cut(consulBody(second)),
      });
      // A full read (no index) follows: the broken answer's index 900 was not taken.
      consul.answer('/v1/kv/config/app/?recurse=', { entries: second, index: 900 });
      const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=900&wait=300000ms');
      const sub = makeWatcher({ backoff: { min: 1, max: 1 } }).watch('config/app/', { format: 'text' });
      const events: unknown[] = [];
      sub.on('error', (e) => events.push(['error', e.code]));
      sub.on('change', (e) => events.push(['change', e.changes]));
      await sub.ready;
      await blocking;
      expect(events).toEqual([
        ['error', 'CONSUL_MALFORMED_RESPONSE'],
        ['change', [{ key: keys[250], type: 'updated', value: '9999', previous: '250' }]],
      ]);
    },
  );

  it('turns stale after staleAfter ms of failures and ready again on recovery', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', { status: 503, body: 'busy' });
    const outage = consul.flaky('/v1/kv/config/app/?recurse=', {
      entries: [entry('config/app/a', '1', 5)],
      index: 5,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const w = makeWatcher({ staleAfter: 30, backoff: { min: 5, max: 5 } });
    const sub = w.watch('config/app/', { format: 'text' });
    const states: StateEvent[] = [];
    sub.on('state', (e) => states.push(e));
    const errors: string[] = [];
    sub.on('error', (e) => errors.push(e.code));
    await sub.ready;
    await new Promise<void>((resolve) => sub.once('state', () => resolve()));
    expect(sub.state).toBe('stale');
    expect(w.stats().queries[0]?.state).toBe('stale');
    expect(sub.current).toEqual({ a: '1' });
    outage.heal();
    await new Promise<void>((resolve) => sub.once('state', () => resolve()));
    await blocking;
    expect(states).toEqual([
      { state: 'ready', previous: 'connecting' },
      { state: 'stale', previous: 'ready' },
      { state: 'ready', previous: 'stale' },
    ]);
    expect(new Set(errors)).toEqual(new Set(['CONSUL_SERVER_ERROR']));
  });
});

describe('Watcher: coalescing', () => {
  it('serves every subscription to the same prefix from one query', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const w = makeWatcher();
    const subs = [
      w.watch('config/app/', { format: 'text' }),
      w.watch('config/app/', { format: 'json' }),
      w.watch('config/app/', { format: 'text' }),
    ];
    expect(await Promise.all(subs.map((s) => s.ready))).toEqual([{ a: '1' }, { a: 1 }, { a: '1' }]);
    await blocking;
    expect(consul.requests()).toHaveLength(2);
    expect(w.stats()).toMatchObject({
      subscriptions: 3,
      queries: [{ key: 'config/app/', subscriptions: 3 }],
    });
  });

  it('serves 1,000 subscriptions under a root with one blocking query, each seeing only its own keys', async () => {
    const initial = Array.from({ length: 1000 }, (_, i) =>
      entry(`config/svc${i}/port`, String(8000 + i), 10 + i),
    );
    consul.answer('/v1/kv/config/?recurse=', { entries: initial, index: 1009 });
    const changed = initial.slice();
    changed[42] = entry('config/svc42/port', '9999', 2000);
    const wake = consul.answer(
      '/v1/kv/config/?recurse=&index=1009&wait=300000ms',
      { entries: changed, index: 2000 },
      { hold: true },
    );
    const blocking = consul.hang('/v1/kv/config/?recurse=&index=2000&wait=300000ms');
    const w = makeWatcher({ roots: ['config/'] });
    const subs = Array.from({ length: 1000 }, (_, i) => w.watch(`config/svc${i}/`, { format: 'json' }));
    await Promise.all(subs.map((s) => s.ready));
    expect(subs[7]?.current).toEqual({ port: 8007 });
    const fired: number[] = [];
    subs.forEach((s, i) => {
      s.on('change', () => fired.push(i));
    });
    wake.release();
    const change = await nextChange(subs[42]!);
    await blocking;
    expect(fired).toEqual([42]);
    expect(change).toEqual({
      index: 2000,
      changes: [{ key: 'config/svc42/port', type: 'updated', value: 9999, previous: 8042 }],
      current: { port: 9999 },
    });
    expect(consul.requests()).toHaveLength(3);
    expect(w.stats().queries).toHaveLength(1);
    expect(w.stats().queries[0]).toMatchObject({ key: 'config/', kind: 'prefix', subscriptions: 1000 });
  });

  it('filters a root’s entries for a single-key subscription and a nested prefix', async () => {
    consul.answer('/v1/kv/config/?recurse=', {
      entries: [
        entry('config/app/a', '1', 5),
        entry('config/flag', 'on', 6),
        entry('config/flagship', 'x', 7),
      ],
      index: 7,
    });
    const blocking = consul.hang('/v1/kv/config/?recurse=&index=7&wait=300000ms');
    const w = makeWatcher({ roots: ['config/'] });
    const flag = w.watch('config/flag', { format: 'text' });
    const app = w.watch('config/app/', { format: 'text' });
    const missing = w.watch('config/missing', { format: 'text' });
    await expect(flag.ready).resolves.toBe('on');
    await expect(app.ready).resolves.toEqual({ a: '1' });
    await expect(missing.ready).resolves.toBeUndefined();
    await blocking;
    expect(consul.requests()).toHaveLength(2);
  });

  it('hands a late subscription the root’s data without a new request', async () => {
    consul.answer('/v1/kv/config/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    const blocking = consul.hang('/v1/kv/config/?recurse=&index=5&wait=300000ms');
    const w = makeWatcher({ roots: ['config/'] });
    await w.watch('config/app/', { format: 'text' }).ready;
    await blocking;
    const late = w.watch('config/app/a', { format: 'text' });
    await expect(late.ready).resolves.toBe('1');
    expect(consul.requests()).toHaveLength(2);
  });

  it('gives a subscription outside every root (or with another consistency) its own query', async () => {
    consul.answer('/v1/kv/config/?recurse=', { entries: [], index: 3 });
    const rootBlocks = consul.hang('/v1/kv/config/?recurse=&index=3&wait=300000ms');
    consul.answer('/v1/kv/other/?recurse=', { entries: [], index: 3 });
    const otherBlocks = consul.hang('/v1/kv/other/?recurse=&index=3&wait=300000ms');
    consul.answer('/v1/kv/config/x?consistent=', { entries: null, index: 3 });
    const consistentBlocks = consul.hang('/v1/kv/config/x?consistent=&index=3&wait=300000ms');
    const w = makeWatcher({ roots: ['config/'] });
    await Promise.all([
      w.watch('config/a/', { format: 'text' }).ready,
      w.watch('other/', { format: 'text' }).ready,
      w.watch('config/x', { format: 'text', consistency: 'consistent' }).ready,
    ]);
    await Promise.all([rootBlocks, otherBlocks, consistentBlocks]);
    expect(w.stats().queries.map((q) => [q.key, q.kind, q.consistency])).toEqual([
      ['config/', 'prefix', 'default'],
      ['other/', 'prefix', 'default'],
      ['config/x', 'key', 'consistent'],
    ]);
  });

  it('stops the query (aborting its request) when its last subscription closes', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [], index: 3 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=3&wait=300000ms');
    const w = makeWatcher();
    const a = w.watch('config/app/', { format: 'text' });
    const b = w.watch('config/app/', { format: 'text' });
    await Promise.all([a.ready, b.ready]);
    await blocking;
    await a.close();
    expect(w.stats().queries).toHaveLength(1);
    await b.close();
    expect(w.stats()).toEqual({
      queries: [],
      subscriptions: 0,
      decodes: 0,
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
  });
});

describe('Watcher: lifecycle and options', () => {
  it('close() rejects pending ready promises, closes every subscription and is idempotent', async () => {
    const arrived = consul.hang('/v1/kv/config/app/?recurse=');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'text' });
    const states: string[] = [];
    sub.on('state', (e) => states.push(e.state));
    await arrived;
    const closing = w.close();
    expect(w.close()).toBe(closing);
    await closing;
    await expect(sub.ready).rejects.toBeInstanceOf(ClosedError);
    expect(states).toEqual(['closed']);
    expect(w.closed).toBe(true);
    expect(() => w.watch('config/app/', { format: 'text' })).toThrow(ClosedError);
  });

  it('closes when its signal aborts, and a subscription closes with its own signal', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [], index: 3 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=3&wait=300000ms');
    const watcherSignal = new AbortController();
    const subSignal = new AbortController();
    const w = makeWatcher({ signal: watcherSignal.signal });
    const sub = w.watch('config/app/', { format: 'text', signal: subSignal.signal });
    await sub.ready;
    await blocking;
    subSignal.abort();
    expect(sub.state).toBe('closed');
    watcherSignal.abort();
    expect(w.closed).toBe(true);
  });

  it('refuses bad options and keys at the call', () => {
    expect(() => makeWatcher({ wait: '11m' })).toThrow(InvalidArgumentError);
    // Above 2^31-1 ms a timer fires after 1 ms: refused, naming the option and the limit.
    for (const options of [{ startTimeout: 3e9 }, { staleAfter: 3e9 }, { backoff: { min: 1, max: 3e9 } }]) {
      expect(() => makeWatcher(options)).toThrow(
        /^watch: (startTimeout|staleAfter|backoff\.max) must be at most 2147483647 ms \(about 24\.8 days, the longest a Node\.js timer can wait\); got 3000000000$/,
      );
    }
    expect(() => makeWatcher({ debounce: { min: '1s', max: '1000h' } })).toThrow(
      /debounce\.max must be at most 2147483647 ms/,
    );
    expect(() => makeWatcher({ decodeCacheSize: 1.5 })).toThrow(
      'Watcher: decodeCacheSize must be a non-negative whole number of entries; got 1.5',
    );
    expect(() => makeWatcher({ wait: 'soon' })).toThrow(InvalidArgumentError);
    expect(() => makeWatcher({ backoff: { min: 10, max: 5 } })).toThrow(InvalidArgumentError);
    expect(() => makeWatcher({ consistency: 'eventual' as 'stale' })).toThrow(InvalidArgumentError);
    expect(() => makeWatcher({ debounce: { min: 10, max: 5 } })).toThrow(InvalidArgumentError);
    expect(() => makeWatcher({ roots: ['/config/'] })).toThrow(InvalidArgumentError);
    const w = makeWatcher();
    expect(() => w.watch('', { format: 'text' })).toThrow(InvalidArgumentError);
    expect(() => w.watch('/config', { format: 'text' })).toThrow(InvalidArgumentError);
    expect(() => w.watch('config//x', { format: 'text' })).toThrow(InvalidArgumentError);
    expect(() => w.watch('config/x', { format: 'xml' as 'json' })).toThrow(InvalidArgumentError);
    expect(w.stats().queries).toEqual([]);
  });

  it('keeps the loop going when the first of two change listeners throws: the second gets every change', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      entries: [entry('config/app/a', '2', 6)],
      index: 6,
    });
    consul.answer('/v1/kv/config/app/?recurse=&index=6&wait=300000ms', {
      entries: [entry('config/app/a', '3', 7)],
      index: 7,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=7&wait=300000ms');
    const errors: string[] = [];
    const sub = makeWatcher({
      logger: { error: (_obj, msg) => errors.push(msg ?? '') },
    }).watch('config/app/', { format: 'json' });
    const seen: unknown[] = [];
    sub.on('change', () => {
      throw new Error('listener bug');
    });
    sub.on('change', (event) => seen.push(event.current));
    await sub.ready;
    await blocking;
    expect(seen).toEqual([{ a: 2 }, { a: 3 }]);
    expect(errors).toEqual([
      "watch config/app/: a 'change' listener threw",
      "watch config/app/: a 'change' listener threw",
    ]);
    expect(consul.requests()).toHaveLength(4);
  });

  it('logs a throwing change listener of a subscription with its error, and still calls the next one', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      entries: [entry('config/app/a', '2', 6)],
      index: 6,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=6&wait=300000ms');
    const { calls, logger } = recordingLogger();
    const sub = makeWatcher().watch('config/app/', { format: 'json', logger });
    const bug = new Error('listener bug');
    const seen: unknown[] = [];
    sub.on('change', () => {
      throw bug;
    });
    sub.on('change', (event) => seen.push(event.current));
    await sub.ready;
    await blocking;
    expect(seen).toEqual([{ a: 2 }]);
    expect(calls).toEqual([
      [
        'error',
        { key: 'config/app/', event: 'change', err: bug },
        "watch config/app/: a 'change' listener threw",
      ],
    ]);
  });

  it('rejects ready and emits invalid, naming the key, when the schema throws instead of reporting an issue', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/port', '1', 5)], index: 5 });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=5&wait=300000ms');
    const schema = z.object({
      port: z.number().refine(() => {
        throw new Error('boom in refine');
      }),
    });
    const sub = makeWatcher().watch('config/app/', { format: 'json', schema });
    const invalid: unknown[] = [];
    sub.on('invalid', (error) => invalid.push([error.code, error.key, error.issues]));
    const error = await sub.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    const issues = [{ key: 'config/app/', path: [], message: 'the schema threw: boom in refine' }];
    expect([(error as ConfigValidationError).key, (error as ConfigValidationError).issues]).toEqual([
      'config/app/',
      issues,
    ]);
    expect(invalid).toEqual([['CONSUL_CONFIG_VALIDATION', 'config/app/', issues]]);
    // The watch goes on.
    await blocking;
  });

  it('publishes changes on watch:change and errors on watch:error', async () => {
    consul.answer('/v1/kv/config/app/?recurse=', { status: 500, body: 'boom' });
    consul.answer('/v1/kv/config/app/?recurse=', { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer('/v1/kv/config/app/?recurse=&index=5&wait=300000ms', {
      entries: [entry('config/app/a', '2', 6)],
      index: 6,
    });
    const blocking = consul.hang('/v1/kv/config/app/?recurse=&index=6&wait=300000ms');
    const published: Array<[string, unknown]> = [];
    const onChange = (message: unknown) => published.push(['change', message]);
    const onError = (message: unknown) => published.push(['error', (message as { key: string }).key]);
    diagnosticsChannel.subscribe('consul-hotreload:watch:change', onChange);
    diagnosticsChannel.subscribe('consul-hotreload:watch:error', onError);
    try {
      const sub = makeWatcher({ backoff: { min: 1, max: 1 } }).watch('config/app/', { format: 'text' });
      sub.on('error', () => {});
      await nextChange(sub);
      await blocking;
    } finally {
      diagnosticsChannel.unsubscribe('consul-hotreload:watch:change', onChange);
      diagnosticsChannel.unsubscribe('consul-hotreload:watch:error', onError);
    }
    expect(published).toEqual([
      ['error', 'config/app/'],
      [
        'change',
        {
          key: 'config/app/',
          index: 6,
          changes: [{ key: 'config/app/a', type: 'updated', value: '2', previous: '1' }],
        },
      ],
    ]);
  });

  it('types current, ready and change events from the schema', async () => {
    consul.answer('/v1/kv/config/port', { entries: [entry('config/port', '80', 4)], index: 4 });
    const blocking = consul.hang('/v1/kv/config/port?index=4&wait=300000ms');
    const w = makeWatcher();
    const sub = w.watch('config/port', { format: 'json', schema: z.number().int() });
    expectTypeOf(sub.current).toEqualTypeOf<number | undefined>();
    expectTypeOf(sub.ready).toEqualTypeOf<Promise<number>>();
    sub.on('change', (event) => expectTypeOf(event.current).toEqualTypeOf<number>());
    expectTypeOf<ReturnType<typeof w.watch<z.ZodNumber>>['current']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Subscription<unknown>['current']>().toEqualTypeOf<unknown>();
    // Helpers that take any subscription accept a typed one.
    const widened: Subscription<unknown> = sub;
    expect(widened).toBe(sub);
    await expect(sub.ready).resolves.toBe(80);
    await blocking;
  });

  it('returns a closed subscription, and sends nothing, for an already-aborted signal', async () => {
    const w = makeWatcher();
    const sub = w.watch('config/app/', { signal: AbortSignal.abort() });
    expect(sub.state).toBe('closed');
    await expect(sub.ready).rejects.toBeInstanceOf(ClosedError);
    expect(w.stats().queries).toEqual([]);
    expect(consul.requests()).toEqual([]);
  });

  it('supports Symbol.asyncDispose on the watcher and subscriptions', async () => {
    const arrived = consul.hang('/v1/kv/config/app/?recurse=');
    const w = makeWatcher();
    const sub = w.watch('config/app/', { format: 'text' });
    await arrived;
    await sub[Symbol.asyncDispose]();
    expect(sub.state).toBe('closed');
    await w[Symbol.asyncDispose]();
    expect(w.closed).toBe(true);
  });
});
