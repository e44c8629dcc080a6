/** client.session and the lock options of kv.put (the client side the locks are built on). */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { LOCK_FLAG_VALUE } from '../../../src/locks/lock-options.js';
import { type MockConsul, meta, mockConsul, rejection } from '../consul/mock-consul.js';
import { entryJson, FLAG, sessionJson } from './mock-lock.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

describe('client.session (consul-semantics §L1–§L3)', () => {
  it('creates a session with every option, durations sent as strings', async () => {
    mock = mockConsul({ datacenter: 'dc2' });
    mock.pool.intercept({ path: '/v1/session/create?dc=dc2', method: 'PUT' }).reply(200, { ID: 'abc' });
    const id = await mock.client.session.create({
      name: 'jobs',
      ttl: 30_000,
      lockDelay: '1500ms',
      behavior: 'delete',
      nodeChecks: ['serfHealth'],
      serviceChecks: ['service:web'],
    });
    expect(id).toBe('abc');
    expect(JSON.parse(String(mock.bodies()[0]))).toEqual({
      Name: 'jobs',
      TTL: '30s',
      LockDelay: '1500ms',
      Behavior: 'delete',
      NodeChecks: ['serfHealth'],
      ServiceChecks: [{ ID: 'service:web' }],
    });
  });

  it('sends a zero lock-delay as "0s" and refuses a TTL outside 10 s … 24 h before sending', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/session/create', method: 'PUT' }).reply(200, { ID: 'abc' });
    await mock.client.session.create({ lockDelay: 0 });
    expect(JSON.parse(String(mock.bodies()[0]))).toEqual({ LockDelay: '0s' });
    for (const ttl of ['9s', '25h', 'soon']) {
      expect(await rejection(mock.client.session.create({ ttl }))).toBeInstanceOf(InvalidArgumentError);
    }
    expect(await rejection(mock.client.session.create({ lockDelay: '61s' }))).toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(mock.requests()).toHaveLength(1);
  });

  it('renews (null once Consul answers 404), reads and destroys', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/session/renew/s1', method: 'PUT' })
      .reply(200, sessionJson('s1', { ttl: '30s', lockDelayMs: 2_000 }));
    mock.pool
      .intercept({ path: '/v1/session/renew/s1', method: 'PUT' })
      .reply(404, "Session id 's1' not found");
    mock.pool.intercept({ path: '/v1/session/info/s1', method: 'GET' }).reply(200, [], { headers: meta(4) });
    mock.pool.intercept({ path: '/v1/session/destroy/s1', method: 'PUT' }).reply(200, 'true');
    const renewed = await mock.client.session.renew('s1');
    expect(renewed).toEqual({
      id: 's1',
      name: 'Consul API Lock',
      node: 'node-1',
      lockDelayMs: 2_000,
      behavior: 'release',
      ttl: '30s',
      ttlMs: 30_000,
      nodeChecks: ['serfHealth'],
      serviceChecks: [],
      createIndex: 3,
      modifyIndex: 3,
    });
    expect(await mock.client.session.renew('s1')).toBeNull();
    expect(await mock.client.session.info('s1')).toBeNull();
    await mock.client.session.destroy('s1');
    expect(await rejection(mock.client.session.renew(''))).toBeInstanceOf(InvalidArgumentError);
    expect(mock.requests()).toEqual([
      'PUT /v1/session/renew/s1',
      'PUT /v1/session/renew/s1',
      'GET /v1/session/info/s1',
      'PUT /v1/session/destroy/s1',
    ]);
  });
});

describe('kv.put with acquire and release (consul-semantics §L5)', () => {
  it('sends ?acquire / ?release with the exact lock flag and resolves to Consul’s answer', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: `/v1/kv/locks/a?flags=${FLAG}&acquire=s1`, method: 'PUT' })
      .reply(200, 'false');
    mock.pool.intercept({ path: '/v1/kv/locks/a?release=s1', method: 'PUT' }).reply(200, 'true');
    expect(await mock.client.kv.put('locks/a', 'v', { acquire: 's1', flags: LOCK_FLAG_VALUE })).toBe(false);
    expect(await mock.client.kv.put('locks/a', 'v', { release: 's1' })).toBe(true);
  });

  it('refuses two of cas, acquire and release, and an empty session, before sending', async () => {
    mock = mockConsul();
    const kv = mock.client.kv;
    for (const options of [{ acquire: 's1', cas: 3 }, { acquire: 's1', release: 's1' }, { release: '' }]) {
      const error = await rejection(kv.put('locks/a', 'v', options));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toContain('kv.put locks/a');
    }
    expect(mock.requests()).toEqual([]);
  });

  it('reads the lock flag back exactly, above 2^53', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/locks/a', method: 'GET' })
      .reply(200, entryJson('locks/a', { session: 's1', lockIndex: 1 }), { headers: meta(6) });
    const { entry } = await mock.client.kv.get('locks/a');
    expect(entry?.flagsBigInt).toBe(0x2ddccbc058a50c18n);
    expect(entry?.session).toBe('s1');
  });
});
