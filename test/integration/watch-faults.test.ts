/**
 * The Watcher against the embedded dev server with injected faults, over real loopback sockets: wrong or
 * missing `X-Consul-Index` (consul-semantics §3, §4), tombstone reaping, error statuses, broken connections and bodies,
 * a hung server, and the stale state.
 */
import { describe, expect, it } from 'vitest';
import type { Fault } from '../../src/devserver/faults.js';
import type { DevServer } from '../../src/devserver/server.js';
import type { ConsulError } from '../../src/errors.js';
import { httpGet } from '../helpers/http.js';
import { held, type Log, type Recorded, record, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher, sentIndexes } = useWatchHarness();

/** Event names, with the index of change events and the code of errors. */
function summary(events: readonly Recorded[]): string[] {
  return events.map(([name, payload]) => {
    if (name === 'change') return `change@${payload.index}`;
    if (name === 'error') return `error:${payload.code}`;
    if (name === 'state') return `state:${payload.state}`;
    return name;
  });
}

/** Repeated runs of equal values collapsed: `[0, 4, 4, 4, 0]` → `[0, 4, 0]`. */
const collapse = (values: readonly number[]): number[] =>
  values.filter((value, at) => at === 0 || values[at - 1] !== value);

describe('Watcher on the dev server: X-Consul-Index faults (consul-semantics §3, §4)', () => {
  it('sends index=1 after an answer with index 0', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    dev.faults.inject({ fault: { kind: 'index', index: 0 } });
    const indexes = sentIndexes();
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json' });
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    await held(dev);
    // 0 counts as 1 (consul-semantics §4): the second request blocks at 1, Consul answers at once with the real index.
    expect(indexes.items).toEqual([0, 1, 2]);
    expect(dev.stats().requests).toBe(3);
  });

  it('blocks at index=1 instead of busy-looping when X-Consul-Index is always missing', async () => {
    // An empty store's index is 1, so a query sent with index=1 is held until a write.
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'index', index: 'missing' }, times: Number.POSITIVE_INFINITY });
    const indexes = sentIndexes();
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    await expect(sub.ready).resolves.toEqual({});
    // Held: no request follows until the server answers. A loop that kept index 0 would never block.
    await held(dev);
    expect(indexes.items).toEqual([0, 1]);
    expect(dev.stats().requests).toBe(2);
    expect(w.stats().queries[0]).toMatchObject({ requests: 2, errors: 0, indexResets: 0 });
  });

  it('starts over from index 0 when the index goes backwards, without false changes', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 } });
    const indexes = sentIndexes();
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const events = record(sub);
    await sub.ready;
    await held(dev);
    // The held query (index 3) took no fault; the next one is answered with index 2.
    dev.faults.inject({ fault: { kind: 'index', index: 2 } });
    const c = dev.kv.put('config/app/c', '3');
    await events.until(2);
    await held(dev);
    const d = dev.kv.put('config/app/d', '4');
    await events.until(3);
    // consul-semantics §3: lower than the index sent (4) → a full read from 0, which finds nothing new, then block again.
    await indexes.until(5);
    await held(dev);
    const e = dev.kv.put('config/app/e', '5');
    await events.until(4);
    expect(indexes.items).toEqual([0, 3, c, 0, d, e]);
    expect(events.items).toEqual([
      ['state', { state: 'ready', previous: 'connecting' }],
      [
        'change',
        {
          index: c,
          changes: [{ key: 'config/app/c', type: 'added', value: 3, previous: undefined }],
          current: { a: 1, b: 2, c: 3 },
        },
      ],
      [
        'change',
        {
          // The real difference in the answer that went backwards is still reported, with its index.
          index: 2,
          changes: [{ key: 'config/app/d', type: 'added', value: 4, previous: undefined }],
          current: { a: 1, b: 2, c: 3, d: 4 },
        },
      ],
      [
        'change',
        {
          index: e,
          changes: [{ key: 'config/app/e', type: 'added', value: 5, previous: undefined }],
          current: { a: 1, b: 2, c: 3, d: 4, e: 5 },
        },
      ],
    ]);
    expect(w.stats().queries[0]).toMatchObject({ requests: 6, indexResets: 1, spurious: 1, changes: 4 });
  });

  it('starts over from index 0 when reaping a tombstone moves the prefix index back (consul-semantics §3)', async () => {
    let nowMs = 0;
    const dev = await start({ seed: { 'config/app/a': 1, 'config/app/b': 2 }, now: () => nowMs });
    const indexes = sentIndexes();
    // A short wait: a query held above the prefix's index is answered only when its wait ends (consul-semantics §3).
    const w = makeWatcher(dev, { wait: 200 });
    const sub = w.watch('config/app/', { format: 'json' });
    const events = record(sub);
    await sub.ready;
    dev.kv.delete('config/app/b');
    const tombstone = dev.kv.index();
    await events.until(2);
    await held(dev);
    // 15 minutes later the tombstone (index 4) is reaped: the prefix's index drops to a's ModifyIndex, 2.
    nowMs += 15 * 60_000;
    dev.kv.reapTombstones();
    await indexes.when((sent) => sent.lastIndexOf(2) > sent.indexOf(tombstone));
    await held(dev);
    const c = dev.kv.put('config/app/c', '3');
    await events.until(3);
    expect(collapse(indexes.items)).toEqual([0, 3, tombstone, 0, 2, c]);
    expect(events.items).toEqual([
      ['state', { state: 'ready', previous: 'connecting' }],
      [
        'change',
        {
          index: tombstone,
          changes: [{ key: 'config/app/b', type: 'deleted', value: undefined, previous: 2 }],
          current: { a: 1 },
        },
      ],
      [
        'change',
        {
          index: c,
          changes: [{ key: 'config/app/c', type: 'added', value: 3, previous: undefined }],
          current: { a: 1, c: 3 },
        },
      ],
    ]);
    expect(w.stats().queries[0]).toMatchObject({ indexResets: 1, errors: 0 });
  });
});

