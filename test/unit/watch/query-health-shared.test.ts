/**
 * The shared service watch (past maxBlockingQueries): a check change reads only the services it concerns
 * (a node check: every service on the node), a registration that no check explains reads every target, and
 * a failed targeted read is reported and retried.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceList, Watcher } from '../../../src/watch/watcher.js';
import { recordingLogger } from '../../helpers/logger.js';
import { healthBody, mockWatcher } from '../services/health-fixtures.js';
import { MockConsul } from './mock-consul.js';

let consul: MockConsul;
let watcher: Watcher | undefined;

const STATE = '/v1/health/state/any';
const SERVICES = '/v1/catalog/services';
const blocking = (path: string, index: number) => `${path}?index=${index}&wait=300000ms`;

function check(node: string, checkId: string, status: string, serviceName = '') {
  return {
    Node: node,
    CheckID: checkId,
    Name: checkId,
    Status: status,
    Notes: '',
    Output: '',
    ServiceID: serviceName === '' ? '' : `${serviceName}-1`,
    ServiceName: serviceName,
    Type: serviceName === '' ? '' : 'ttl',
  };
}

const baseline = [
  check('node-1', 'serfHealth', 'passing'),
  check('node-2', 'serfHealth', 'passing'),
  check('node-1', 'service:web-1', 'passing', 'web'),
  check('node-2', 'service:db-1', 'passing', 'db'),
];

/**
 * A watcher with room for one blocking query: `web` gets one of its own (answered at index 10, then held),
 * and the next service moves both lists to the shared watch.
 */
async function sharedWatcher(): Promise<{ w: Watcher; warnings: () => string[]; web: ServiceList }> {
  const { logger, calls } = recordingLogger();
  watcher = mockWatcher(consul.agent, { maxBlockingQueries: 1, logger });
  const warnings = () => calls.filter(([level]) => level === 'warn').map(([, , message]) => message ?? '');
  consul.answer('/v1/health/service/web?passing=', {
    status: 200,
    index: 10,
    body: healthBody([{ id: 'web-1' }]),
  });
  const held = consul.hang('/v1/health/service/web?passing=&index=10&wait=300000ms');
  const web = watcher.service('web');
  await web.ready;
  await held;
  return { w: watcher, warnings, web };
}

const changes = (list: ServiceList): unknown[] => {
  const log: unknown[] = [];
  list.on('change', (e) => log.push([e.added.map((i) => i.id), e.removed.map((i) => i.id)]));
  return log;
};

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

describe('shared service watch', () => {
  it('moves a list without an event, then reads only the services on a node whose node check changed', async () => {
    const { w, warnings, web } = await sharedWatcher();
    consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(baseline) });
    const flip = consul.answer(
      blocking(STATE, 10),
      {
        status: 200,
        index: 11,
        body: JSON.stringify([check('node-1', 'serfHealth', 'critical'), ...baseline.slice(1)]),
      },
      { hold: true },
    );
    const nextChecks = consul.hang(blocking(STATE, 11));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    consul.hang(blocking(SERVICES, 20));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    consul.answer('/v1/health/service/db?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'db-1', service: 'db', node: 'node-2' }]),
    });
    // After the flip: web (on node-1) is read again and has no passing instance left.
    consul.answer('/v1/health/service/web?passing=', { status: 200, index: 11, body: '[]' });
    const webChanges = changes(web);
    const db = w.service('db');
    await db.ready;
    expect(warnings()).toEqual([
      expect.stringContaining(
        '1 blocking queries held, at maxBlockingQueries (1); every service watch (1 so far)',
      ),
    ]);
    const dbChanges = changes(db);
    const left = new Promise<void>((resolve) => web.once('empty', () => resolve()));
    flip.release();
    await left;
    await nextChecks;
    // The move to the shared watch changed nothing web's list shows; the flip removed web-1 only.
    expect(webChanges).toEqual([[[], ['web-1']]]);
    expect(dbChanges).toEqual([]);
    expect(
      consul
        .requests()
        .filter((path) => path.startsWith('/v1/health/service/'))
        .sort(),
    ).toEqual([
      '/v1/health/service/db?passing=',
      '/v1/health/service/web?passing=',
      '/v1/health/service/web?passing=',
      '/v1/health/service/web?passing=',
      '/v1/health/service/web?passing=&index=10&wait=300000ms',
    ]);
    expect(w.stats().services?.map((s) => [s.service, s.shared, s.requests])).toEqual([
      ['web', true, 2],
      ['db', true, 1],
    ]);
  });

  it('reads every target once when the services table moved and no check explains it', async () => {
    const { w, web } = await sharedWatcher();
    consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(baseline) });
    consul.hang(blocking(STATE, 10));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    const moved = consul.answer(
      blocking(SERVICES, 20),
      { status: 200, index: 21, body: JSON.stringify({ web: [], db: [] }) },
      { hold: true },
    );
    consul.hang(blocking(SERVICES, 21));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    consul.answer('/v1/health/service/db?passing=', { status: 200, index: 10, body: '[]' });
    // The sweep: web's port changed, db is as it was.
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 21,
      body: healthBody([{ id: 'web-1', port: 9999 }]),
    });
    consul.answer('/v1/health/service/db?passing=', { status: 200, index: 10, body: '[]' });
    const db = w.service('db');
    await db.ready;
    const changed = new Promise<number | undefined>((resolve) =>
      web.once('change', (e) => resolve(e.changed[0]?.instance.port)),
    );
    moved.release();
    await expect(changed).resolves.toBe(9999);
  });

  it('reports a failed targeted read to its lists and retries it after the backoff', async () => {
    const { w } = await sharedWatcher();
    consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(baseline) });
    consul.hang(blocking(STATE, 10));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    consul.hang(blocking(SERVICES, 20));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    consul.answer('/v1/health/service/db?passing=', { status: 503, body: 'busy' });
    consul.answer('/v1/health/service/db?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'db-1', service: 'db' }]),
    });
    const db = w.service('db');
    const errors: string[] = [];
    db.on('error', (e) => errors.push(e.code));
    await expect(db.ready).resolves.toHaveLength(1);
    expect(errors).toEqual(['CONSUL_SERVER_ERROR']);
    expect(w.stats().services?.find((s) => s.service === 'db')).toMatchObject({
      shared: true,
      requests: 2,
      errors: 1,
    });
  });

  it('treats an empty first checks answer as the baseline: the first check to appear reads its service', async () => {
    const { w, web } = await sharedWatcher();
    consul.answer(STATE, { status: 200, index: 10, body: '[]' });
    const appeared = consul.answer(
      blocking(STATE, 10),
      { status: 200, index: 12, body: JSON.stringify([check('node-1', 'service:web-2', 'passing', 'web')]) },
      { hold: true },
    );
    consul.hang(blocking(STATE, 12));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    consul.hang(blocking(SERVICES, 20));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    consul.answer('/v1/health/service/db?passing=', { status: 200, index: 10, body: '[]' });
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 12,
      body: healthBody([{ id: 'web-1' }, { id: 'web-2' }]),
    });
    await w.service('db').ready;
    const added = new Promise<string[]>((resolve) =>
      web.once('change', (e) => resolve(e.added.map((i) => i.id))),
    );
    appeared.release();
    await expect(added).resolves.toEqual(['web-2']);
  });
});

