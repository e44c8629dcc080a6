/**
 * ServiceRegistration's loop over an undici MockAgent with fake timers: exact requests and delays for
 * retries (full jitter for 5xx/429/unreachable, every maxMs for 403), the 400 and conflict stops, the
 * heartbeat schedule, re-registration, and close() (consul-semantics §S7).
 */
import { setImmediate as turn } from 'node:timers/promises';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AclDeniedError,
  BadRequestError,
  type ConsulError,
  ServiceConflictError,
} from '../../../src/errors.js';
import {
  type RegistrationEvents,
  registerService,
  type ServiceRegistration,
} from '../../../src/services/registration.js';
import type { RegisterServiceOptions } from '../../../src/services/registration-options.js';
import { recordingLogger } from '../../helpers/logger.js';
import { expectNoToken, ORIGIN, TOKEN } from '../consul/mock-consul.js';

const REGISTER = '/v1/agent/service/register?replace-existing-checks=true';
const SERVICE = '/v1/agent/service/web-1';
const UPDATE = '/v1/agent/check/update/service%3Aweb-1%3Attl';
const MAINTENANCE =
  '/v1/agent/service/maintenance/web-1?enable=true&reason=shutting+down+%28consul-hotreload%29';
const DEREGISTER = '/v1/agent/service/deregister/web-1';

let agent: MockAgent;
let registration: ServiceRegistration | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
});

afterEach(async () => {
  const closing = registration?.close();
  await vi.runAllTimersAsync();
  await closing;
  registration = undefined;
  vi.useRealTimers();
  agent.assertNoPendingInterceptors();
  await agent.close();
});

const pool = () => agent.get(ORIGIN);
const requests = () =>
  (agent.getCallHistory()?.calls() ?? []).map(
    (call) => `${call.method} ${call.fullUrl.slice(call.origin.length)}`,
  );

/** Lets replies and the requests they lead to happen (MockAgent answers on later turns of the event loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await turn();
}

/** Moves fake time forward, then lets what it started finish. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

type Recorded = [keyof RegistrationEvents, unknown];

function start(options: Partial<RegisterServiceOptions> = {}): { events: Recorded[] } {
  const events: Recorded[] = [];
  registration = registerService({
    consul: { dispatcher: agent, env: {}, token: TOKEN },
    name: 'web',
    id: 'web-1',
    address: '10.0.0.1',
    port: 8080,
    ttl: '3s',
    random: () => 0.5,
    retry: { minMs: 100, maxMs: 1000 },
    ...options,
  });
  for (const name of ['registered', 'reregistered', 'health', 'error', 'draining', 'deregistered'] as const) {
    registration.on(name, (payload: unknown) =>
      events.push([name, name === 'error' ? (payload as ConsulError).code : payload]),
    );
  }
  return { events };
}

const notFound = () =>
  pool().intercept({ path: SERVICE, method: 'GET' }).reply(404, 'unknown service ID: web-1');
const ok = (path: string) => pool().intercept({ path, method: 'PUT' }).reply(200, '');
/** The agent's answer for our ID holding this instance's registration (close reads it first). */
const mine = () =>
  pool()
    .intercept({ path: SERVICE, method: 'GET' })
    .reply(200, { ID: 'web-1', Service: 'web', Address: '10.0.0.1', Port: 8080 });

