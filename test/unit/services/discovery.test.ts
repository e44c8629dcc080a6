/** Watcher.service(): typed instances, one event per answer, the empty signal, ready, and the cache. */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AclDeniedError, ClosedError, InvalidArgumentError, TimeoutError } from '../../../src/errors.js';
import type { WatcherOptions } from '../../../src/watch/types.js';
import type { Watcher } from '../../../src/watch/watcher.js';
import { recordingLogger } from '../../helpers/logger.js';
import { MockConsul } from '../watch/mock-consul.js';
import { healthBody, type InstanceSpec, mockWatcher } from './health-fixtures.js';

let consul: MockConsul;
let watcher: Watcher | undefined;

const BASE = '/v1/health/service/web?passing=';
const blocking = (index: number) => `${BASE}&index=${index}&wait=300000ms`;

function makeWatcher(options: WatcherOptions = {}): Watcher {
  watcher = mockWatcher(consul.agent, options);
  return watcher;
}

/**
 * Answers the first read with `states[0]` and each later blocking read with the next state, the last
 * blocking read hanging. Indexes are 10, 11, 12…
 */
function script(states: InstanceSpec[][]): { done: Promise<void> } {
  let path = BASE;
  for (const [step, state] of states.entries()) {
    consul.answer(path, { status: 200, index: 10 + step, body: healthBody(state) });
    path = blocking(10 + step);
  }
  return { done: consul.hang(path) };
}

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

describe('Watcher.service: instances', () => {
  it('types each instance: Service.Address else Node.Address, port, tags, meta, weights, status, checks (consul-semantics §S8.1)', async () => {
    script([
      [
        {
          id: 'a',
          address: '10.1.1.1',
          port: 9000,
          tags: ['v2'],
          meta: { zone: 'z1' },
          weights: { Passing: 5, Warning: 1 },
        },
        { id: 'b', node: 'node-2', nodeAddress: '10.0.0.2', port: 0 },
      ],
    ]);
    const list = makeWatcher().service('web');
    const instances = await list.ready;
    expect(instances.map(({ checks, ...rest }) => rest)).toEqual([
      {
        id: 'a',
        service: 'web',
        node: 'node-1',
        address: '10.1.1.1',
        port: 9000,
        tags: ['v2'],
        meta: { zone: 'z1' },
        weights: { passing: 5, warning: 1 },
        status: 'passing',
      },
      {
        id: 'b',
        service: 'web',
        node: 'node-2',
        address: '10.0.0.2',
        port: 0,
        tags: [],
        meta: {},
        weights: { passing: 1, warning: 1 },
        status: 'passing',
      },
    ]);
    expect(instances[0]?.checks.map((c) => [c.checkId, c.status, c.type])).toEqual([
      ['serfHealth', 'passing', ''],
      ['service:a', 'passing', 'ttl'],
    ]);
    expect(list.instances).toBe(instances);
    expect([list.state, list.index]).toEqual(['ready', 10]);
  });

  it('aggregates status as maintenance > critical > warning > passing (consul-semantics §S8.2)', async () => {
    script([
      [
        { id: 'ok' },
        { id: 'warn', status: 'warning' },
        { id: 'down', status: 'critical' },
        { id: 'drained', status: 'warning', maintenance: true },
      ],
    ]);
    // passing: false lists every instance, so each status shows.
    consul.answer('/v1/health/service/web', {
      status: 200,
      index: 10,
      body: healthBody([
        { id: 'ok' },
        { id: 'warn', status: 'warning' },
        { id: 'down', status: 'critical' },
        { id: 'drained', status: 'warning', maintenance: true },
      ]),
    });
    const held = consul.hang('/v1/health/service/web?index=10&wait=300000ms');
    const w = makeWatcher();
    const all = await w.service('web', { passing: false }).ready;
    // The ?passing list: what Consul sent, minus what the list does not keep (warning, by default).
    const passing = await w.service('web').ready;
    await held;
    expect(all.map((i) => [i.id, i.status])).toEqual([
      ['ok', 'passing'],
      ['warn', 'warning'],
      ['down', 'critical'],
      ['drained', 'maintenance'],
    ]);
    expect(passing.map((i) => i.id)).toEqual(['ok']);
  });
});

