import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { type EventEmitter as NodeEventEmitter, once } from 'node:events';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import {
  AclDeniedError,
  ClosedError,
  ConfigValidationError,
  ServerError,
  TimeoutError,
} from '../../../src/errors.js';
import type { Logger } from '../../../src/logger.js';
import { DecodeCache } from '../../../src/watch/decode.js';
import { Snapshot } from '../../../src/watch/diff.js';
import { kApply, kError, kHealth, Subscription } from '../../../src/watch/subscription.js';
import type { ChangeEvent, StateEvent, WatchFormat } from '../../../src/watch/types.js';

type Seed = Record<string, string | null | { value: string | null; flags?: number }>;

/** Lets the subscription's first-evaluation microtask run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness<T = unknown>(
  key: string,
  options: {
    format?: WatchFormat;
    schema?: z.ZodType;
    debounce?: { minMs: number; maxMs: number };
    startTimeoutMs?: number;
    cache?: DecodeCache;
  } = {},
) {
  const cache = options.cache ?? new DecodeCache(1000);
  const logged: Array<{ level: string; msg: string | undefined }> = [];
  const logger: Required<Logger> = {
    debug: () => {},
    info: () => {},
    warn: (_obj, msg) => logged.push({ level: 'warn', msg }),
    error: (_obj, msg) => logged.push({ level: 'error', msg }),
  };
  const detach = vi.fn(async () => {});
  const sub = new Subscription<T>({
    key,
    format: options.format ?? 'json',
    schema: options.schema,
    unknownKeys: 'ignore',
    debounce: options.debounce,
    startTimeoutMs: options.startTimeoutMs ?? 0,
    cache,
    logger,
    detach,
  });
  const events: Array<[string, unknown]> = [];
  sub.on('change', (e) => events.push(['change', e]));
  sub.on('invalid', (e) => events.push(['invalid', e.issues]));
  sub.on('error', (e) => events.push(['error', e.code]));
  sub.on('state', (e) => events.push(['state', `${e.previous}->${e.state}`]));
  const snapshot = new Snapshot<KVEntry>();
  let index = 10;
  /** Sends the whole store as one answer, like a query would, and returns the index used. */
  const answer = (seed: Seed): number => {
    index++;
    const entries = Object.entries(seed).map(([k, v], i) => {
      const spec = typeof v === 'object' && v !== null ? v : { value: v };
      const previous = snapshot.get(k);
      const sameAsBefore =
        previous !== undefined && previous.text() === spec.value && previous.flags === (spec.flags ?? 0);
      return KVEntry.from({
        key: k,
        value: spec.value,
        flags: spec.flags ?? 0,
        createIndex: 1,
        modifyIndex: sameAsBefore ? previous.modifyIndex : index * 100 + i,
      });
    });
    sub[kApply](snapshot.apply(entries), index);
    return index;
  };
  return { sub, events, answer, cache, logged, detach };
}