/** Waits until the watcher idles on a blocking query, injects `fault` `times` times, and wakes the query. */
async function failAfterChange(
  dev: DevServer,
  events: Log<Recorded>,
  fault: Fault,
  times: number,
): Promise<number> {
  await held(dev);
  dev.faults.inject({ fault, times });
  const index = dev.kv.put('config/app/x', '1');
  await events.until(events.items.length + 1 + times);
  return index;
}

describe('Watcher on the dev server: failed requests', () => {
  it.each([
    {
      fault: { kind: 'status', status: 500, body: 'rpc error: internal' },
      times: 3,
      name: 'ServerError',
      code: 'CONSUL_SERVER_ERROR',
      status: 500,
      text: 'kv.list config/app/: 500 rpc error: internal (Consul server error; reads may be retried)',
    },
    {
      fault: { kind: 'status', status: 429, body: 'rate limit exceeded, try a different server' },
      times: 1,
      name: 'RateLimitedError',
      code: 'CONSUL_RATE_LIMITED',
      status: 429,
      text: 'kv.list config/app/: 429 rate limit exceeded, try a different server (Consul is limiting this client; retry with backoff and keep fewer connections open)',
    },
    {
      fault: { kind: 'malformed' },
      times: 1,
      name: 'MalformedResponseError',
      code: 'CONSUL_MALFORMED_RESPONSE',
      status: 200,
      text: undefined,
    },
  ] as const)('emits $times × $name for $fault.kind $status, keeps the value, then recovers', async (row) => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const events = record(sub);
    await sub.ready;
    const currentAtError: unknown[] = [];
    sub.on('error', () => currentAtError.push(sub.current));
    const x = await failAfterChange(dev, events, row.fault, row.times);
    await held(dev);
    const y = dev.kv.put('config/app/y', '2');
    await events.until(3 + row.times);
    const errorLines = Array.from({ length: row.times }, () => `error:${row.code}`);
    expect(summary(events.items)).toEqual(['state:ready', `change@${x}`, ...errorLines, `change@${y}`]);
    for (const [, error] of events.items.filter(([name]) => name === 'error')) {
      const e = error as ConsulError;
      expect([e.name, e.code, e.status, e.key, e.retryable]).toEqual([
        row.name,
        row.code,
        row.status,
        'config/app/',
        true,
      ]);
      if (row.text !== undefined) expect(e.message).toBe(row.text);
      else expect(e.message).toContain('config/app/');
    }
    // The value in force before the failures kept serving, and the state never left ready (staleAfter 60 s).
    expect(currentAtError).toEqual(Array.from({ length: row.times }, () => ({ a: 1, x: 1 })));
    expect(sub.current).toEqual({ a: 1, x: 1, y: 2 });
    expect(w.stats().queries[0]).toMatchObject({ errors: row.times });
  });

  it('reports a connection reset mid-body as a transport error, then recovers', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const sub = makeWatcher(dev).watch('config/app/', { format: 'json' });
    const events = record(sub);
    await sub.ready;
    const x = await failAfterChange(dev, events, { kind: 'reset' }, 1);
    await held(dev);
    const y = dev.kv.put('config/app/y', '2');
    await events.until(4);
    expect(summary(events.items)).toEqual([
      'state:ready',
      `change@${x}`,
      'error:CONSUL_TRANSPORT',
      `change@${y}`,
    ]);
    const [, error] = events.items[2] ?? [];
    const e = error as ConsulError;
    expect([e.name, e.key, e.retryable]).toEqual(['TransportError', 'config/app/', true]);
    expect(e.cause).toBeInstanceOf(Error);
    expect(sub.current).toEqual({ a: 1, x: 1, y: 2 });
  });

  it('gives up on a hung non-blocking read after requestTimeout, then recovers', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    // The first read is not blocking, so its timeout is requestTimeout. A hung *blocking* read would take
    // wait + wait/16 + 9 s (rpc_hold_timeout + network margin, not configurable): too slow for this suite.
    dev.faults.inject({ fault: { kind: 'hang' } });
    const sub = makeWatcher(dev, { requestTimeout: 300 }).watch('config/app/', { format: 'json' });
    const events = record(sub);
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    expect(summary(events.items)).toEqual(['error:CONSUL_TIMEOUT', 'state:ready']);
    const [, error] = events.items[0] ?? [];
    const e = error as ConsulError;
    expect([e.name, e.key, e.retryable]).toEqual(['TimeoutError', 'config/app/', true]);
    expect(e.message).toContain('kv.list config/app/: got no answer from Consul within 300 ms');
  });

  it.each([
    {
      setup: 'an unknown token (ACL not found)',
      server: { aclToken: 'the-real-secret-token' },
      fault: undefined,
      shown: 'kv.list config/app/: 403 ACL not found',
      hint: 'Consul does not know this token',
    },
    {
      setup: 'a 403 Permission denied',
      server: {},
      fault: { kind: 'status', status: 403, body: 'Permission denied' },
      shown: 'kv.list config/app/: 403 Permission denied',
      hint: 'the token needs key:read on this prefix',
    },
  ] as const)('rejects ready with AclDeniedError for $setup and retries only slowly', async (row) => {
    const token = 'wrong-secret-token-0123';
    const dev = await start(row.server);
    if (row.fault !== undefined) dev.faults.inject({ fault: row.fault, times: Number.POSITIVE_INFINITY });
    const indexes = sentIndexes();
    // random 0: a retryable error would be retried at once, so only a slow retry keeps the count at 1.
    const w = makeWatcher(dev, { token, backoff: { min: 1, max: 60_000 }, random: () => 0 });
    const sub = w.watch('config/app/', { format: 'json' });
    const events = record(sub);
    const denied = await sub.ready.then(
      () => undefined,
      (error: unknown) => error as ConsulError,
    );
    expect([denied?.name, denied?.code, denied?.status, denied?.key, denied?.retryable]).toEqual([
      'AclDeniedError',
      'CONSUL_ACL_DENIED',
      403,
      'config/app/',
      false,
    ]);
    expect(denied?.message).toContain(row.shown);
    expect(denied?.message).toContain(row.hint);
    expect(`${denied?.message} ${String(denied?.cause)} ${JSON.stringify(denied)}`).not.toContain(token);
    // A window of five round trips to the same server: the watcher sends nothing meanwhile.
    for (let i = 0; i < 5; i++) await httpGet(dev.address, '/v1/kv/config/app/?recurse');
    expect(indexes.items).toEqual([0]);
    expect(dev.stats().requests).toBe(6);
    expect(summary(events.items)).toEqual(['error:CONSUL_ACL_DENIED']);
    expect(w.stats().queries[0]).toMatchObject({ requests: 1, errors: 1, state: 'connecting' });
  });

  it('turns stale while every request fails, and ready again once they succeed', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const sub = makeWatcher(dev, { staleAfter: 50 }).watch('config/app/', { format: 'json' });
    const events = record(sub);
    await sub.ready;
    await held(dev);
    dev.faults.inject({
      fault: { kind: 'status', status: 500, body: 'No cluster leader' },
      times: Number.POSITIVE_INFINITY,
    });
    const x = dev.kv.put('config/app/x', '1');
    await events.when((items) => items.some(([name, event]) => name === 'state' && event.state === 'stale'));
    expect(sub.state).toBe('stale');
    expect(sub.current).toEqual({ a: 1, x: 1 });
    dev.faults.clear();
    await events.when((items) => items.filter(([name]) => name === 'state').length === 3);
    const states = events.items.filter(([name]) => name === 'state').map(([, event]) => event);
    expect(states).toEqual([
      { state: 'ready', previous: 'connecting' },
      { state: 'stale', previous: 'ready' },
      { state: 'ready', previous: 'stale' },
    ]);
    const seen = new Set(summary(events.items));
    expect(seen).toEqual(new Set(['state:ready', `change@${x}`, 'error:CONSUL_NO_LEADER', 'state:stale']));
    expect(sub.current).toEqual({ a: 1, x: 1 });
  });
});