describe('Watcher.service: events', () => {
  it('emits one change per answer with exactly the instances added, removed and changed', async () => {
    const { done } = script([
      [{ id: 'a' }, { id: 'b' }],
      [{ id: 'a', port: 8081 }, { id: 'c' }, { id: 'd' }],
      [{ id: 'a', port: 8081 }, { id: 'c' }, { id: 'd', tags: ['x'] }],
    ]);
    const list = makeWatcher().service('web');
    const events: unknown[] = [];
    list.on('change', (e) =>
      events.push({
        index: e.index,
        instances: e.instances.map((i) => i.id),
        added: e.added.map((i) => i.id),
        removed: e.removed.map((i) => i.id),
        changed: e.changed.map((c) => [c.instance.id, c.previous.port, c.instance.port]),
        same: e.instances === list.instances,
      }),
    );
    list.on('empty', (e) => events.push(['empty', e]));
    await list.ready;
    await done;
    expect(events).toEqual([
      {
        index: 11,
        instances: ['a', 'c', 'd'],
        added: ['c', 'd'],
        removed: ['b'],
        changed: [['a', 8080, 8081]],
        same: true,
      },
      {
        index: 12,
        instances: ['a', 'c', 'd'],
        added: [],
        removed: [],
        changed: [['d', 8080, 8080]],
        same: true,
      },
    ]);
  });

  it('treats an empty list as a real update: ready resolves [], empty fires, and again when all leave', async () => {
    const { done } = script([[], [{ id: 'a' }], []]);
    const list = makeWatcher().service('web');
    const events: unknown[] = [];
    list.on('change', (e) => events.push(['change', e.added.map((i) => i.id), e.removed.map((i) => i.id)]));
    list.on('empty', (e) => events.push(['empty', e.index, e.removed.map((i) => i.id)]));
    await expect(list.ready).resolves.toEqual([]);
    await done;
    expect(events).toEqual([
      ['empty', 10, []],
      ['change', ['a'], []],
      ['change', [], ['a']],
      ['empty', 12, ['a']],
    ]);
  });

  it('drops an instance that turns critical or enters maintenance, from the ?passing answer', async () => {
    const { done } = script([[{ id: 'a' }, { id: 'b' }], [{ id: 'b' }], []]);
    const list = makeWatcher().service('web', { warning: 'exclude' });
    const removed: string[][] = [];
    list.on('change', (e) => removed.push(e.removed.map((i) => i.id)));
    await list.ready;
    await done;
    expect(removed).toEqual([['a'], ['b']]);
  });

  it('with warning: include, keeps a warning instance (marked changed) and drops it when critical', async () => {
    const base = '/v1/health/service/web';
    consul.answer(base, { status: 200, index: 10, body: healthBody([{ id: 'a' }]) });
    consul.answer(`${base}?index=10&wait=300000ms`, {
      status: 200,
      index: 11,
      body: healthBody([{ id: 'a', status: 'warning' }]),
    });
    consul.answer(`${base}?index=11&wait=300000ms`, {
      status: 200,
      index: 12,
      body: healthBody([{ id: 'a', status: 'critical' }]),
    });
    const held = consul.hang(`${base}?index=12&wait=300000ms`);
    const list = makeWatcher().service('web', { warning: 'include' });
    const events: unknown[] = [];
    list.on('change', (e) =>
      events.push([e.changed.map((c) => [c.previous.status, c.instance.status]), e.removed.map((i) => i.id)]),
    );
    await list.ready;
    await held;
    expect(events).toEqual([
      [[['passing', 'warning']], []],
      [[], ['a']],
    ]);
  });
});

describe('Watcher.service: diagnostics', () => {
  it('publishes each change on watch:change with the service, the instance keys and the count', async () => {
    const { done } = script([
      [{ id: 'a' }, { id: 'b' }],
      [
        { id: 'a', port: 9 },
        { id: 'c', node: 'node-2' },
      ],
      [],
    ]);
    const published: unknown[] = [];
    const onChange = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe('consul-hotreload:watch:change', onChange);
    try {
      const list = makeWatcher().service('web');
      let changes = 0;
      const twoChanges = new Promise<void>((resolve) =>
        list.on('change', () => {
          if (++changes === 2) resolve();
        }),
      );
      await twoChanges;
      await done;
    } finally {
      diagnosticsChannel.unsubscribe('consul-hotreload:watch:change', onChange);
    }
    // The first list resolves `ready` and is not a change, as for KV subscriptions.
    expect(published).toEqual([
      {
        key: 'service:web',
        service: 'web',
        index: 11,
        instances: 2,
        changes: [
          { key: 'node-2/c', type: 'added' },
          { key: 'node-1/a', type: 'updated' },
          { key: 'node-1/b', type: 'deleted' },
        ],
      },
      {
        key: 'service:web',
        service: 'web',
        index: 12,
        instances: 0,
        changes: [
          { key: 'node-1/a', type: 'deleted' },
          { key: 'node-2/c', type: 'deleted' },
        ],
      },
    ]);
  });
});

