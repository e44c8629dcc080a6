import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { httpGet, httpPut, httpRequest } from '../helpers/http.js';
import { ManualClock } from '../helpers/manual-clock.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, seed: { 'app/k': 'v' } });
  return server;
}

describe('dev server faults', () => {
  it('answers with the injected status and body, then serves normally', async () => {
    const dev = await start();
    dev.faults.inject({
      fault: { kind: 'status', status: 503, body: 'rate limit exceeded, try again later' },
      times: 2,
    });
    const first = await httpGet(dev.address, '/v1/kv/app/k');
    const second = await httpGet(dev.address, '/v1/kv/app/k');
    const third = await httpGet(dev.address, '/v1/kv/app/k');
    expect([first.status, first.text, first.headers['x-consul-index']]).toEqual([
      503,
      'rate limit exceeded, try again later',
      undefined,
    ]);
    expect([second.status, third.status]).toEqual([503, 200]);
    expect(dev.faults.pending()).toBe(0);
  });

  it('leaves writes alone unless the rule names their method', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'status', status: 500 } });
    expect((await httpPut(dev.address, '/v1/kv/app/w', 'x')).status).toBe(200);
    expect(dev.faults.pending()).toBe(1);
    dev.faults.clear();
    dev.faults.inject({ fault: { kind: 'status', status: 429 }, match: { method: 'PUT' } });
    expect((await httpPut(dev.address, '/v1/kv/app/w', 'y')).status).toBe(429);
    expect(dev.kv.get('app/w')?.value?.toString()).toBe('x');
  });

  it('applies only to the matching key path', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, match: { path: /^other\// } });
    expect((await httpGet(dev.address, '/v1/kv/app/k')).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/kv/other/x')).status).toBe(500);
  });

  it('replaces or removes X-Consul-Index while serving the normal body', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'index', index: 0 } });
    dev.faults.inject({ fault: { kind: 'index', index: 'missing' } });
    const zero = await httpGet(dev.address, '/v1/kv/app/k');
    const missing = await httpGet(dev.address, '/v1/kv/app/k');
    expect([zero.status, zero.headers['x-consul-index']]).toEqual([200, '0']);
    expect(JSON.parse(zero.text)[0].Key).toBe('app/k');
    expect([
      missing.status,
      missing.headers['x-consul-index'],
      missing.headers['x-consul-knownleader'],
    ]).toEqual([200, undefined, 'true']);
  });

  it('applies an index fault to a blocking query when it returns', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'index', index: 1 } });
    const pending = httpGet(dev.address, '/v1/kv/app/k?index=2&wait=10m');
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1), { interval: 2 });
    dev.kv.put('app/k', 'new');
    expect((await pending).headers['x-consul-index']).toBe('1');
  });

  it('makes a blocking query return at once with unchanged data and index (spurious)', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'spurious' } });
    const plain = await httpGet(dev.address, '/v1/kv/app/k');
    expect(dev.faults.pending()).toBe(1);
    const spurious = await httpGet(dev.address, '/v1/kv/app/k?index=2&wait=10m');
    expect([spurious.status, spurious.headers['x-consul-index'], spurious.text]).toEqual([
      200,
      '2',
      plain.text,
    ]);
    expect(dev.stats().blockingHeld).toBe(0);
  });

  it('answers 200 with a broken JSON body (malformed)', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'malformed' } });
    dev.faults.inject({ fault: { kind: 'malformed', body: 'not json' } });
    const first = await httpGet(dev.address, '/v1/kv/app/k');
    const second = await httpGet(dev.address, '/v1/kv/app/k');
    expect([
      first.status,
      first.text,
      first.headers['content-type'],
      first.headers['x-consul-index'],
    ]).toEqual([200, '[{"Key":', 'application/json', '2']);
    expect(second.text).toBe('not json');
  });

  it('sends headers and part of the body, then resets the connection', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'reset' } });
    await expect(httpGet(dev.address, '/v1/kv/app/k')).rejects.toThrow(/^aborted$/);
    expect((await httpGet(dev.address, '/v1/kv/app/k')).status).toBe(200);
  });

  it('hangs until the client gives up', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'hang' } });
    const controller = new AbortController();
    const pending = httpRequest(dev.address, { path: '/v1/kv/app/k', signal: controller.signal });
    await vi.waitFor(() => expect(dev.stats().requests).toBe(1), { interval: 2 });
    controller.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    expect((await httpGet(dev.address, '/v1/kv/app/k')).status).toBe(200);
  });

  it('hangs until the server closes', async () => {
    const dev = await start();
    dev.faults.inject({ fault: { kind: 'hang' } });
    const pending = httpGet(dev.address, '/v1/kv/app/k');
    await vi.waitFor(() => expect(dev.stats().requests).toBe(1), { interval: 2 });
    const failed = expect(pending).rejects.toThrow('socket hang up');
    await dev.close();
    await failed;
  });
});

