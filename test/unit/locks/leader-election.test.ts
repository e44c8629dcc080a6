import { afterEach, describe, expect, it } from 'vitest';
import { leaderElection } from '../../../src/locks/leader-election.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { type MockConsul, meta, mockConsul } from '../consul/mock-consul.js';
import { entryJson, FLAG, replyCreate, replyMonitor, requestsReach } from './mock-lock.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

describe('leaderElection', () => {
  it('is elected, demoted when the key goes to another session, and campaigns again with a new session', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyCreate(mock, 's1');
    mock.pool.intercept({ path: '/v1/kv/svc/leader', method: 'GET' }).reply(404, '', { headers: meta(5) });
    mock.pool
      .intercept({ path: `/v1/kv/svc/leader?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    const monitor = replyMonitor(mock, 'svc/leader', 's1');
    const log: string[] = [];
    const election = leaderElection(mock.client, 'svc/leader', { clock });
    election.on('elected', (event) => log.push(`elected ${event.session} ${event.lockIndex}`));
    election.on('demoted', (event) => log.push(`demoted ${event.session} ${event.reason}`));
    await requestsReach(mock, 5);
    expect([log, election.isLeader]).toEqual([['elected s1 1'], true]);

    // Another session takes the key: demoted, s1 destroyed, a new session s2 waits on the key.
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    replyCreate(mock, 's2');
    mock.pool
      .intercept({ path: '/v1/kv/svc/leader', method: 'GET' })
      .reply(200, entryJson('svc/leader', { session: 'other', lockIndex: 2, modifyIndex: 9 }), {
        headers: meta(9),
      });
    mock.pool
      .intercept({ path: '/v1/session/info/other', method: 'GET' })
      .reply(200, [], { headers: meta(9) });
    mock.pool
      .intercept({ path: '/v1/kv/svc/leader?index=9', method: 'GET' })
      .reply(200, () => new Promise<string>(() => {}), { headers: meta(10) });
    monitor.answer(entryJson('svc/leader', { session: 'other', lockIndex: 2, modifyIndex: 9 }));
    await requestsReach(mock, 10);
    expect([log, election.isLeader]).toEqual([['elected s1 1', 'demoted s1 session-changed'], false]);

    // Closing while campaigning: the wait is aborted and s2 destroyed; nothing is released.
    mock.pool.intercept({ path: '/v1/session/destroy/s2', method: 'PUT' }).reply(200, 'true');
    await election.close();
    expect(mock.requests().slice(5)).toEqual([
      'PUT /v1/session/destroy/s1',
      'PUT /v1/session/create',
      'GET /v1/kv/svc/leader',
      'GET /v1/session/info/other',
      'GET /v1/kv/svc/leader?index=9',
      'PUT /v1/session/destroy/s2',
    ]);
    expect(log).toHaveLength(2);
  });

  it('retries slowly (10 × retryInterval) after an error retrying cannot fix', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    const errors: string[] = [];
    const conflict = () => {
      replyCreate(mock, 's1');
      mock.pool
        .intercept({ path: '/v1/kv/svc/leader', method: 'GET' })
        .reply(200, entryJson('svc/leader', { flags: '1' }), { headers: meta(5) });
      mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    };
    conflict();
    const election = leaderElection(mock.client, 'svc/leader', { clock, retryInterval: 1_000 });
    election.on('error', (error) => errors.push(error.code));
    await requestsReach(mock, 3);
    expect(errors).toEqual(['CONSUL_LOCK_CONFLICT']);
    clock.advance(9_999);
    expect(mock.requests()).toHaveLength(3);
    conflict();
    clock.advance(1);
    await requestsReach(mock, 6);
    expect(errors).toEqual(['CONSUL_LOCK_CONFLICT', 'CONSUL_LOCK_CONFLICT']);
    await election.close();
    expect(mock.requests()).toHaveLength(6);
  });
});