describe('shared service watch: a node check that passes again', () => {
  // With a service check, the checks answer says web runs on node-1; without one, only an earlier read does.
  it.each([
    ['with a service check', baseline],
    ['with no service check', baseline.filter((c) => c.CheckID !== 'service:web-1')],
  ])('reads a service again when its node check recovers (%s)', async (_name, checks) => {
    const { w, web } = await sharedWatcher();
    const critical = checks.map((c) =>
      c.Node === 'node-1' && c.CheckID === 'serfHealth' ? { ...c, Status: 'critical' } : c,
    );
    consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(checks) });
    const down = consul.answer(
      blocking(STATE, 10),
      { status: 200, index: 11, body: JSON.stringify(critical) },
      { hold: true },
    );
    const up = consul.answer(
      blocking(STATE, 11),
      { status: 200, index: 12, body: JSON.stringify(checks) },
      { hold: true },
    );
    const last = consul.hang(blocking(STATE, 12));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    consul.hang(blocking(SERVICES, 20));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    consul.answer('/v1/health/service/db?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'db-1', service: 'db', node: 'node-2' }]),
    });
    consul.answer('/v1/health/service/web?passing=', { status: 200, index: 11, body: '[]' });
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 12,
      body: healthBody([{ id: 'web-1' }]),
    });
    await w.service('db').ready;
    const log = changes(web);
    const emptied = new Promise<void>((resolve) => web.once('empty', () => resolve()));
    down.release();
    await emptied;
    const back = new Promise<void>((resolve) => web.once('change', () => resolve()));
    up.release();
    await back;
    await last;
    expect(log).toEqual([
      [[], ['web-1']],
      [['web-1'], []],
    ]);
    expect(w.stats().services?.map((s) => [s.service, s.requests])).toEqual([
      ['web', 3],
      ['db', 1],
    ]);
  });
});

describe('shared service watch: the last list leaving', () => {
  it('aborts the targeted read in flight and arms no retry when the last list closes', async () => {
    const { w, warnings, web } = await sharedWatcher();
    consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(baseline) });
    consul.hang(blocking(STATE, 10));
    consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
    consul.hang(blocking(SERVICES, 20));
    consul.answer('/v1/health/service/web?passing=', {
      status: 200,
      index: 10,
      body: healthBody([{ id: 'web-1' }]),
    });
    // db's first targeted read is slow, and fails once it answers.
    const slow = consul.answer(
      '/v1/health/service/db?passing=',
      { status: 503, body: 'busy' },
      { hold: true },
    );
    const db = w.service('db');
    const errors: string[] = [];
    db.on('error', (e) => errors.push(e.code));
    await slow.arrived;
    await Promise.all([db.close(), web.close()]);
    expect(w.stats().services).toEqual([]);
    slow.release();
    // Let a read that was not aborted answer, fail and schedule its retry.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([]);
    expect(warnings().filter((m) => m.includes('retrying'))).toEqual([]);
  });
});