/** A 200 answer of a KV list whose body is not usable, each a different way (consul-semantics §2.1, §4.7). */
const MALFORMED_BODIES = [
  { what: 'JSON that does not parse', body: '[{"Key":' },
  {
    what: 'a Value that is not base64',
    body: '[{"Key":"config/app/a","Value":"not base64!","Flags":0,"CreateIndex":9,"ModifyIndex":9,"LockIndex":0}]',
  },
  { what: 'an object instead of an array', body: '{"Key":"config/app/a","Value":"Mg==","ModifyIndex":9}' },
] as const;

describe('Watcher on the dev server: a malformed answer never moves the index', () => {
  it.each(MALFORMED_BODIES)('re-reads from 0 after $what as the first answer', async ({ body }) => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    const index = dev.kv.index();
    dev.faults.inject({ fault: { kind: 'malformed', body } });
    const indexes = sentIndexes();
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const events = record(sub);
    // Had the broken answer's X-Consul-Index been taken, the next read would block at it and `ready`
    // would wait a whole `wait` (30 s here) for the value Consul already holds.
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    await held(dev);
    expect(indexes.items).toEqual([0, 0, index]);
    expect(summary(events.items)).toEqual(['error:CONSUL_MALFORMED_RESPONSE', 'state:ready']);
    const [, error] = events.items[0] ?? [];
    expect([(error as ConsulError).key, (error as ConsulError).retryable]).toEqual(['config/app/', true]);
    expect(w.stats().queries[0]).toMatchObject({ requests: 3, errors: 1, lastIndex: index });
  });

  it.each(MALFORMED_BODIES)(
    'reports the write behind $what at once, not at the next write',
    async ({ body }) => {
      const dev = await start({ seed: { 'config/app/a': 1 } });
      const indexes = sentIndexes();
      const w = makeWatcher(dev);
      const sub = w.watch('config/app/', { format: 'json' });
      const events = record(sub);
      await sub.ready;
      await held(dev);
      // Two broken answers in a row: the first to the read woken by x, the second to the full read after it,
      // which already carries the index of y (written while the watcher was backing off).
      dev.faults.inject({ fault: { kind: 'malformed', body }, times: 2 });
      let y = 0;
      sub.once('error', () => {
        y = dev.kv.put('config/app/y', '2');
      });
      const x = dev.kv.put('config/app/x', '1');
      await events.until(5);
      await held(dev);
      // Taking y's index from the second broken answer would leave the watcher blocked at it, y unseen.
      expect(indexes.items).toEqual([0, 2, x, 0, 0, y]);
      expect(summary(events.items)).toEqual([
        'state:ready',
        `change@${x}`,
        'error:CONSUL_MALFORMED_RESPONSE',
        'error:CONSUL_MALFORMED_RESPONSE',
        `change@${y}`,
      ]);
      expect(events.items.at(-1)).toEqual([
        'change',
        {
          index: y,
          changes: [{ key: 'config/app/y', type: 'added', value: 2, previous: undefined }],
          current: { a: 1, x: 1, y: 2 },
        },
      ]);
      expect(w.stats().queries[0]).toMatchObject({ errors: 2, lastIndex: y });
    },
  );
});