describe('registration retries (consul-semantics §S7)', () => {
  it('retries an unreachable agent, 500 and 429 with full-jitter backoff, then registers and heartbeats', async () => {
    pool().intercept({ path: SERVICE, method: 'GET' }).replyWithError(new Error('connect ECONNREFUSED'));
    pool().intercept({ path: SERVICE, method: 'GET' }).reply(500, 'rpc error making call: EOF');
    pool().intercept({ path: SERVICE, method: 'GET' }).reply(429, '');
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    const { calls, logger } = recordingLogger();
    const { events } = start({ logger });
    await settle();
    expect(requests()).toHaveLength(1);
    // random 0.5: delays are half of 100, 200, 400 ms.
    await advance(49);
    expect(requests()).toHaveLength(1);
    await advance(1);
    expect(requests()).toHaveLength(2);
    await advance(99);
    expect(requests()).toHaveLength(2);
    await advance(1);
    expect(requests()).toHaveLength(3);
    await advance(199);
    expect(requests()).toHaveLength(3);
    await advance(1);
    expect(requests()).toEqual([
      `GET ${SERVICE}`,
      `GET ${SERVICE}`,
      `GET ${SERVICE}`,
      `GET ${SERVICE}`,
      `PUT ${REGISTER}`,
      `PUT ${UPDATE}`,
    ]);
    expect(events).toEqual([
      ['error', 'CONSUL_TRANSPORT'],
      ['error', 'CONSUL_SERVER_ERROR'],
      ['error', 'CONSUL_RATE_LIMITED'],
      ['registered', { id: 'web-1', name: 'web' }],
      ['health', { status: 'passing', output: '', previous: undefined }],
    ]);
    expect(calls.map(([level, obj]) => [level, obj.code, obj.retryInMs])).toEqual([
      ['warn', 'CONSUL_TRANSPORT', 50],
      ['warn', 'CONSUL_SERVER_ERROR', 100],
      ['warn', 'CONSUL_RATE_LIMITED', 200],
      ['info', undefined, undefined],
    ]);
    expect(calls[0]?.[2]).toMatch(/^agent\.service web-1: cannot reach Consul at .*; retrying in 50 ms$/);
  });

  it('retries a 403 every maxMs, never sooner, rejects ready with an ACL error naming service:write, and recovers', async () => {
    notFound();
    pool()
      .intercept({ path: REGISTER, method: 'PUT' })
      .reply(403, "Permission denied: token with AccessorID 'a' lacks permission 'service:write' on \"web\"");
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    const { events } = start();
    const ready = registration?.ready.catch((error: unknown) => error);
    await settle();
    const error = await ready;
    expect(error).toBeInstanceOf(AclDeniedError);
    expect((error as Error).message).toContain("lacks permission 'service:write'");
    expect((error as Error).message).toContain('the token needs service:write on service "web"');
    expectNoToken(error);
    expect(requests()).toHaveLength(2);
    await advance(999);
    expect(requests()).toHaveLength(2);
    await advance(1);
    expect(requests()).toHaveLength(5);
    expect(events.map(([name]) => name)).toEqual(['error', 'registered', 'health']);
  });

  it("stops at a 400 with Consul's text: one attempt, ready rejected, nothing deregistered on close", async () => {
    notFound();
    pool()
      .intercept({ path: REGISTER, method: 'PUT' })
      .reply(
        400,
        "Invalid Service Meta: Couldn't load metadata pair ('a', 'b'): Key is too long (limit: 128 characters)",
      );
    const { events } = start();
    const error = await registration?.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as Error).message).toContain('Key is too long (limit: 128 characters)');
    expect(registration?.state).toBe('failed');
    await advance(3_600_000);
    await registration?.close();
    expect(requests()).toEqual([`GET ${SERVICE}`, `PUT ${REGISTER}`]);
    expect(events).toEqual([['error', 'CONSUL_BAD_REQUEST']]);
  });

  it('refuses an ID held by another address or port without registering or deregistering it', async () => {
    pool()
      .intercept({ path: SERVICE, method: 'GET' })
      .reply(200, { ID: 'web-1', Service: 'web', Address: '10.0.0.2', Port: 8080 });
    start();
    const error = await registration?.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceConflictError);
    expect((error as Error).message).toBe(
      'registerService web-1: the agent already holds this ID for another instance (10.0.0.2:8080, not 10.0.0.1:8080); give each instance its own id, or pass replace: true to take it over',
    );
    await registration?.close();
    expect(requests()).toEqual([`GET ${SERVICE}`]);
  });

  it('takes over a held ID with replace: true, without reading it first', async () => {
    ok(REGISTER);
    ok(UPDATE);
    start({ replace: true });
    await registration?.ready;
    await settle();
    expect(requests()).toEqual([`PUT ${REGISTER}`, `PUT ${UPDATE}`]);
  });

  it('registers over its own earlier registration (same address and port)', async () => {
    pool()
      .intercept({ path: SERVICE, method: 'GET' })
      .reply(200, { ID: 'web-1', Service: 'web', Address: '10.0.0.1', Port: 8080 });
    ok(REGISTER);
    ok(UPDATE);
    start();
    await registration?.ready;
    await settle();
    expect(requests()).toEqual([`GET ${SERVICE}`, `PUT ${REGISTER}`, `PUT ${UPDATE}`]);
  });
});