describe('Watcher.service: ready, errors and close', () => {
  it('rejects ready with AclDeniedError on a 403 and keeps retrying; a later list comes as a change', async () => {
    consul.answer(BASE, { status: 403, body: 'Permission denied' });
    consul.answer(BASE, { status: 200, index: 3, body: healthBody([{ id: 'a' }]) });
    const held = consul.hang(blocking(3));
    const list = makeWatcher({ logger: recordingLogger().logger }).service('web');
    const changes: string[][] = [];
    list.on('change', (e) => changes.push(e.added.map((i) => i.id)));
    const error = await list.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AclDeniedError);
    expect((error as AclDeniedError).message).toContain('health.service web');
    await held;
    expect(changes).toEqual([['a']]);
  });

  it('rejects ready with TimeoutError after startTimeout, and with ClosedError when closed first', async () => {
    const first = consul.hang(BASE);
    const w = makeWatcher({ startTimeout: 5 });
    const slow = w.service('web');
    await first;
    await expect(slow.ready).rejects.toBeInstanceOf(TimeoutError);
    const other = w.service('web', { startTimeout: 0 });
    const states: string[] = [];
    other.on('state', (e) => states.push(e.state));
    await other.close();
    await expect(other.ready).rejects.toBeInstanceOf(ClosedError);
    expect(states).toEqual(['closed']);
  });

  it('refuses bad options at the call, naming them', () => {
    const w = makeWatcher();
    expect(() => w.service('')).toThrow(InvalidArgumentError);
    expect(() => w.service('web', { warning: 'maybe' as 'include' })).toThrow(
      "watch service web: warning must be 'exclude' or 'include'; got maybe",
    );
    expect(() => w.service('web', { tags: [''] })).toThrow('tags must be an array of non-empty strings');
  });

  it('closes with the watcher: no request left in flight, later calls throw ClosedError', async () => {
    consul.answer(BASE, { status: 200, index: 3, body: '[]' });
    const held = consul.hang(blocking(3));
    const w = makeWatcher();
    const list = w.service('web');
    await list.ready;
    await held;
    await w.close();
    expect(list.state).toBe('closed');
    expect(() => w.service('web')).toThrow(ClosedError);
  });
});

describe('Watcher.service: last-known-good cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'discovery-lkg-'));
  });
  afterEach(async () => {
    // The watcher's last cache writes land before the folder goes.
    await watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('restores the saved list while Consul is down, stale, then reports only what differs', async () => {
    const path = join(dir, 'lkg.json');
    consul.answer(BASE, { status: 200, index: 7, body: healthBody([{ id: 'a' }, { id: 'b' }]) });
    const held = consul.hang(blocking(7));
    const first = makeWatcher({ cache: { path } });
    await first.service('web').ready;
    await held;
    await first.close();

    consul.refuse(BASE);
    // Held until the cached list is served, so Consul cannot win the race with the file read.
    const live = consul.answer(
      BASE,
      { status: 200, index: 9, body: healthBody([{ id: 'b' }, { id: 'c' }]) },
      { hold: true },
    );
    const again = consul.hang(blocking(9));
    const { logger } = recordingLogger();
    const list = makeWatcher({ cache: { path }, logger }).service('web');
    const events: unknown[] = [];
    list.on('state', (e) => events.push(['state', e.state]));
    list.on('change', (e) => events.push(['change', e.added.map((i) => i.id), e.removed.map((i) => i.id)]));
    const restored = await list.ready;
    expect(restored.map((i) => i.id)).toEqual(['a', 'b']);
    expect(list.state).toBe('stale');
    live.release();
    await again;
    expect(events).toEqual([
      ['state', 'stale'],
      ['state', 'ready'],
      ['change', ['c'], ['a']],
    ]);
  });
});
