import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ClosedError,
  InvalidArgumentError,
  LockConflictError,
  LockLostError,
} from '../../../src/errors.js';
import { Lock, lock } from '../../../src/locks/lock.js';
import { LOCK_FLAG_VALUE } from '../../../src/locks/lock-options.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { type MockConsul, meta, mockConsul, rejection } from '../consul/mock-consul.js';
import {
  entryJson,
  FLAG,
  replyCreate,
  replyMonitor,
  requestsReach,
  sessionJson,
  turns,
} from './mock-lock.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

const ACQUIRE = `PUT /v1/kv/locks/a?flags=${FLAG}&acquire=s1`;
const RELEASE = `PUT /v1/kv/locks/a?flags=${FLAG}&release=s1`;

/** Session s1 created, the key free (404), the acquire answered true, the monitor held. */
function replyFreeAcquire(m: MockConsul) {
  replyCreate(m, 's1');
  m.pool.intercept({ path: '/v1/kv/locks/a', method: 'GET' }).reply(404, '', { headers: meta(5) });
  m.pool.intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' }).reply(200, 'true');
  return replyMonitor(m, 'locks/a', 's1');
}

function replyReleaseDestroy(m: MockConsul) {
  m.pool.intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&release=s1`, method: 'PUT' }).reply(200, 'true');
  m.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
}

describe('acquire (consul-semantics §L8)', () => {
  it("creates a session with the Go client's name and TTL, acquires with the lock flag and watches the key", async () => {
    mock = mockConsul();
    replyFreeAcquire(mock);
    const clock = new ManualClock();
    const events: unknown[] = [];
    const held = await lock(mock.client, 'locks/a', { clock });
    held.on('lost', (event) => events.push(event));
    await requestsReach(mock, 5);
    expect(held.state).toBe('held');
    expect(held.session).toBe('s1');
    expect(held.lockIndex).toBe(1);
    expect(mock.requests()).toEqual([
      'PUT /v1/session/create',
      'GET /v1/kv/locks/a',
      ACQUIRE,
      'GET /v1/kv/locks/a?consistent=',
      'GET /v1/kv/locks/a?consistent=&index=7',
    ]);
    expect(JSON.parse(String(mock.bodies()[0]))).toEqual({
      Name: 'Consul API Lock',
      TTL: '15s',
      Behavior: 'release',
    });
    expect(LOCK_FLAG_VALUE).toBe(0x2ddccbc058a50c18n);

    replyReleaseDestroy(mock);
    await held.release();
    // ?release first, then the session's destroy: two requests, and close() adds none.
    expect(mock.requests().slice(5)).toEqual([RELEASE, 'PUT /v1/session/destroy/s1']);
    expect(held.state).toBe('released');
    await held.close();
    expect(mock.requests()).toHaveLength(7);
    expect(held.state).toBe('closed');
    expect(held.signal.aborted).toBe(true);
    expect(events).toEqual([]);
  });

  it('refuses a key with foreign flags with LockConflictError and destroys its session', async () => {
    mock = mockConsul();
    replyCreate(mock, 's1');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { flags: '7' }), { headers: meta(5) });
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    const error = await rejection(lock(mock.client, 'locks/a', { clock: new ManualClock() }));
    expect(error).toBeInstanceOf(LockConflictError);
    expect((error as LockConflictError).code).toBe('CONSUL_LOCK_CONFLICT');
    expect(error.message).toContain('locks/a');
    expect(error.message).toContain('Existing key does not match lock use');
    expect(mock.requests()).toEqual([
      'PUT /v1/session/create',
      'GET /v1/kv/locks/a',
      'PUT /v1/session/destroy/s1',
    ]);
  });

  it("blocks while another session holds the key, then waits out that session's lock-delay after a refusal", async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyCreate(mock, 's1');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { session: 's0', lockIndex: 1, modifyIndex: 6 }), {
        headers: meta(6),
      });
    mock.pool
      .intercept({ path: '/v1/session/info/s0', method: 'GET' })
      .reply(200, sessionJson('s0', { lockDelayMs: 3_000 }), { headers: meta(6) });
    // The holder's session expires: the key is free, but inside s0's lock-delay.
    mock.pool
      .intercept({ path: '/v1/kv/locks/a?index=6', method: 'GET' })
      .reply(200, entryJson('locks/a', { lockIndex: 1, modifyIndex: 8 }), { headers: meta(8) });
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'false');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { lockIndex: 1, modifyIndex: 8 }), { headers: meta(8) });
    const pending = lock(mock.client, 'locks/a', { clock });
    await requestsReach(mock, 6);
    clock.advance(2_999);
    await turns();
    expect(mock.requests()).toHaveLength(6);
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    replyMonitor(mock, 'locks/a', 's1', { lockIndex: 2 });
    clock.advance(1);
    const held = await pending;
    expect(held.lockIndex).toBe(2);
    await requestsReach(mock, 9);
    expect(mock.requests()).toEqual([
      'PUT /v1/session/create',
      'GET /v1/kv/locks/a',
      'GET /v1/session/info/s0',
      'GET /v1/kv/locks/a?index=6',
      ACQUIRE,
      'GET /v1/kv/locks/a',
      ACQUIRE,
      'GET /v1/kv/locks/a?consistent=',
      'GET /v1/kv/locks/a?consistent=&index=7',
    ]);
    replyReleaseDestroy(mock);
    await held.close();
  });

  it("reports the key's LockIndex read after the acquire, not one more than a read from before it", async () => {
    mock = mockConsul();
    replyCreate(mock, 's1');
    // Free at LockIndex 1 when read; others took and freed it before our acquire (during a lock-delay wait).
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { lockIndex: 1, modifyIndex: 6 }), { headers: meta(6) });
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    replyMonitor(mock, 'locks/a', 's1', { lockIndex: 3 });
    const acquired: number[] = [];
    const pending = new Lock(mock.client, 'locks/a', { clock: new ManualClock() });
    pending.on('acquired', (event) => acquired.push(event.lockIndex));
    await pending.acquire();
    expect([pending.lockIndex, acquired]).toEqual([3, [3]]);
    await requestsReach(mock, 5);
    expect(mock.requests()).toEqual([
      'PUT /v1/session/create',
      'GET /v1/kv/locks/a',
      ACQUIRE,
      'GET /v1/kv/locks/a?consistent=',
      'GET /v1/kv/locks/a?consistent=&index=7',
    ]);
    replyReleaseDestroy(mock);
    await pending.close();
  });

  it('acquires again when the read after an acquire shows another session (ours was lost in between)', async () => {
    mock = mockConsul();
    replyCreate(mock, 's1');
    mock.pool.intercept({ path: '/v1/kv/locks/a', method: 'GET' }).reply(404, '', { headers: meta(5) });
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a?consistent=', method: 'GET' })
      .reply(200, entryJson('locks/a', { lockIndex: 2, modifyIndex: 8 }), { headers: meta(8) });
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { lockIndex: 2, modifyIndex: 8 }), { headers: meta(8) });
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    replyMonitor(mock, 'locks/a', 's1', { lockIndex: 3 });
    const held = await lock(mock.client, 'locks/a', { clock: new ManualClock() });
    expect(held.lockIndex).toBe(3);
    await requestsReach(mock, 8);
    expect(mock.requests()).toEqual([
      'PUT /v1/session/create',
      'GET /v1/kv/locks/a',
      ACQUIRE,
      'GET /v1/kv/locks/a?consistent=',
      'GET /v1/kv/locks/a',
      ACQUIRE,
      'GET /v1/kv/locks/a?consistent=',
      'GET /v1/kv/locks/a?consistent=&index=7',
    ]);
    replyReleaseDestroy(mock);
    await held.close();
  });

  it('rejects with AbortedError when the signal aborts, leaving no session behind', async () => {
    mock = mockConsul();
    replyCreate(mock, 's1');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { session: 's0' }), { headers: meta(6) });
    mock.pool
      .intercept({ path: '/v1/session/info/s0', method: 'GET' })
      .reply(200, sessionJson('s0'), { headers: meta(6) });
    mock.pool
      .intercept({ path: '/v1/kv/locks/a?index=6', method: 'GET' })
      .reply(200, () => new Promise<string>(() => {}), { headers: meta(9) });
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    const controller = new AbortController();
    const pending = lock(mock.client, 'locks/a', { clock: new ManualClock(), signal: controller.signal });
    await requestsReach(mock, 4);
    controller.abort(new Error('shutting down'));
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(AbortedError);
    expect(mock.requests().at(-1)).toBe('PUT /v1/session/destroy/s1');
    expect(mock.requests()).toHaveLength(5);
  });

  it('refuses a session TTL under 10 s and a second acquire while held', async () => {
    mock = mockConsul();
    expect(() => new Lock(mock.client, 'locks/a', { sessionTtl: '9s' })).toThrow(InvalidArgumentError);
    expect(() => new Lock(mock.client, '/locks/a')).toThrow(InvalidArgumentError);
    replyFreeAcquire(mock);
    const held = await lock(mock.client, 'locks/a', { clock: new ManualClock() });
    await requestsReach(mock, 5);
    const error = await rejection(held.acquire());
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe('lock.acquire locks/a: the lock is already held; release it first');
    replyReleaseDestroy(mock);
    await held.close();
    expect(await rejection(held.acquire())).toBeInstanceOf(ClosedError);
  });
});

describe('renewal (consul-semantics §L8)', () => {
  it('renews every TTL/2 after the last success', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyFreeAcquire(mock);
    const held = await lock(mock.client, 'locks/a', { clock, sessionTtl: '20s' });
    await requestsReach(mock, 5);
    const renew = () =>
      mock.pool
        .intercept({ path: '/v1/session/renew/s1', method: 'PUT' })
        .reply(200, sessionJson('s1', { ttl: '20s' }));
    renew();
    clock.advance(9_999);
    await turns();
    expect(mock.requests()).toHaveLength(5);
    clock.advance(1);
    await requestsReach(mock, 6);
    renew();
    clock.advance(9_999);
    await turns();
    expect(mock.requests()).toHaveLength(6);
    clock.advance(1);
    await requestsReach(mock, 7);
    expect(mock.requests().slice(5)).toEqual(['PUT /v1/session/renew/s1', 'PUT /v1/session/renew/s1']);
    replyReleaseDestroy(mock);
    await held.close();
  });

  it('retries a failing renew every second and loses the lock once a whole TTL passed since the last success', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyFreeAcquire(mock);
    const held = await lock(mock.client, 'locks/a', { clock });
    await requestsReach(mock, 5);
    const lost: unknown[] = [];
    const errors: string[] = [];
    held.on('lost', (event) => lost.push({ reason: event.reason, at: clock.now(), error: event.error }));
    held.on('error', (error) => errors.push(error.code));
    // Renewals at 7.5 s, then every 1 s: 8.5 … 14.5, then the last one at 15 s.
    mock.pool
      .intercept({ path: '/v1/session/renew/s1', method: 'PUT' })
      .reply(500, 'No cluster leader')
      .times(9);
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    clock.advance(7_500);
    for (let attempt = 1; attempt < 9; attempt++) {
      await requestsReach(mock, 5 + attempt);
      await turns();
      expect(lost).toEqual([]);
      expect(held.isHeld).toBe(true);
      clock.advance(attempt === 8 ? 500 : 1_000);
    }
    await requestsReach(mock, 15);
    await held.release();
    expect(lost).toEqual([{ reason: 'renew-failed', at: 15_000, error: expect.any(LockLostError) }]);
    expect(errors).toEqual(Array(9).fill('CONSUL_NO_LEADER'));
    expect(held.state).toBe('lost');
    expect(held.signal.aborted).toBe(true);
    expect(held.signal.reason).toBeInstanceOf(LockLostError);
    const requests = mock.requests();
    expect(requests.slice(5, 14)).toEqual(Array(9).fill('PUT /v1/session/renew/s1'));
    // The monitor's blocking read is aborted; the session is destroyed so nobody waits for its TTL.
    expect(requests.slice(14)).toEqual(['PUT /v1/session/destroy/s1']);
    await held.close();
  });

  it('loses the lock with session-invalidated when a renew answers 404', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyFreeAcquire(mock);
    const held = await lock(mock.client, 'locks/a', { clock });
    await requestsReach(mock, 5);
    const reasons: string[] = [];
    held.on('lost', (event) => reasons.push(event.reason));
    mock.pool
      .intercept({ path: '/v1/session/renew/s1', method: 'PUT' })
      .reply(404, "Session id 's1' not found");
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    clock.advance(7_500);
    await requestsReach(mock, 7);
    await held.close();
    expect(reasons).toEqual(['session-invalidated']);
    expect(mock.requests().slice(5)).toEqual(['PUT /v1/session/renew/s1', 'PUT /v1/session/destroy/s1']);
  });
});

describe('monitor (consul-semantics §L8)', () => {
  it('keeps the lock through 500 No cluster leader answers and loses it when the Session changes', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    const held = replyFreeAcquire(mock);
    const locked = await lock(mock.client, 'locks/a', { clock });
    const events: string[] = [];
    locked.on('lost', (event) => events.push(`lost ${event.reason}`));
    locked.on('error', (error) => events.push(`error ${error.code}`));
    await requestsReach(mock, 5);
    const next = replyMonitorAfterElection(mock);
    held.answer(entryJson('locks/a', { session: 's1', lockIndex: 1, modifyIndex: 7 }));
    // The held read answers unchanged (index 8); the next two reads at 8 meet a leader election.
    await requestsReach(mock, 6);
    expect(events).toEqual(['error CONSUL_NO_LEADER']);
    clock.advance(1_000);
    await requestsReach(mock, 7);
    clock.advance(1_000);
    await requestsReach(mock, 8);
    expect(locked.isHeld).toBe(true);
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    next.answer(entryJson('locks/a', { session: 'other', lockIndex: 2, modifyIndex: 9 }));
    await requestsReach(mock, 9);
    await locked.close();
    expect(events).toEqual(['error CONSUL_NO_LEADER', 'error CONSUL_NO_LEADER', 'lost session-changed']);
    expect(mock.requests().slice(4)).toEqual([
      'GET /v1/kv/locks/a?consistent=&index=7',
      'GET /v1/kv/locks/a?consistent=&index=8',
      'GET /v1/kv/locks/a?consistent=&index=8',
      'GET /v1/kv/locks/a?consistent=&index=8',
      'PUT /v1/session/destroy/s1',
    ]);
  });
});

describe('pacing (consul-semantics §4.7)', () => {
  it('waits retryInterval before the next read when an answer has no X-Consul-Index', async () => {
    mock = mockConsul();
    const clock = new ManualClock();
    replyCreate(mock, 's1');
    mock.pool.intercept({ path: '/v1/kv/locks/a', method: 'GET' }).reply(404, '');
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'true');
    mock.pool
      .intercept({ path: '/v1/kv/locks/a?consistent=', method: 'GET' })
      .reply(200, entryJson('locks/a', { session: 's1', lockIndex: 1 }));
    const held = await lock(mock.client, 'locks/a', { clock });
    await requestsReach(mock, 4);
    clock.advance(999);
    await turns();
    expect(mock.requests()).toHaveLength(4);
    mock.pool
      .intercept({ path: '/v1/kv/locks/a?consistent=&index=1', method: 'GET' })
      .reply(200, () => new Promise<string>(() => {}), { headers: meta(9) });
    clock.advance(1);
    await requestsReach(mock, 5);
    replyReleaseDestroy(mock);
    await held.close();
    expect(mock.requests()).toHaveLength(7);
  });
});

/** After the first blocking answer (index 8): two 500s, then a read held until answered. */
function replyMonitorAfterElection(m: MockConsul) {
  m.pool
    .intercept({ path: '/v1/kv/locks/a?consistent=&index=8', method: 'GET' })
    .reply(500, 'No cluster leader')
    .times(2);
  let answer: (text: string) => void = () => {};
  const body = new Promise<string>((resolve) => {
    answer = resolve;
  });
  m.pool
    .intercept({ path: '/v1/kv/locks/a?consistent=&index=8', method: 'GET' })
    .reply(200, () => body, { headers: meta(9) });
  return { answer };
}
