import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError } from '../../../src/errors.js';
import { type MockConsul, meta, mockConsul, rejection } from './mock-consul.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

describe("the caller's signal", () => {
  it('gets one abort listener however many requests are sent with it', async () => {
    mock = mockConsul();
    const controller = new AbortController();
    for (let i = 0; i < 15; i++) {
      mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(200, [], { headers: meta(3) });
      await mock.client.kv.get('a', { signal: controller.signal });
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
  });

  it('aborts every request in flight under it, and no request that already ended', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/done', method: 'GET' }).reply(200, [], { headers: meta(3) });
    for (const key of ['a', 'b', 'c']) {
      mock.pool
        .intercept({ path: `/v1/kv/${key}?index=3`, method: 'GET' })
        .reply(404, '', { headers: meta(3) })
        .delay(10_000);
    }
    const controller = new AbortController();
    const { signal } = controller;
    const ended = await mock.client.kv.get('done', { signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    const inFlight = ['a', 'b', 'c'].map((key) => rejection(mock.client.kv.get(key, { index: 3, signal })));
    const reason = new Error('shutting down');
    controller.abort(reason);
    const errors = await Promise.all(inFlight);
    expect(errors.map((error) => [error instanceof AbortedError, error.cause])).toEqual([
      [true, reason],
      [true, reason],
      [true, reason],
    ]);
    expect(ended.entry).toBeNull();
  });

  it('still aborts a later request once earlier ones under the same signal have ended', async () => {
    mock = mockConsul();
    const controller = new AbortController();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(200, [], { headers: meta(3) });
    await mock.client.kv.get('a', { signal: controller.signal });
    mock.pool
      .intercept({ path: '/v1/kv/b?index=3', method: 'GET' })
      .reply(404, '', { headers: meta(3) })
      .delay(10_000);
    const later = rejection(mock.client.kv.get('b', { index: 3, signal: controller.signal }));
    controller.abort('stop');
    const error = await later;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.cause).toBe('stop');
  });
});
