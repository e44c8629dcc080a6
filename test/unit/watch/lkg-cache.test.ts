/**
 * The Watcher's last-known-good cache (`cache: { path }`) with a scripted Consul (MockAgent): what is
 * saved, when the cache serves `ready`, and how the first live answer replaces the cached value.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LkgFile } from '../../../src/cache/lkg-file.js';
import type { LkgSnapshot } from '../../../src/cache/lkg-format.js';
import { AclDeniedError, type ConsulError } from '../../../src/errors.js';
import type { Logger } from '../../../src/logger.js';
import type { Subscription } from '../../../src/watch/subscription.js';
import type { WatcherOptions } from '../../../src/watch/types.js';
import { Watcher } from '../../../src/watch/watcher.js';
import { ADDRESS, MockConsul } from './mock-consul.js';

const PREFIX = '/v1/kv/config/app/?recurse=';
const blocking = (index: number) => `${PREFIX}&index=${index}&wait=300000ms`;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const entry = (key: string, value: string | null, modifyIndex: number, flags = 0) => ({
  key,
  value,
  modifyIndex,
  flags,
});

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that records every line and lets a test await one. */
class LogRecorder {
  readonly lines: LogLine[] = [];
  #wake: () => void = () => {};
  readonly logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (obj, msg) => this.#push({ level: 'warn', obj, msg }),
    error: (obj, msg) => this.#push({ level: 'error', obj, msg }),
  };
  #push(line: LogLine): void {
    this.lines.push(line);
    this.#wake();
  }
  async when(test: (line: LogLine) => boolean): Promise<LogLine> {
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
  messages(level: string): Array<string | undefined> {
    return this.lines.filter((line) => line.level === level).map((line) => line.msg);
  }
}

let consul: MockConsul;
let watcher: Watcher | undefined;
let folder: string;
let cachePath: string;
let log: LogRecorder;

function makeWatcher(options: WatcherOptions = {}): Watcher {
  watcher = new Watcher({
    address: ADDRESS,
    dispatcher: consul.agent,
    env: {},
    minInterval: 0,
    backoff: { min: 1, max: 1 },
    random: () => 0,
    cache: { path: cachePath },
    logger: log.logger,
    ...options,
  });
  return watcher;
}

async function fillCache(...snapshots: LkgSnapshot[]): Promise<void> {
  const file = new LkgFile({ path: cachePath });
  await Promise.all(snapshots.map((snapshot) => file.write(snapshot)));
  await file.close();
}

async function readCache(key: string) {
  return (await new LkgFile({ path: cachePath }).readAll())?.get(key);
}

type Recorded = [string, unknown];

/** Records events in order; `when` awaits one that matches. */
function record(sub: Subscription<unknown>) {
  const events: Recorded[] = [];
  let wake: () => void = () => {};
  const push = (event: Recorded) => {
    events.push(event);
    wake();
  };
  sub.on('change', (e) => push(['change', e]));
  sub.on('invalid', (e) => push(['invalid', e.issues.map((issue) => issue.key)]));
  sub.on('error', (e) => push(['error', e.code]));
  sub.on('state', (e) => push(['state', `${e.previous}->${e.state}`]));
  const when = async (test: (event: Recorded) => boolean): Promise<void> => {
    while (!events.some(test)) await new Promise<void>((resolve) => (wake = resolve));
  };
  return { events, when };
}

const isState = (state: string) => (event: Recorded) => event[0] === 'state' && event[1] === state;

beforeEach(async () => {
  consul = new MockConsul();
  folder = await mkdtemp(join(tmpdir(), 'watch-lkg-'));
  cachePath = join(folder, 'lkg.json');
  log = new LogRecorder();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
  await rm(folder, { recursive: true, force: true });
});

