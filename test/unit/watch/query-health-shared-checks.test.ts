/**
 * The shared service watch tells a changed check from an unchanged one field by field: a change of any
 * field of a service's check reads that service again (and no other), an answer whose checks are all as
 * before reads nothing (consul-semantics §S8.4).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Watcher } from '../../../src/watch/watcher.js';
import { healthBody, mockWatcher } from '../services/health-fixtures.js';
import { MockConsul } from './mock-consul.js';

let consul: MockConsul;
let watcher: Watcher | undefined;

const STATE = '/v1/health/state/any';
const SERVICES = '/v1/catalog/services';
const WEB = '/v1/health/service/web?passing=';
const DB = '/v1/health/service/db?passing=';
const blocking = (path: string, index: number) =>
  `${path}${path.includes('?') ? '&' : '?'}index=${index}&wait=300000ms`;

type Check = Record<
  'Node' | 'CheckID' | 'Name' | 'Status' | 'Notes' | 'Output' | 'ServiceID' | 'ServiceName' | 'Type',
  string
>;

function check(node: string, checkId: string, serviceName = ''): Check {
  return {
    Node: node,
    CheckID: checkId,
    Name: checkId,
    Status: 'passing',
    Notes: 'notes',
    Output: 'ok',
    ServiceID: serviceName === '' ? '' : `${serviceName}-1`,
    ServiceName: serviceName,
    Type: serviceName === '' ? '' : 'ttl',
  };
}

const baseline = (): Check[] => [
  check('node-1', 'serfHealth'),
  check('node-2', 'serfHealth'),
  check('node-1', 'service:web-1', 'web'),
  check('node-2', 'service:db-1', 'db'),
];

/** Reads per service, as `Watcher.stats()` counts them. */
const reads = (w: Watcher): Record<string, number> =>
  Object.fromEntries((w.stats().services ?? []).map((s) => [s.service, s.requests]));

/**
 * `web` and `db` on the shared watch (a budget of one blocking query), both read once there; the checks
 * watch then answers `next` at index 11 and holds its following query.
 */
async function sharedThenChecks(
  next: Check[],
  beforeRelease: () => void = () => {},
): Promise<{ w: Watcher; settled: Promise<void> }> {
  watcher = mockWatcher(consul.agent, { maxBlockingQueries: 1 });
  consul.answer(WEB, { status: 200, index: 10, body: healthBody([{ id: 'web-1' }]) });
  const held = consul.hang(blocking(WEB, 10));
  const web = watcher.service('web');
  await web.ready;
  await held;
  consul.answer(STATE, { status: 200, index: 10, body: JSON.stringify(baseline()) });
  const flip = consul.answer(
    blocking(STATE, 10),
    { status: 200, index: 11, body: JSON.stringify(next) },
    { hold: true },
  );
  const settled = consul.hang(blocking(STATE, 11));
  consul.answer(SERVICES, { status: 200, index: 20, body: JSON.stringify({ web: [], db: [] }) });
  consul.hang(blocking(SERVICES, 20));
  consul.answer(WEB, { status: 200, index: 10, body: healthBody([{ id: 'web-1' }]) });
  consul.answer(DB, {
    status: 200,
    index: 10,
    body: healthBody([{ id: 'db-1', service: 'db', node: 'node-2' }]),
  });
  const db = watcher.service('db');
  await db.ready;
  expect(reads(watcher)).toEqual({ web: 1, db: 1 });
  beforeRelease();
  flip.release();
  return { w: watcher, settled };
}

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

describe('shared service watch: which checks changed', () => {
  it('reads nothing when every check is as before (a new index alone)', async () => {
    const { w, settled } = await sharedThenChecks(baseline());
    await settled;
    expect(reads(w)).toEqual({ web: 1, db: 1 });
  });

  it.each(['Status', 'Output', 'Notes', 'Name', 'Type', 'ServiceID'] as const)(
    'reads the service again, and only it, when its check changed %s',
    async (field) => {
      const next = baseline();
      const webCheck = next[2] as Check;
      webCheck[field] = field === 'Status' ? 'warning' : `${webCheck[field]}-changed`;
      let reread: Promise<void> | undefined;
      const { w, settled } = await sharedThenChecks(next, () => {
        reread = consul.answer(WEB, { status: 200, index: 11, body: healthBody([{ id: 'web-1' }]) }).arrived;
      });
      await settled;
      // The read starts as the checks answer is applied, before the checks watch asks again.
      expect(reads(w)).toEqual({ web: 2, db: 1 });
      await reread;
    },
  );
});