describe('Subscription: values and change events', () => {
  it('resolves ready with the tree of a prefix and reports connecting → ready, without a change event', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/db/host': '"h"', 'config/app/db/port': '5432', 'config/app/name': '"app"' });
    await expect(sub.ready).resolves.toEqual({ db: { host: 'h', port: 5432 }, name: 'app' });
    expect(sub.state).toBe('ready');
    expect(events).toEqual([['state', 'connecting->ready']]);
  });

  it('emits one change event per answer listing every changed key, with current already updated', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1', 'config/app/b': '2', 'config/app/c': '3' });
    await sub.ready;
    let currentSeenByListener: unknown;
    sub.on('change', () => {
      currentSeenByListener = sub.current;
    });
    const index = answer({ 'config/app/a': '10', 'config/app/c': '3', 'config/app/d': '4' });
    expect(events.slice(1)).toEqual([
      [
        'change',
        {
          index,
          changes: [
            { key: 'config/app/a', type: 'updated', value: 10, previous: 1 },
            { key: 'config/app/d', type: 'added', value: 4, previous: undefined },
            { key: 'config/app/b', type: 'deleted', value: undefined, previous: 2 },
          ],
          current: { a: 10, c: 3, d: 4 },
        },
      ],
    ]);
    expect(currentSeenByListener).toEqual({ a: 10, c: 3, d: 4 });
  });

  it('emits nothing when an answer brings no change for it', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    answer({ 'config/app/a': '1' });
    expect(events).toEqual([['state', 'connecting->ready']]);
  });

  it('reports a flags-only change as updated with the same value', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    answer({ 'config/app/a': { value: '1', flags: 9 } });
    expect(events[1]).toEqual([
      'change',
      expect.objectContaining({ changes: [{ key: 'config/app/a', type: 'updated', value: 1, previous: 1 }] }),
    ]);
    expect(sub.entries.get('config/app/a')).toEqual({ value: 1, modifyIndex: expect.any(Number), flags: 9 });
  });

  it('hands out entries as plain objects: strict deep equality, inspect and JSON see value, modifyIndex, flags', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': { value: '1', flags: 3 } });
    await sub.ready;
    const record = sub.entries.get('config/app/a')!;
    const plain = { value: 1, modifyIndex: record.modifyIndex, flags: 3 };
    expect(record).toStrictEqual(plain);
    assert.deepStrictEqual(record, plain);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(inspect(record)).toBe(inspect(plain));
    expect(JSON.stringify(record)).toBe(JSON.stringify(plain));
    expect(structuredClone(record)).toStrictEqual(plain);
  });

  it('reports every key as deleted when the prefix becomes empty', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1', 'config/app/b/c': '2' });
    await sub.ready;
    const index = answer({});
    expect(events[1]).toEqual([
      'change',
      {
        index,
        changes: [
          { key: 'config/app/a', type: 'deleted', value: undefined, previous: 1 },
          { key: 'config/app/b/c', type: 'deleted', value: undefined, previous: 2 },
        ],
        current: {},
      },
    ]);
  });

  it('skips folder keys ending in / in the tree and in entries', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/': null, 'config/app/db/': null, 'config/app/db/host': '"h"' });
    await expect(sub.ready).resolves.toEqual({ db: { host: 'h' } });
    expect([...sub.entries.keys()]).toEqual(['config/app/db/host']);
  });

  it('keeps the identity of unchanged subtrees when there is no schema', async () => {
    const { sub, answer } = harness<Record<string, unknown>>('config/app/');
    answer({ 'config/app/db/host': '"h"', 'config/app/cache/ttl': '5' });
    const before = await sub.ready;
    answer({ 'config/app/db/host': '"h2"', 'config/app/cache/ttl': '5' });
    expect(sub.current).not.toBe(before);
    expect(sub.current?.cache).toBe(before.cache);
  });

  it('decodes only the changed key of a 10,000-key prefix', async () => {
    const cache = new DecodeCache(100_000);
    const { sub, answer } = harness('big/', { cache });
    const seed: Seed = {};
    for (let i = 0; i < 10_000; i++) seed[`big/k${i}`] = String(i);
    answer(seed);
    await sub.ready;
    expect(cache.decodes).toBe(10_000);
    answer({ ...seed, 'big/k77': '"changed"' });
    expect(cache.decodes).toBe(10_001);
    expect((sub.current as Record<string, unknown>).k77).toBe('changed');
  });

  it('watches one key: its decoded value, undefined when missing', async () => {
    const { sub, events, answer } = harness('config/flag', { format: 'text' });
    answer({});
    await expect(sub.ready).resolves.toBeUndefined();
    const index = answer({ 'config/flag': 'on' });
    expect(events.slice(1)).toEqual([
      [
        'change',
        {
          index,
          changes: [{ key: 'config/flag', type: 'added', value: 'on', previous: undefined }],
          current: 'on',
        },
      ],
    ]);
    expect(sub.entries).toEqual(
      new Map([['config/flag', { value: 'on', modifyIndex: expect.any(Number), flags: 0 }]]),
    );
  });

  it('passes a missing key to the schema as undefined, so .default() decides', async () => {
    const { sub, answer } = harness('config/limit', { schema: z.number().default(7) });
    answer({});
    await expect(sub.ready).resolves.toBe(7);
  });

  it('serves the schema output as current', async () => {
    const schema = z.object({ port: z.coerce.number(), tags: z.array(z.string()).default([]) });
    const { sub, answer } = harness('config/app/', { schema, format: 'text' });
    answer({ 'config/app/port': '8080' });
    await expect(sub.ready).resolves.toEqual({ port: 8080, tags: [] });
  });

  it('parses YAML values', async () => {
    const { sub, answer } = harness('config/app.yaml', { format: 'yaml' });
    answer({ 'config/app.yaml': 'db:\n  host: h\n' });
    await expect(sub.ready).resolves.toEqual({ db: { host: 'h' } });
  });
});