describe('heartbeat', () => {
  it('passes every TTL/3 shortened by the jitter, and retries a failed beat before the next is due', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    ok(UPDATE);
    pool().intercept({ path: UPDATE, method: 'PUT' }).reply(503, '');
    ok(UPDATE);
    start();
    await settle();
    expect(requests()).toHaveLength(3);
    // TTL 3 s: interval 1000 ms, minus 0.2 × 0.5 of it.
    await advance(899);
    expect(requests()).toHaveLength(3);
    await advance(1);
    expect(requests()).toHaveLength(4);
    await advance(900);
    expect(requests()).toHaveLength(5);
    // After the 503: full jitter from 100 ms, half of it with random 0.5.
    await advance(49);
    expect(requests()).toHaveLength(5);
    await advance(1);
    expect(requests()).toHaveLength(6);
  });

  it('registers again when a heartbeat meets 404 or a check without TTL, with reregistered events', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    pool().intercept({ path: UPDATE, method: 'PUT' }).reply(404, 'Unknown check ID "service:web-1:ttl".');
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    pool()
      .intercept({ path: UPDATE, method: 'PUT' })
      .reply(500, 'CheckID "service:web-1:ttl" does not have associated TTL');
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    const { events } = start();
    await settle();
    await advance(900);
    expect(requests()).toHaveLength(7);
    await advance(900);
    const cycle = [`GET ${SERVICE}`, `PUT ${REGISTER}`, `PUT ${UPDATE}`];
    expect(requests()).toEqual([...cycle, `PUT ${UPDATE}`, ...cycle, `PUT ${UPDATE}`, ...cycle]);
    expect(events).toEqual([
      ['registered', { id: 'web-1', name: 'web' }],
      ['health', { status: 'passing', output: '', previous: undefined }],
      ['reregistered', { id: 'web-1', reason: 'check-unknown' }],
      ['reregistered', { id: 'web-1', reason: 'check-not-ttl' }],
    ]);
  });

  it('waits instead of looping when the agent forgets the service right after each registration', async () => {
    notFound();
    ok(REGISTER);
    pool().intercept({ path: UPDATE, method: 'PUT' }).reply(404, 'Unknown check ID "service:web-1:ttl".');
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    start();
    await settle();
    expect(requests()).toHaveLength(3);
    await advance(999);
    expect(requests()).toHaveLength(3);
    await advance(1);
    expect(requests()).toHaveLength(6);
  });
});

