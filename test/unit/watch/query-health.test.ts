/** The service-health query kind over a scripted Consul: requests, index rules, malformed answers, coalescing. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WatcherOptions } from '../../../src/watch/types.js';
import type { Watcher } from '../../../src/watch/watcher.js';
import { healthBody, mockWatcher } from '../services/health-fixtures.js';
import { MockConsul } from './mock-consul.js';

let consul: MockConsul;
let watcher: Watcher | undefined;

const BASE = '/v1/health/service/web?passing=';
const blocking = (index: number, base = BASE) => `${base}&index=${index}&wait=300000ms`;

function makeWatcher(options: WatcherOptions = {}): Watcher {
  watcher = mockWatcher(consul.agent, options);
  return watcher;
}

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

describe('service-health query: requests', () => {
  it('reads ?passing fully, then blocks with the answer’s index and the wait (consul-semantics §S8.3)', async () => {
    consul.answer(BASE, { status: 200, index: 10, body: healthBody([{ id: 'a' }]) });
    const held = consul.hang(blocking(10));
    const list = makeWatcher().service('web');
    await expect(list.ready).resolves.toHaveLength(1);
    await held;
    expect(consul.requests()).toEqual([BASE, blocking(10)]);
  });

  it('sends tags (sorted), dc, filter, near and stale in one query string', async () => {
    const base =
      '/v1/health/service/web?dc=east&passing=&tag=a&tag=b&filter=Service.Port+%3D%3D+80&near=_agent&stale=';
    consul.answer(base, { status: 200, index: 3, body: '[]' });
    const held = consul.hang(blocking(3, base));
    const list = makeWatcher().service('web', {
      tags: ['b', 'a'],
      dc: 'east',
      filter: 'Service.Port == 80',
      near: '_agent',
      consistency: 'stale',
    });
    await expect(list.ready).resolves.toEqual([]);
    await held;
  });

  it('drops ?passing when warning instances are kept: the list filters critical ones itself', async () => {
    const base = '/v1/health/service/web';
    consul.answer(base, {
      status: 200,
      index: 4,
      body: healthBody([
        { id: 'ok' },
        { id: 'warn', status: 'warning' },
        { id: 'down', status: 'critical' },
        { id: 'drained', maintenance: true },
      ]),
    });
    const held = consul.hang(`${base}?index=4&wait=300000ms`);
    const list = makeWatcher().service('web', { warning: 'include' });
    const instances = await list.ready;
    await held;
    expect(instances.map((i) => [i.id, i.status])).toEqual([
      ['ok', 'passing'],
      ['warn', 'warning'],
    ]);
  });
});

describe('service-health query: index rules', () => {
  it('re-reads fully from index 0 when the index goes backwards, and counts the reset (consul-semantics §3.4)', async () => {
    consul.answer(BASE, { status: 200, index: 50, body: healthBody([{ id: 'a' }]) });
    consul.answer(blocking(50), { status: 200, index: 20, body: healthBody([{ id: 'a' }]) });
    consul.answer(BASE, { status: 200, index: 20, body: healthBody([{ id: 'a' }]) });
    const held = consul.hang(blocking(20));
    const w = makeWatcher();
    const list = w.service('web');
    const events: unknown[] = [];
    list.on('change', (e) => events.push(e));
    await list.ready;
    await held;
    expect(consul.requests()).toEqual([BASE, blocking(50), BASE, blocking(20)]);
    expect(events).toEqual([]);
    expect(w.stats().services?.[0]).toMatchObject({ indexResets: 1, lastIndex: 20, spurious: 2 });
  });

  it('blocks on index 1 when X-Consul-Index is missing or 0 (consul-semantics §3.2)', async () => {
    consul.answer(BASE, { status: 200, index: 0, body: '[]' });
    const held = consul.hang(blocking(1));
    await makeWatcher().service('web').ready;
    await held;
  });

  it.each([
    ['not JSON', '[{"Node":'],
    ['not a list', '{"Node":{}}'],
    ['an entry without Service.ID', JSON.stringify([{ Node: { Node: 'n' }, Service: { Service: 'web' } }])],
    ['a check status Consul never sends', healthBody([{ id: 'b' }]).replace('"passing"', '"fine"')],
  ])(
    'never adopts the index of an answer that is %s, and re-reads fully (consul-semantics §S8.3)',
    async (_, body) => {
      consul.answer(BASE, { status: 200, index: 5, body: healthBody([{ id: 'a' }]) });
      consul.answer(blocking(5), { status: 200, index: 9, body });
      // A full read (no index), never ?index=9: the malformed answer's index was not taken.
      consul.answer(BASE, { status: 200, index: 9, body: healthBody([{ id: 'a' }, { id: 'b' }]) });
      const held = consul.hang(blocking(9));
      const w = makeWatcher();
      const list = w.service('web');
      const events: unknown[] = [];
      list.on('error', (e) => events.push(['error', e.code, e.retryable]));
      list.on('change', (e) => events.push(['change', e.added.map((i) => i.id), list.index]));
      await list.ready;
      await held;
      expect(events).toEqual([
        ['error', 'CONSUL_MALFORMED_RESPONSE', true],
        ['change', ['b'], 9],
      ]);
      expect(consul.requests()).toEqual([BASE, blocking(5), BASE, blocking(9)]);
    },
  );

  it('counts a wake-up that changed nothing as spurious and emits nothing', async () => {
    consul.answer(BASE, { status: 200, index: 5, body: healthBody([{ id: 'a' }]) });
    consul.answer(blocking(5), { status: 200, index: 6, body: healthBody([{ id: 'a' }]) });
    const held = consul.hang(blocking(6));
    const w = makeWatcher();
    const list = w.service('web');
    const events: unknown[] = [];
    list.on('change', (e) => events.push(e));
    await list.ready;
    await held;
    expect(events).toEqual([]);
    expect(w.stats().services?.[0]).toMatchObject({ changes: 1, spurious: 1, requests: 3, lastIndex: 6 });
  });

  it('re-reads consistently an answer staler than maxStale, with consistency stale', async () => {
    consul.answer(`${BASE}&stale=`, { status: 200, index: 5, body: '[]', lastContact: 9000 });
    consul.answer(`${BASE}&consistent=`, { status: 200, index: 5, body: healthBody([{ id: 'a' }]) });
    const held = consul.hang(`${BASE}&stale=&index=5&wait=300000ms`);
    const w = makeWatcher({ consistency: 'stale', maxStale: 5000 });
    await expect(w.service('web').ready).resolves.toHaveLength(1);
    await held;
    expect(w.stats().services?.[0]).toMatchObject({ requests: 3 });
  });
});

describe('service-health query: coalescing', () => {
  it('serves identical lists from one blocking query, tags in any order, and a late list without a request', async () => {
    const base = '/v1/health/service/web?passing=&tag=a&tag=b';
    consul.answer(base, { status: 200, index: 7, body: healthBody([{ id: 'a', tags: ['a', 'b'] }]) });
    const held = consul.hang(blocking(7, base));
    const w = makeWatcher();
    const one = w.service('web', { tags: ['a', 'b'] });
    const two = w.service('web', { tags: ['b', 'a'] });
    await Promise.all([one.ready, two.ready]);
    await held;
    const late = w.service('web', { tags: ['a', 'b'] });
    await expect(late.ready).resolves.toHaveLength(1);
    expect(consul.requests()).toEqual([base, blocking(7, base)]);
    expect(w.stats().services).toHaveLength(1);
    expect(w.stats().services?.[0]).toMatchObject({ subscriptions: 3 });
  });

  it('gives a list with other parameters its own query, and stops a query when its last list closes', async () => {
    consul.answer(BASE, { status: 200, index: 7, body: '[]' });
    const passingHeld = consul.hang(blocking(7));
    consul.answer('/v1/health/service/web', { status: 200, index: 7, body: '[]' });
    const allHeld = consul.hang('/v1/health/service/web?index=7&wait=300000ms');
    const w = makeWatcher();
    const passing = w.service('web');
    const all = w.service('web', { passing: false });
    const warn = w.service('web', { warning: 'include' });
    await Promise.all([passing.ready, all.ready, warn.ready, passingHeld, allHeld]);
    expect(w.stats().services?.map((s) => [s.passing, s.subscriptions])).toEqual([
      [true, 1],
      [false, 2],
    ]);
    await passing.close();
    expect(w.stats().services?.map((s) => s.passing)).toEqual([false]);
  });
});

describe('service-health query: a list joining an answered query', () => {
  it('emits empty (and state) to a listener added right after watcher.service(), not inside it', async () => {
    consul.answer(BASE, { status: 200, index: 10, body: '[]' });
    const held = consul.hang(blocking(10));
    const w = makeWatcher();
    await expect(w.service('web').ready).resolves.toEqual([]);
    await held;
    const late = w.service('web');
    const events: unknown[] = [];
    expect(late.state).toBe('connecting');
    late.on('empty', (e) => events.push(['empty', e.index, e.removed]));
    late.on('state', (e) => events.push(['state', e.state]));
    await expect(late.ready).resolves.toEqual([]);
    expect(events).toEqual([
      ['state', 'ready'],
      ['empty', 10, []],
    ]);
    // Still one query for both lists.
    expect(consul.requests()).toEqual([BASE, blocking(10)]);
  });
});