describe('Subscription: invalid values', () => {
  it('emits invalid for a value that does not decode, keeps the last good value, then applies the next good one', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1', 'config/app/b': '2' });
    await sub.ready;
    answer({ 'config/app/a': '{broken', 'config/app/b': '2' });
    expect(sub.current).toEqual({ a: 1, b: 2 });
    // While a is broken, b changes too; the next good value describes both against the last good one.
    answer({ 'config/app/a': '{broken', 'config/app/b': '3' });
    const index = answer({ 'config/app/a': '5', 'config/app/b': '3' });
    expect(events.slice(1)).toEqual([
      [
        'invalid',
        [{ key: 'config/app/a', path: ['a'], message: expect.stringMatching(/^not valid JSON: /) }],
      ],
      [
        'invalid',
        [{ key: 'config/app/a', path: ['a'], message: expect.stringMatching(/^not valid JSON: /) }],
      ],
      [
        'change',
        {
          index,
          changes: [
            { key: 'config/app/a', type: 'updated', value: 5, previous: 1 },
            { key: 'config/app/b', type: 'updated', value: 3, previous: 2 },
          ],
          current: { a: 5, b: 3 },
        },
      ],
    ]);
  });

  it('maps schema issues in a prefix tree to the Consul key that produced them', async () => {
    const schema = z.object({ db: z.object({ host: z.string(), port: z.number() }), name: z.string() });
    const { sub, events, answer } = harness('config/app/', { schema });
    answer({ 'config/app/db/host': '"h"', 'config/app/db/port': '5432', 'config/app/name': '"x"' });
    await sub.ready;
    answer({ 'config/app/db/host': '"h"', 'config/app/db/port': '"5432"', 'config/app/name': '"x"' });
    expect(events[1]).toEqual([
      'invalid',
      [
        {
          key: 'config/app/db/port',
          path: ['db', 'port'],
          message: 'expected number',
          expected: 'number',
          received: '"5432"',
        },
      ],
    ]);
    expect(sub.current).toEqual({ db: { host: 'h', port: 5432 }, name: 'x' });
  });

  it('names a missing required key, and a key inside a decoded JSON value', async () => {
    const schema = z.object({ db: z.object({ host: z.string(), options: z.object({ ssl: z.boolean() }) }) });
    const { sub, answer } = harness('config/app/', { schema });
    answer({ 'config/app/db/options': '{"ssl":"yes"}' });
    const error = await sub.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues.map((i) => [i.key, i.path])).toEqual([
      ['config/app/db/host', ['db', 'host']],
      ['config/app/db/options', ['db', 'options', 'ssl']],
    ]);
    expect((error as ConfigValidationError).message).toContain('config/app/db/host');
  });

  it('redacts received values of secret-looking keys in issues and messages', async () => {
    const schema = z.object({ db: z.object({ password: z.number() }) });
    const { sub, answer, logged } = harness('config/app/', { schema, format: 'text' });
    answer({ 'config/app/db/password': 'hunter2' });
    const error = (await sub.ready.catch((e: unknown) => e)) as ConfigValidationError;
    expect(error.issues[0]).toMatchObject({ key: 'config/app/db/password', received: '[redacted]' });
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(logged)).not.toContain('hunter2');
  });

  it('does not emit change when a value returns to the last good one after an invalid state', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    const first = await sub.ready;
    answer({ 'config/app/a': '{oops' });
    answer({ 'config/app/a': '1' });
    expect(events.map((e) => e[0])).toEqual(['state', 'invalid']);
    expect(sub.current).toBe(first);
  });

  it('reports a key that is both a value and a folder, naming both keys, until it is resolved', async () => {
    const { sub, events, answer } = harness('config/app/');
    answer({ 'config/app/db': '1' });
    await sub.ready;
    answer({ 'config/app/db': '1', 'config/app/db/host': '"h"' });
    expect(events[1]).toEqual([
      'invalid',
      [
        {
          key: 'config/app/db',
          path: ['db'],
          message:
            'config/app/db holds a value but is also a folder of config/app/db/host; a key cannot be both',
        },
      ],
    ]);
    const index = answer({ 'config/app/db/host': '"h"' });
    expect(events[2]).toEqual([
      'change',
      {
        index,
        changes: [
          { key: 'config/app/db/host', type: 'added', value: 'h', previous: undefined },
          { key: 'config/app/db', type: 'deleted', value: undefined, previous: 1 },
        ],
        current: { db: { host: 'h' } },
      },
    ]);
  });

  it('rejects ready with ConfigValidationError naming the key when the first value is invalid', async () => {
    const { sub, answer } = harness('config/port', { schema: z.number() });
    answer({ 'config/port': '"x"' });
    const error = (await sub.ready.catch((e: unknown) => e)) as ConfigValidationError;
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error.code).toBe('CONSUL_CONFIG_VALIDATION');
    expect(error.key).toBe('config/port');
    expect(error.issues).toEqual([
      {
        key: 'config/port',
        path: [],
        message: 'expected number',
        expected: 'number',
        received: '"x"',
      },
    ]);
  });

  it('announces the first good value after a rejected ready as a change, and turns ready', async () => {
    const { sub, events, answer } = harness('config/port', { schema: z.number() });
    answer({ 'config/port': '"x"' });
    await sub.ready.catch(() => {});
    expect(sub.state).toBe('connecting');
    const index = answer({ 'config/port': '80' });
    expect(events).toEqual([
      ['invalid', expect.any(Array)],
      ['state', 'connecting->ready'],
      [
        'change',
        {
          index,
          changes: [{ key: 'config/port', type: 'added', value: 80, previous: undefined }],
          current: 80,
        },
      ],
    ]);
  });
});