describe('close()', () => {
  it('stops heartbeats, turns maintenance on, drains, deregisters; idempotent and leaves no timer', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    mine();
    ok(MAINTENANCE);
    ok(DEREGISTER);
    const { events } = start({ drain: 500 });
    await registration?.ready;
    await settle();
    const first = registration?.close();
    const second = registration?.close();
    expect(second).toBe(first);
    expect(registration?.deregister()).toBe(first);
    await settle();
    expect(registration?.state).toBe('closing');
    expect(requests().at(-1)).toBe(`PUT ${MAINTENANCE}`);
    await advance(499);
    expect(requests().at(-1)).toBe(`PUT ${MAINTENANCE}`);
    await advance(1);
    await first;
    expect(registration?.state).toBe('closed');
    expect(requests()).toEqual([
      `GET ${SERVICE}`,
      `PUT ${REGISTER}`,
      `PUT ${UPDATE}`,
      `GET ${SERVICE}`,
      `PUT ${MAINTENANCE}`,
      `PUT ${DEREGISTER}`,
    ]);
    expect(events.slice(2)).toEqual([
      ['draining', { id: 'web-1', drainMs: 500 }],
      ['deregistered', { id: 'web-1', removed: true }],
    ]);
    expect(vi.getTimerCount()).toBe(0);
    await advance(60_000);
    expect(requests()).toHaveLength(6);
  });

  it('rejects a pending ready with ClosedError and still deregisters a registration that landed', async () => {
    pool().intercept({ path: SERVICE, method: 'GET' }).reply(500, '');
    mine();
    ok(DEREGISTER);
    const { events } = start();
    await settle();
    await registration?.close();
    await expect(registration?.ready).rejects.toMatchObject({ code: 'CONSUL_CLOSED' });
    expect(requests()).toEqual([`GET ${SERVICE}`, `GET ${SERVICE}`, `PUT ${DEREGISTER}`]);
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR'],
      ['deregistered', { id: 'web-1', removed: true }],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cuts a drain a slow maintenance request delayed, so the deregister still runs inside closeTimeout', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    mine();
    // Maintenance answers after 700 ms; a drain of 500 from then would end past closeTimeout (1000).
    pool()
      .intercept({ path: MAINTENANCE, method: 'PUT' })
      .reply(200, () => new Promise<string>((resolve) => setTimeout(() => resolve(''), 700)));
    ok(DEREGISTER);
    const { events } = start({ drain: 500, closeTimeout: 1000 });
    await registration?.ready;
    await settle();
    let closed = false;
    const closing = registration?.close().then(() => (closed = true));
    await settle();
    await advance(749);
    expect([requests().at(-1), closed]).toEqual([`PUT ${MAINTENANCE}`, false]);
    // Maintenance and drain end by (closeTimeout + drain) / 2: the deregister keeps the rest.
    await advance(1);
    await closing;
    expect(requests().at(-1)).toBe(`PUT ${DEREGISTER}`);
    expect(events.slice(2)).toEqual([
      ['draining', { id: 'web-1', drainMs: 500 }],
      ['deregistered', { id: 'web-1', removed: true }],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves by closeTimeout against a hung agent, having tried the deregister, and leaves no timer', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    const hung = () => new Promise<string>(() => {});
    mine();
    pool().intercept({ path: MAINTENANCE, method: 'PUT' }).reply(200, hung);
    pool().intercept({ path: DEREGISTER, method: 'PUT' }).reply(200, hung);
    const { events } = start({ drain: 200, closeTimeout: 1000 });
    await registration?.ready;
    await settle();
    let closed = false;
    const closing = registration?.close().then(() => (closed = true));
    await advance(999);
    expect(closed).toBe(false);
    // The maintenance request was given up at 600 ms; the deregister was sent then and hangs too.
    expect(requests().slice(3)).toEqual([`GET ${SERVICE}`, `PUT ${MAINTENANCE}`, `PUT ${DEREGISTER}`]);
    await advance(1);
    await closing;
    expect([closed, registration?.state]).toEqual([true, 'closed']);
    expect(events.slice(2)).toEqual([
      ['error', 'CONSUL_ABORTED'],
      ['error', 'CONSUL_ABORTED'],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves the ID alone when another instance registered over ours: no maintenance, no deregister', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    // Another instance took the ID (replace: true on its side): our next beat meets its check without TTL.
    pool()
      .intercept({ path: UPDATE, method: 'PUT' })
      .reply(500, 'CheckID "service:web-1:ttl" does not have associated TTL');
    const other = { ID: 'web-1', Service: 'web', Address: '10.0.0.2', Port: 8080 };
    pool().intercept({ path: SERVICE, method: 'GET' }).reply(200, other).times(2);
    const { events } = start();
    await registration?.ready;
    await advance(900);
    expect(events.slice(2)).toEqual([['error', 'CONSUL_SERVICE_CONFLICT']]);
    await registration?.close();
    expect(requests()).toEqual([
      `GET ${SERVICE}`,
      `PUT ${REGISTER}`,
      `PUT ${UPDATE}`,
      `PUT ${UPDATE}`,
      `GET ${SERVICE}`,
      `GET ${SERVICE}`,
    ]);
    expect(events.slice(3)).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves the ID alone when the read on close fails after a conflict', async () => {
    notFound();
    ok(REGISTER);
    ok(UPDATE);
    pool().intercept({ path: UPDATE, method: 'PUT' }).reply(404, 'Unknown check ID "service:web-1:ttl".');
    pool()
      .intercept({ path: SERVICE, method: 'GET' })
      .reply(200, { ID: 'web-1', Service: 'web', Address: '10.0.0.2', Port: 8080 });
    pool().intercept({ path: SERVICE, method: 'GET' }).reply(500, '');
    const { events } = start();
    await registration?.ready;
    await advance(900);
    await registration?.close();
    expect(requests().slice(3)).toEqual([`PUT ${UPDATE}`, `GET ${SERVICE}`, `GET ${SERVICE}`]);
    expect(events.slice(2)).toEqual([
      ['error', 'CONSUL_SERVICE_CONFLICT'],
      ['error', 'CONSUL_SERVER_ERROR'],
    ]);
  });
});