describe('Watcher cache: saving', () => {
  it('saves every validated value with its keys’ ModifyIndex, flags, raw value and the Consul index', async () => {
    consul.answer(PREFIX, {
      entries: [entry('config/app/a', '1', 5, 3), entry('config/app/b', '"x"', 6)],
      index: 6,
    });
    consul.answer(blocking(6), {
      entries: [entry('config/app/a', '2', 7, 3), entry('config/app/b', '"x"', 6)],
      index: 7,
    });
    const third = consul.hang(blocking(7));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const changed = new Promise((resolve) => sub.once('change', resolve));
    await expect(sub.ready).resolves.toEqual({ a: 1, b: 'x' });
    await changed;
    await third;
    // close() waits for the pending write.
    await watcher?.close();
    expect(await readCache('config/app/')).toEqual({
      key: 'config/app/',
      index: 7,
      entries: [
        { key: 'config/app/a', modifyIndex: 7, flags: 3, value: b64('2') },
        { key: 'config/app/b', modifyIndex: 6, flags: 0, value: b64('"x"') },
      ],
      savedAt: expect.any(String),
    });
    expect((await stat(cachePath)).mode & 0o777).toBe(0o600);
  });

  it('never saves an invalid value: the file keeps the last valid one', async () => {
    const schema = z.object({ a: z.number() });
    consul.answer(PREFIX, { entries: [entry('config/app/a', '1', 5)], index: 5 });
    consul.answer(blocking(5), { entries: [entry('config/app/a', '"oops"', 8)], index: 8 });
    const third = consul.hang(blocking(8));
    const sub = makeWatcher().watch('config/app/', { format: 'json', schema });
    const invalid = new Promise((resolve) => sub.once('invalid', resolve));
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    await invalid;
    await third;
    await watcher?.close();
    expect(await readCache('config/app/')).toEqual({
      key: 'config/app/',
      index: 5,
      entries: [{ key: 'config/app/a', modifyIndex: 5, flags: 0, value: b64('1') }],
      savedAt: expect.any(String),
    });
  });

  it('saves nothing when the first value is invalid', async () => {
    consul.answer(PREFIX, { entries: [entry('config/app/a', '{', 5)], index: 5 });
    const second = consul.hang(blocking(5));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    await expect(sub.ready).rejects.toMatchObject({ code: 'CONSUL_CONFIG_VALIDATION' });
    await second;
    await watcher?.close();
    await expect(stat(cachePath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('saves a missing key as an empty snapshot, which restores as undefined', async () => {
    consul.answer('/v1/kv/config/limit', { entries: null, index: 4 });
    const second = consul.hang('/v1/kv/config/limit?index=4&wait=300000ms');
    const schema = z.number().default(3);
    const sub = makeWatcher().watch('config/limit', { format: 'json', schema });
    await expect(sub.ready).resolves.toBe(3);
    await second;
    await watcher?.close();
    expect(await readCache('config/limit')).toEqual({
      key: 'config/limit',
      index: 4,
      entries: [],
      savedAt: expect.any(String),
    });
  });

  it('logs a failed write and publishes it on watch:error, and the watch carries on', async () => {
    // A regular file where the cache folder should be: the write cannot create it.
    await writeFile(join(folder, 'not-a-folder'), '');
    cachePath = join(folder, 'not-a-folder', 'lkg.json');
    const published: unknown[] = [];
    const onError = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe('consul-hotreload:watch:error', onError);
    try {
      consul.answer(PREFIX, { entries: [entry('config/app/a', '1', 5)], index: 5 });
      consul.answer(blocking(5), { entries: [entry('config/app/a', '2', 6)], index: 6 });
      const third = consul.hang(blocking(6));
      const sub = makeWatcher().watch('config/app/', { format: 'json' });
      const { events } = record(sub);
      await sub.ready;
      await third;
      await watcher?.close();
      expect(sub.current).toEqual({ a: 2 });
      expect(events.filter((event) => event[0] === 'error')).toEqual([]);
      const failures = log.lines.filter((line) =>
        line.msg?.startsWith('last-known-good cache: could not save'),
      );
      expect(failures.length).toBeGreaterThan(0);
      expect(failures[0]?.obj).toMatchObject({ key: 'config/app/', path: cachePath });
      expect(published).toContainEqual({ key: 'config/app/', error: expect.objectContaining({}) });
    } finally {
      diagnosticsChannel.unsubscribe('consul-hotreload:watch:error', onError);
    }
  });
});

describe('Watcher cache: starting while Consul is down', () => {
  const cached: LkgSnapshot = {
    key: 'config/app/',
    index: 40,
    entries: [
      { key: 'config/app/a', modifyIndex: 5, flags: 0, value: b64('1') },
      { key: 'config/app/b', modifyIndex: 6, flags: 0, value: b64('2') },
      { key: 'config/app/c', modifyIndex: 7, flags: 0, value: b64('3') },
      { key: 'config/app/e', modifyIndex: 8, flags: 0, value: b64('5') },
    ],
  };
  const sameAsCached = [
    entry('config/app/a', '1', 5),
    entry('config/app/b', '2', 6),
    entry('config/app/c', '3', 7),
    entry('config/app/e', '5', 8),
  ];

  it('serves ready from the cache after a 500, stale, then turns ready with no change when Consul agrees', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(PREFIX, { entries: sameAsCached, index: 41 }, { hold: true });
    const third = consul.hang(blocking(41));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events, when } = record(sub);
    const value = await sub.ready;
    expect(value).toEqual({ a: 1, b: 2, c: 3, e: 5 });
    expect(sub.state).toBe('stale');
    expect(sub.index).toBe(40);
    live.release();
    await when(isState('stale->ready'));
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
    ]);
    expect(sub.current).toBe(value);
    expect(sub.index).toBe(41);
    expect(consul.requests()).toEqual([PREFIX, PREFIX, blocking(41)]);
  });

  it('reports exactly the keys that differ when Consul answers after a start from the cache', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      PREFIX,
      {
        entries: [
          entry('config/app/a', '1', 5), // unchanged
          entry('config/app/b', '20', 9), // updated
          entry('config/app/d', '4', 10), // added
          entry('config/app/e', '5', 11), // rewritten with the same value: not a change
        ], // config/app/c was deleted
        index: 50,
      },
      { hold: true },
    );
    const third = consul.hang(blocking(50));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events, when } = record(sub);
    // `ready` again means the live value is served: it is in `current` when the state event fires.
    const servedWhenReady: unknown[] = [];
    sub.on('state', ({ state }) => state === 'ready' && servedWhenReady.push(sub.current));
    await expect(sub.ready).resolves.toEqual({ a: 1, b: 2, c: 3, e: 5 });
    live.release();
    await when((event) => event[0] === 'change');
    expect(servedWhenReady).toEqual([{ a: 1, b: 20, d: 4, e: 5 }]);
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
      [
        'change',
        {
          index: 50,
          changes: [
            { key: 'config/app/b', type: 'updated', value: 20, previous: 2 },
            { key: 'config/app/d', type: 'added', value: 4, previous: undefined },
            { key: 'config/app/c', type: 'deleted', value: undefined, previous: 3 },
          ],
          current: { a: 1, b: 20, d: 4, e: 5 },
        },
      ],
    ]);
    // The live value replaces the cached one in the file.
    await watcher?.close();
    expect((await readCache('config/app/'))?.index).toBe(50);
  });

  it('reports every cached key as deleted when Consul answers that the prefix is empty (consul-semantics §3)', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(PREFIX, { entries: null, index: 60 }, { hold: true });
    const third = consul.hang(blocking(60));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const changes: unknown[] = [];
    sub.on('change', (event) => changes.push(event.changes.map((change) => `${change.type} ${change.key}`)));
    await sub.ready;
    live.release();
    await third;
    expect(changes).toEqual([
      ['deleted config/app/a', 'deleted config/app/b', 'deleted config/app/c', 'deleted config/app/e'],
    ]);
    expect(sub.current).toEqual({});
    expect(sub.state).toBe('ready');
  });

  it('serves ready from the cache at once when the connection is refused', async () => {
    await fillCache(cached);
    consul.refuse(PREFIX);
    const live = consul.answer(PREFIX, { entries: sameAsCached, index: 41 }, { hold: true });
    const third = consul.hang(blocking(41));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events, when } = record(sub);
    await expect(sub.ready).resolves.toEqual({ a: 1, b: 2, c: 3, e: 5 });
    expect(sub.state).toBe('stale');
    live.release();
    await when(isState('stale->ready'));
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_TRANSPORT'],
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
    ]);
  });

  it('serves ready from the cache when startTimeout ends before Consul answers (a hung request)', async () => {
    await fillCache(cached);
    const hung = consul.hang(PREFIX);
    const sub = makeWatcher({ startTimeout: 20 }).watch('config/app/', { format: 'json' });
    const { events } = record(sub);
    await hung;
    await expect(sub.ready).resolves.toEqual({ a: 1, b: 2, c: 3, e: 5 });
    expect(events).toEqual([['state', 'connecting->stale']]);
  });

  it('rejects ready with the timeout when startTimeout ends and the cache has nothing for the key', async () => {
    await fillCache({ ...cached, key: 'config/other/' });
    const hung = consul.hang(PREFIX);
    const sub = makeWatcher({ startTimeout: 20 }).watch('config/app/', { format: 'json' });
    await hung;
    await expect(sub.ready).rejects.toMatchObject({ code: 'CONSUL_TIMEOUT' });
    expect(log.lines.map((line) => line.obj)).toContainEqual({
      path: cachePath,
      key: 'config/app/',
      reason: 'key-not-cached',
    });
    expect(sub.state).toBe('connecting');
  });

  it('validates the cached value with the schema, like a live one', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(PREFIX, { entries: sameAsCached, index: 41 }, { hold: true });
    const third = consul.hang(blocking(41));
    const schema = z.object({ a: z.number(), b: z.number().transform((b) => b * 100) }).loose();
    const sub = makeWatcher().watch('config/app/', { format: 'json', schema });
    const value = await sub.ready;
    expect(value).toEqual({ a: 1, b: 200, c: 3, e: 5 });
    live.release();
    await third;
    expect(sub.current).toBe(value);
  });

  it.each([
    ['truncated', (text: string) => text.slice(0, text.length / 2), 'invalid-json'],
    ['corrupted', (text: string) => text.replace(b64('2'), b64('7')), 'checksum-mismatch'],
  ])('ignores a %s cache file with a warning, and ready waits for Consul', async (_name, damage, reason) => {
    await fillCache(cached);
    await writeFile(cachePath, damage(await readFile(cachePath, 'utf8')));
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      PREFIX,
      { entries: [entry('config/app/a', '9', 70)], index: 70 },
      { hold: true },
    );
    const third = consul.hang(blocking(70));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events } = record(sub);
    let settled = false;
    void sub.ready.finally(() => (settled = true));
    await live.arrived;
    await log.when((line) => line.obj.reason === reason);
    // The read has been answered; give any restore a turn of the event loop to (wrongly) resolve `ready`.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(sub.state).toBe('connecting');
    live.release();
    await expect(sub.ready).resolves.toEqual({ a: 9 });
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->ready'],
    ]);
  });

  it('ignores a cached value the schema no longer accepts, with a warning naming the key', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      PREFIX,
      { entries: [entry('config/app/a', '"one"', 70)], index: 70 },
      { hold: true },
    );
    const third = consul.hang(blocking(70));
    const schema = z.object({ a: z.string() });
    const sub = makeWatcher().watch('config/app/', { format: 'json', schema });
    const { events } = record(sub);
    await live.arrived;
    const warning = await log.when((line) => line.msg?.includes('no longer validates') === true);
    expect(warning.msg).toContain('config/app/a');
    expect(sub.state).toBe('connecting');
    live.release();
    await expect(sub.ready).resolves.toEqual({ a: 'one' });
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->ready'],
    ]);
  });

  it('does not use the cache for a 403: Consul’s refusal rejects ready', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 403, body: 'Permission denied' });
    const second = consul.hang(PREFIX);
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events } = record(sub);
    await expect(sub.ready).rejects.toBeInstanceOf(AclDeniedError);
    await second;
    expect(events).toEqual([['error', 'CONSUL_ACL_DENIED']]);
    expect(log.lines.filter((line) => line.msg?.includes('last-known-good'))).toEqual([]);
  });

  it('keeps the cached value when Consul’s first answer is invalid, and turns ready', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      PREFIX,
      { entries: [entry('config/app/a', '{', 70)], index: 70 },
      { hold: true },
    );
    const third = consul.hang(blocking(70));
    const sub = makeWatcher().watch('config/app/', { format: 'json' });
    const { events, when } = record(sub);
    const value = await sub.ready;
    live.release();
    await when((event) => event[0] === 'invalid');
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->stale'],
      ['state', 'stale->ready'],
      ['invalid', ['config/app/a']],
    ]);
    expect(sub.current).toBe(value);
  });

  it('starts a late subscription of a query that is already failing from the cache at once', async () => {
    await fillCache(cached, {
      key: 'config/db/',
      index: 40,
      entries: [{ key: 'config/db/host', modifyIndex: 9, flags: 0, value: b64('"db.internal"') }],
    });
    consul.answer('/v1/kv/config/?recurse=', { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      '/v1/kv/config/?recurse=',
      { entries: [...sameAsCached, entry('config/db/host', '"db.internal"', 9)], index: 41 },
      { hold: true },
    );
    const third = consul.hang('/v1/kv/config/?recurse=&index=41&wait=300000ms');
    const w = makeWatcher({ roots: ['config/'] });
    const app = w.watch('config/app/', { format: 'json' });
    await app.ready;
    const errors: ConsulError[] = [];
    const db = w.watch('config/db/', { format: 'json' });
    db.on('error', (error) => errors.push(error));
    await expect(db.ready).resolves.toEqual({ host: 'db.internal' });
    expect(db.state).toBe('stale');
    live.release();
    await third;
    expect([app.state, db.state]).toEqual(['ready', 'ready']);
    expect(errors).toEqual([]);
  });

  it('without a cache, leaves ready pending through failures until Consul answers', async () => {
    await fillCache(cached);
    consul.answer(PREFIX, { status: 500, body: 'rpc error: boom' });
    const live = consul.answer(
      PREFIX,
      { entries: [entry('config/app/a', '9', 70)], index: 70 },
      { hold: true },
    );
    const third = consul.hang(blocking(70));
    const sub = makeWatcher({ cache: undefined }).watch('config/app/', { format: 'json' });
    const { events } = record(sub);
    await live.arrived;
    live.release();
    await expect(sub.ready).resolves.toEqual({ a: 9 });
    await third;
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['state', 'connecting->ready'],
    ]);
  });

  it('refuses a cache option without a path at the call', () => {
    expect(() => makeWatcher({ cache: { path: '' } })).toThrow(
      'Watcher: cache.path must be a non-empty file path',
    );
  });

  it('refuses a cache size cap that is not a positive integer at the call', () => {
    expect(() =>
      makeWatcher({ cache: { path: join(tmpdir(), 'never-written.json'), maxBytes: -1 } }),
    ).toThrow('cache: options.maxBytes must be a positive integer (bytes), got -1');
  });
});