describe('Subscription: the entries Map', () => {
  /** The entries in iteration order, as key → decoded value. */
  const listed = (entries: ReadonlyMap<string, { value: unknown }>) =>
    [...entries].map(([key, record]) => [key, record.value]);

  it('never changes a Map obtained from entries when later changes, invalid values or deletions arrive', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': '1', 'config/app/b': '2' });
    await sub.ready;
    const first = sub.entries;
    answer({ 'config/app/a': '3', 'config/app/b': '2', 'config/app/c': '4' });
    const second = sub.entries;
    answer({ 'config/app/a': '{broken', 'config/app/c': '4' });
    answer({ 'config/app/c': '5' });
    expect(listed(first)).toEqual([
      ['config/app/a', 1],
      ['config/app/b', 2],
    ]);
    expect(listed(second)).toEqual([
      ['config/app/a', 3],
      ['config/app/b', 2],
      ['config/app/c', 4],
    ]);
    expect(listed(sub.entries)).toEqual([['config/app/c', 5]]);
    expect(second).not.toBe(first);
    expect(sub.entries).not.toBe(second);
  });

  it('keeps the good entries, in their order, when changes nobody read in between are rejected', async () => {
    const schema = z.object({ a: z.number(), b: z.number() }).catchall(z.number());
    const { sub, events, answer } = harness('config/app/', { schema });
    answer({ 'config/app/a': '1', 'config/app/b': '2', 'config/app/c': '3' });
    await sub.ready;
    answer({ 'config/app/a': '10', 'config/app/b': '2', 'config/app/c': '3', 'config/app/d': '4' });
    // Rejected by the schema: an update and an addition, nothing deleted.
    answer({
      'config/app/a': '"x"',
      'config/app/b': '2',
      'config/app/c': '3',
      'config/app/d': '4',
      'config/app/e': '5',
    });
    expect(listed(sub.entries)).toEqual([
      ['config/app/a', 10],
      ['config/app/b', 2],
      ['config/app/c', 3],
      ['config/app/d', 4],
    ]);
    // Rejected: an update, an addition and a value that does not decode.
    answer({ 'config/app/a': '11', 'config/app/b': '"x"', 'config/app/c': '3', 'config/app/e': '5' });
    // Rejected: a deletion of a required key, with an update before it.
    answer({ 'config/app/a': '12', 'config/app/c': '3', 'config/app/d': '4' });
    expect(listed(sub.entries)).toEqual([
      ['config/app/a', 10],
      ['config/app/b', 2],
      ['config/app/c', 3],
      ['config/app/d', 4],
    ]);
    expect(sub.current).toEqual({ a: 10, b: 2, c: 3, d: 4 });
    const index = answer({ 'config/app/a': '12', 'config/app/b': '2', 'config/app/d': '6' });
    expect(
      events.filter((e) => e[0] === 'change').map((e) => (e[1] as ChangeEvent<unknown>).changes),
    ).toEqual([
      [
        { key: 'config/app/a', type: 'updated', value: 10, previous: 1 },
        { key: 'config/app/d', type: 'added', value: 4, previous: undefined },
      ],
      [
        { key: 'config/app/a', type: 'updated', value: 12, previous: 10 },
        { key: 'config/app/d', type: 'updated', value: 6, previous: 4 },
        { key: 'config/app/c', type: 'deleted', value: undefined, previous: 3 },
      ],
    ]);
    expect(events.filter((e) => e[0] === 'invalid')).toHaveLength(3);
    expect(sub.index).toBe(index);
    // b left the candidate when it stopped decoding, so it comes back last.
    expect(listed(sub.entries)).toEqual([
      ['config/app/a', 12],
      ['config/app/d', 6],
      ['config/app/b', 2],
    ]);
  });

  it('lists entries in the order a fresh Map per change would have, through additions and deletions', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/b': '1', 'config/app/c': '2' });
    await sub.ready;
    answer({ 'config/app/a': '0', 'config/app/b': '1', 'config/app/c': '2' });
    answer({ 'config/app/a': '0', 'config/app/b': '9', 'config/app/c': '2' });
    answer({ 'config/app/a': '0', 'config/app/b': '9' });
    answer({ 'config/app/a': '0', 'config/app/b': '9', 'config/app/c': '7' });
    expect(listed(sub.entries)).toEqual([
      ['config/app/b', 9],
      ['config/app/a', 0],
      ['config/app/c', 7],
    ]);
  });
});