describe('dev server faults with ACLs on (consul-semantics §1)', () => {
  const denied = (res: { status: number; text: string; headers: Record<string, unknown> }) => [
    res.status,
    res.text,
    res.headers['x-consul-index'],
  ];

  it('answers a request without the token with 403 before any fault, and uses up no rule', async () => {
    const dev = await startDevServer({ port: 0, jitter: false, aclToken: 'T', seed: { 'app/k': 'v' } });
    server = dev;
    const kinds = [
      { kind: 'reset' },
      { kind: 'malformed' },
      { kind: 'status', status: 200, body: 'leaked' },
      { kind: 'index', index: 7 },
      { kind: 'hang' },
    ] as const;
    for (const fault of kinds) {
      dev.faults.clear();
      dev.faults.inject({ fault, times: Number.POSITIVE_INFINITY });
      for (const token of [undefined, 'wrong']) {
        const headers: Record<string, string> = token === undefined ? {} : { 'X-Consul-Token': token };
        const res = await httpGet(dev.address, '/v1/kv/app/k', headers);
        expect(denied(res)).toEqual([
          403,
          token === undefined ? 'Permission denied' : 'ACL not found',
          undefined,
        ]);
      }
      expect(dev.faults.pending()).toBe(1);
    }
  });

  it('checks the token before faults on writes too, and leaves the rules for the token holder', async () => {
    const dev = await startDevServer({ port: 0, jitter: false, aclToken: 'T', seed: { 'app/k': 'v' } });
    server = dev;
    dev.faults.inject({ fault: { kind: 'status', status: 200, body: 'true' }, match: { method: 'PUT' } });
    dev.faults.inject({ fault: { kind: 'status', status: 200, body: 'true' }, match: { method: 'DELETE' } });
    const put = await httpRequest(dev.address, { method: 'PUT', path: '/v1/kv/app/k', body: 'x' });
    const del = await httpRequest(dev.address, { method: 'DELETE', path: '/v1/kv/app/k' });
    expect([denied(put), denied(del)]).toEqual([
      [403, 'Permission denied', undefined],
      [403, 'Permission denied', undefined],
    ]);
    expect(dev.faults.pending()).toBe(2);
    const withToken = await httpRequest(dev.address, {
      method: 'PUT',
      path: '/v1/kv/app/k?token=T',
      body: 'x',
    });
    expect([withToken.status, dev.faults.pending(), dev.kv.get('app/k')?.value?.toString()]).toEqual([
      200,
      1,
      'v',
    ]);
  });
});

describe('dev server agent and check faults', () => {
  it('restarts the agent at the next request: services, checks and sessions are gone', async () => {
    const dev = await start();
    dev.agent.registerService({ Name: 'web', ID: 'web-1', Check: { TTL: '30s' } });
    const session = JSON.parse((await httpPut(dev.address, '/v1/session/create', '{}')).text) as {
      ID: string;
    };
    expect((await httpPut(dev.address, `/v1/kv/app/lock?acquire=${session.ID}`, 'me')).text).toBe('true');
    dev.faults.inject({ fault: { kind: 'agent-restart' } });
    const services = await httpGet(dev.address, '/v1/agent/services');
    expect([services.status, services.text]).toEqual([200, '{}']);
    expect((await httpGet(dev.address, '/v1/agent/checks')).text).toBe('{}');
    expect((await httpGet(dev.address, '/v1/session/list')).text).toBe('[]');
    // The lock was released with its session (consul-semantics §L4).
    const lock = JSON.parse((await httpGet(dev.address, '/v1/kv/app/lock')).text) as [{ Session?: string }];
    expect(lock[0].Session).toBeUndefined();
    expect(dev.faults.pending()).toBe(0);
  });

  it('lets no request without the token take an agent fault when ACLs are on (the ACL check comes first)', async () => {
    server = await startDevServer({ port: 0, jitter: false, aclToken: 'secret' });
    const dev = server;
    dev.agent.registerService({ Name: 'web', ID: 'web-1' });
    dev.faults.inject({ fault: { kind: 'agent-restart' } });
    const denied = await httpGet(dev.address, '/v1/agent/services');
    expect(denied.status).toBe(200);
    expect(denied.text).toBe('{}'); // anonymous reads are filtered, the restart has not happened
    expect(dev.faults.pending()).toBe(1);
    const wrong = await httpGet(dev.address, '/v1/kv/app/k', { 'X-Consul-Token': 'nope' });
    expect(wrong.status).toBe(403);
    expect(dev.faults.pending()).toBe(1);
    const allowed = await httpGet(dev.address, '/v1/agent/services', { 'X-Consul-Token': 'secret' });
    expect([allowed.status, allowed.text]).toEqual([200, '{}']);
    expect(dev.faults.pending()).toBe(0);
  });

  it('opens a no-leader window at the next request that ends by itself after its duration', async () => {
    const clock = new ManualClock();
    server = await startDevServer({ port: 0, jitter: false, clock });
    const dev = server;
    dev.agent.registerService({ Name: 'web', Port: 80 });
    dev.faults.inject({ fault: { kind: 'no-leader', durationMs: 5_000 } });
    const read = async () => {
      const answer = await httpGet(dev.address, '/v1/health/service/web');
      return [answer.status, answer.status === 500 ? answer.text : 'ok'];
    };
    expect(await read()).toEqual([500, 'No cluster leader']);
    clock.advance(4_999);
    expect(await read()).toEqual([500, 'No cluster leader']);
    clock.advance(1);
    expect(await read()).toEqual([200, 'ok']);
    expect(dev.faults.pending()).toBe(0);
  });

  it('makes the next probe of a check meet a target that hangs until its Timeout', async () => {
    const clock = new ManualClock();
    server = await startDevServer({ port: 0, jitter: false, clock, random: () => 0 });
    const dev = server;
    dev.faults.inject({ fault: { kind: 'check-hang' }, match: { path: 'service:web' } });
    dev.agent.registerService({
      Name: 'web',
      Check: { HTTP: `${dev.address}/v1/status/leader`, Interval: '10s', Timeout: '2s', Status: 'passing' },
    });
    clock.advance(1_999);
    expect(dev.agent.checkStatus('service:web')).toBe('passing');
    clock.advance(1);
    expect(dev.agent.catalog.check('service:web')).toMatchObject({
      status: 'critical',
      output: `Get "${dev.address}/v1/status/leader": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
    // The next run reaches the target again.
    clock.advance(10_000);
    await dev.agent.runner.idle();
    expect(dev.agent.checkStatus('service:web')).toBe('passing');
    expect(dev.faults.pending()).toBe(0);
  });
});