describe('Subscription: errors, state, close', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits every error and rejects ready only for errors that retrying will not fix', async () => {
    const { sub, events } = harness('config/app/');
    sub[kError](new ServerError('kv.list config/app/: 500', { operation: 'kv.list' }));
    sub[kError](
      new AclDeniedError('kv.list config/app/: 403 Permission denied (hint)', { operation: 'kv.list' }),
    );
    await expect(sub.ready).rejects.toBeInstanceOf(AclDeniedError);
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['error', 'CONSUL_ACL_DENIED'],
    ]);
  });

  it('keeps the last good value through errors', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    sub[kError](new AclDeniedError('denied', { operation: 'kv.list' }));
    expect(sub.current).toEqual({ a: 1 });
    expect(sub.state).toBe('ready');
  });

  it('turns stale and ready again with the query, but only once it has a value', async () => {
    const { sub, events, answer } = harness('config/app/');
    sub[kHealth]('stale');
    expect(sub.state).toBe('connecting');
    // A query reports itself healthy before it hands over the answer that ends its outage.
    sub[kHealth]('ready');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    sub[kHealth]('stale');
    sub[kHealth]('ready');
    expect(events).toEqual([
      ['state', 'connecting->ready'],
      ['state', 'ready->stale'],
      ['state', 'stale->ready'],
    ]);
  });

  it('starts stale when its first value comes from a query that is stale (a late subscription)', async () => {
    const { sub, events, answer } = harness('config/app/');
    sub[kHealth]('stale');
    answer({ 'config/app/a': '1' });
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    sub[kHealth]('ready');
    expect(events).toEqual([
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
    ]);
  });

  it('rejects ready with TimeoutError after startTimeout, with the last error as cause', async () => {
    vi.useFakeTimers();
    const { sub } = harness('config/app/', { startTimeoutMs: 1_000 });
    const last = new ServerError(
      'kv.list config/app/: 500 No cluster leader',
      { operation: 'kv.list' },
      'CONSUL_NO_LEADER',
    );
    sub[kError](last);
    const outcome = sub.ready.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = (await outcome) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe(
      'watch config/app/: no valid value within 1000 ms; last error: kv.list config/app/: 500 No cluster leader',
    );
    expect(error.cause).toBe(last);
    await sub.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() rejects a pending ready with ClosedError, emits closed, removes listeners, detaches once', async () => {
    const { sub, events, detach } = harness('config/app/', { startTimeoutMs: 60_000 });
    const closing = sub.close();
    expect(sub.close()).toBe(closing);
    await closing;
    await expect(sub.ready).rejects.toBeInstanceOf(ClosedError);
    expect(events).toEqual([['state', 'connecting->closed']]);
    expect(sub.listenerCount('change')).toBe(0);
    expect(detach).toHaveBeenCalledTimes(1);
  });

  it('ignores answers after close', async () => {
    const { sub, events, answer } = harness('config/app/');
    await sub.close();
    answer({ 'config/app/a': '1' });
    await settle();
    expect(events).toEqual([['state', 'connecting->closed']]);
    expect(sub.current).toBeUndefined();
  });

  it('logs a throwing listener and keeps applying later answers', async () => {
    const { sub, answer, logged } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    sub.on('change', () => {
      throw new Error('listener bug');
    });
    answer({ 'config/app/a': '2' });
    answer({ 'config/app/a': '3' });
    expect(sub.current).toEqual({ a: 3 });
    expect(logged.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      "watch config/app/: a 'change' listener threw",
      "watch config/app/: a 'change' listener threw",
    ]);
  });

  it('delivers an event to every listener when one throws, and reports the throw on the logger and watch:error', async () => {
    const { sub, answer, logged } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    const bug = new Error('listener bug');
    const seen: Array<[string, unknown]> = [];
    sub.on('change', () => {
      throw bug;
    });
    sub.on('change', (event) => seen.push(['second', event.current]));
    sub.on('state', () => {
      throw bug;
    });
    sub.on('state', (event) => seen.push(['state', event.state]));
    const published: unknown[] = [];
    const onError = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe('consul-hotreload:watch:error', onError);
    try {
      answer({ 'config/app/a': '2' });
      sub[kHealth]('stale');
      answer({ 'config/app/a': '3' });
    } finally {
      diagnosticsChannel.unsubscribe('consul-hotreload:watch:error', onError);
    }
    expect(seen).toEqual([
      ['second', { a: 2 }],
      ['state', 'stale'],
      ['second', { a: 3 }],
    ]);
    expect(logged.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      "watch config/app/: a 'change' listener threw",
      "watch config/app/: a 'state' listener threw",
      "watch config/app/: a 'change' listener threw",
    ]);
    expect(published).toEqual([
      { key: 'config/app/', error: bug },
      { key: 'config/app/', error: bug },
      { key: 'config/app/', error: bug },
    ]);
  });

  it('keeps once(), off() and listeners() working with the listeners as registered', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    const calls: string[] = [];
    const kept = (event: ChangeEvent<unknown>) => calls.push(`kept ${JSON.stringify(event.current)}`);
    const removed = () => calls.push('removed');
    const onlyOnce = () => {
      calls.push('once');
      throw new Error('once bug');
    };
    const context = { name: 'ctx' };
    let seenThis: unknown;
    sub.on('change', kept);
    sub.addListener('change', removed);
    sub.once('change', onlyOnce);
    sub.on(
      'change',
      function (this: unknown) {
        seenThis = this;
      },
      context,
    );
    // The harness added the first listener.
    expect(sub.listeners('change').slice(1, 4)).toEqual([kept, removed, onlyOnce]);
    sub.off('change', removed);
    expect(sub.listenerCount('change')).toBe(4);
    answer({ 'config/app/a': '2' });
    answer({ 'config/app/a': '3' });
    expect(calls).toEqual(['kept {"a":2}', 'once', 'kept {"a":3}']);
    expect(seenThis).toBe(context);
    sub.removeListener('change', kept);
    sub.removeListener('change', () => {}); // never added: nothing happens
    expect(sub.listenerCount('change')).toBe(2);
    sub.removeAllListeners('change');
    expect(sub.listeners('change')).toEqual([]);
  });

  it('works with node:events once(), which adds and removes its own listeners', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    await sub.ready;
    // node:events accepts any emitter with on/once/removeListener at run time; its types want its own class.
    const next = once(sub as unknown as NodeEventEmitter, 'change');
    answer({ 'config/app/a': '2' });
    const [event] = (await next) as [ChangeEvent<unknown>];
    expect(event.current).toEqual({ a: 2 });
    expect([sub.listenerCount('change'), sub.listenerCount('error')]).toEqual([1, 1]);
  });

  it('emits the first events after watch() returns, so listeners attached at once see them', async () => {
    const { sub, answer } = harness('config/app/');
    answer({ 'config/app/a': '1' });
    const states: StateEvent[] = [];
    sub.on('state', (e) => states.push(e));
    await sub.ready;
    expect(states).toEqual([{ state: 'ready', previous: 'connecting' }]);
  });
});

describe('Subscription: debounce', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never delays the first value', async () => {
    vi.useFakeTimers();
    const { sub, answer } = harness('config/app/', { debounce: { minMs: 1_000, maxMs: 5_000 } });
    answer({ 'config/app/a': '1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(sub.current).toEqual({ a: 1 });
  });

  it('applies a burst of changes once, after min ms of quiet', async () => {
    vi.useFakeTimers();
    const { sub, events, answer } = harness('config/app/', { debounce: { minMs: 1_000, maxMs: 5_000 } });
    answer({ 'config/app/a': '1', 'config/app/b': '1' });
    await vi.advanceTimersByTimeAsync(0);
    answer({ 'config/app/a': '2', 'config/app/b': '1' });
    await vi.advanceTimersByTimeAsync(500);
    const index = answer({ 'config/app/a': '3', 'config/app/b': '2' });
    await vi.advanceTimersByTimeAsync(999);
    expect(sub.current).toEqual({ a: 1, b: 1 });
    await vi.advanceTimersByTimeAsync(1);
    expect(events.slice(1)).toEqual([
      [
        'change',
        {
          index,
          changes: [
            { key: 'config/app/a', type: 'updated', value: 3, previous: 1 },
            { key: 'config/app/b', type: 'updated', value: 2, previous: 1 },
          ],
          current: { a: 3, b: 2 },
        },
      ],
    ]);
  });

  it('applies at most max ms after the first held-back change, even if changes keep coming', async () => {
    vi.useFakeTimers();
    const { sub, events, answer } = harness('config/app/', { debounce: { minMs: 1_000, maxMs: 2_500 } });
    answer({ 'config/app/a': '0' });
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 1; i <= 4; i++) {
      answer({ 'config/app/a': String(i) });
      if (i < 4) await vi.advanceTimersByTimeAsync(800);
    }
    // Changes at 0, 800, 1600, 2400 ms: quiet never lasts 1000 ms, so max (2500 ms) applies them.
    await vi.advanceTimersByTimeAsync(99);
    expect(events.filter((e) => e[0] === 'change')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(
      events.filter((e) => e[0] === 'change').map((e) => (e[1] as ChangeEvent<unknown>).current),
    ).toEqual([{ a: 4 }]);
    expect(sub.current).toEqual({ a: 4 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
