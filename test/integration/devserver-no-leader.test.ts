/**
 * The dev server without a cluster leader (consul-semantics §S9.5): KV, transaction and session requests are
 * refused as Consul's RPC layer refuses them, stale reads are served, the agent's local endpoints keep
 * answering, held blocking queries keep waiting, and session TTLs neither run out nor keep their progress.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NODE_NAME } from '../../src/devserver/catalog.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { httpGet, httpPut, httpRequest, type RawResponse } from '../helpers/http.js';
import { ManualClock } from '../helpers/manual-clock.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(clock?: ManualClock): Promise<DevServer> {
  server = await startDevServer({
    port: 0,
    jitter: false,
    seed: { 'app/k': 'v' },
    ...(clock === undefined ? {} : { clock, now: () => clock.now() }),
  });
  return server;
}

const NO_LEADER = [500, 'No cluster leader'];
const answer = (res: RawResponse) => [res.status, res.text];
const send = (dev: DevServer, method: string, path: string, body?: string) =>
  httpRequest(dev.address, { method, path, ...(body === undefined ? {} : { body }) });

async function createSession(dev: DevServer, ttl?: string): Promise<string> {
  const body = ttl === undefined ? '' : JSON.stringify({ TTL: ttl });
  return ((await httpPut(dev.address, '/v1/session/create', body)).text.match(/"ID":"([^"]+)"/) ??
    [])[1] as string;
}

const TXN_READ = JSON.stringify([{ KV: { Verb: 'get', Key: 'app/k' } }]);
const TXN_WRITE = JSON.stringify([{ KV: { Verb: 'set', Key: 'app/t', Value: 'dA==' } }]);

describe('dev server without a leader (consul-semantics §S9.5)', () => {
  it('refuses KV writes and default or consistent reads, and serves stale reads with KnownLeader false', async () => {
    const dev = await start();
    const index = (await httpGet(dev.address, '/v1/kv/app/k')).headers['x-consul-index'];
    dev.agent.setLeader(false);
    for (const path of ['/v1/kv/app/k', '/v1/kv/app/?recurse', '/v1/kv/?keys', '/v1/kv/app/k?consistent']) {
      expect(answer(await httpGet(dev.address, path))).toEqual(NO_LEADER);
    }
    expect(answer(await httpPut(dev.address, '/v1/kv/app/w', 'x'))).toEqual(NO_LEADER);
    expect(answer(await httpPut(dev.address, '/v1/kv/app/w?stale', 'x'))).toEqual(NO_LEADER);
    expect(answer(await send(dev, 'DELETE', '/v1/kv/app/k'))).toEqual(NO_LEADER);
    for (const path of ['/v1/kv/app/k?stale', '/v1/kv/app/k?max_stale=5s']) {
      const stale = await httpGet(dev.address, path);
      expect([stale.status, stale.headers['x-consul-knownleader'], stale.headers['x-consul-index']]).toEqual([
        200,
        'false',
        index,
      ]);
    }
    // A bad parameter is still refused first, and another datacenter is still no path.
    expect(answer(await httpGet(dev.address, '/v1/kv/app/k?index=x'))).toEqual([400, 'Invalid index']);
    expect(answer(await httpGet(dev.address, '/v1/kv/app/k?dc=dc2'))).toEqual([500, 'No path to datacenter']);

    dev.agent.setLeader(true);
    expect((await httpPut(dev.address, '/v1/kv/app/w', 'x')).status).toBe(200);
    const read = await httpGet(dev.address, '/v1/kv/app/k');
    expect([read.status, read.headers['x-consul-knownleader']]).toEqual([200, 'true']);
    expect((await httpGet(dev.address, '/v1/kv/app/w?raw')).text).toBe('x');
  });

  it('refuses write transactions and serves read-only ones only when stale', async () => {
    const dev = await start();
    dev.agent.setLeader(false);
    expect(answer(await send(dev, 'PUT', '/v1/txn', TXN_WRITE))).toEqual(NO_LEADER);
    expect(answer(await send(dev, 'PUT', '/v1/txn?stale', TXN_WRITE))).toEqual(NO_LEADER);
    expect(answer(await send(dev, 'PUT', '/v1/txn', TXN_READ))).toEqual(NO_LEADER);
    const stale = await send(dev, 'PUT', '/v1/txn?stale', TXN_READ);
    expect([stale.status, stale.headers['x-consul-knownleader']]).toEqual([200, 'false']);
    expect(JSON.parse(stale.text)).toMatchObject({ KnownLeader: false, Errors: null });
    dev.agent.setLeader(true);
    expect((await send(dev, 'PUT', '/v1/txn', TXN_WRITE)).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/kv/app/t?raw')).text).toBe('t');
  });

  it('refuses every session write, renew included, and serves stale session reads', async () => {
    const dev = await start();
    const id = await createSession(dev);
    dev.agent.setLeader(false);
    expect(answer(await httpPut(dev.address, '/v1/session/create'))).toEqual(NO_LEADER);
    expect(answer(await httpPut(dev.address, `/v1/session/renew/${id}`))).toEqual(NO_LEADER);
    expect(answer(await httpPut(dev.address, `/v1/session/renew/${id}?stale`))).toEqual(NO_LEADER);
    expect(answer(await httpPut(dev.address, `/v1/session/destroy/${id}`))).toEqual(NO_LEADER);
    for (const path of [`/v1/session/info/${id}`, '/v1/session/list', `/v1/session/node/${NODE_NAME}`]) {
      expect(answer(await httpGet(dev.address, path))).toEqual(NO_LEADER);
    }
    for (const path of [
      `/v1/session/info/${id}?stale`,
      '/v1/session/list?stale',
      `/v1/session/node/${NODE_NAME}?stale`,
    ]) {
      const stale = await httpGet(dev.address, path);
      expect([stale.status, stale.headers['x-consul-knownleader'], JSON.parse(stale.text)[0]?.ID]).toEqual([
        200,
        'false',
        id,
      ]);
    }
    dev.agent.setLeader(true);
    expect((await httpPut(dev.address, `/v1/session/destroy/${id}`)).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/session/list')).text).toBe('[]');
  });

  it('refuses before the token is looked at, as Consul forwards first', async () => {
    server = await startDevServer({ port: 0, jitter: false, aclToken: 'secret' });
    const dev = server;
    dev.agent.setLeader(false);
    expect(answer(await httpGet(dev.address, '/v1/kv/app/k'))).toEqual(NO_LEADER);
    expect(answer(await httpGet(dev.address, '/v1/session/list'))).toEqual(NO_LEADER);
    expect(answer(await httpPut(dev.address, '/v1/session/create'))).toEqual(NO_LEADER);
    expect((await httpGet(dev.address, '/v1/kv/app/k?stale')).status).toBe(403);
  });

  it("keeps the agent's local endpoints answering", async () => {
    const dev = await start();
    dev.agent.setLeader(false);
    const register = await send(
      dev,
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({ Name: 'web', Port: 80 }),
    );
    expect(register.status).toBe(200);
    const services = await httpGet(dev.address, '/v1/agent/services');
    expect([services.status, Object.keys(JSON.parse(services.text))]).toEqual([200, ['web']]);
    expect((await httpGet(dev.address, '/v1/agent/checks')).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/agent/health/service/name/web')).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/agent/self')).status).toBe(200);
    expect((await httpGet(dev.address, '/v1/status/leader')).text).toBe('""');
    expect(answer(await httpGet(dev.address, '/v1/catalog/services'))).toEqual(NO_LEADER);
    const stale = await httpGet(dev.address, '/v1/health/service/web?max_stale=10s');
    expect([stale.status, stale.headers['x-consul-knownleader']]).toEqual([200, 'false']);
  });

  it('lets a blocking query held when the leader goes keep waiting until its wait ends', async () => {
    const clock = new ManualClock();
    const dev = await start(clock);
    const index = (await httpGet(dev.address, '/v1/kv/app/k')).headers['x-consul-index'];
    const held = httpGet(dev.address, `/v1/kv/app/k?index=${index}&wait=300ms`);
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1));
    dev.agent.setLeader(false);
    // The window refuses new requests; the held one is not ended by it.
    expect(answer(await httpGet(dev.address, '/v1/kv/app/k'))).toEqual(NO_LEADER);
    expect(dev.stats().blockingHeld).toBe(1);
    const done = await held;
    expect([done.status, done.headers['x-consul-index'], done.headers['x-consul-knownleader']]).toEqual([
      200,
      index,
      'false',
    ]);
  });

  it('stops session TTLs without a leader and restarts them at full length after', async () => {
    const clock = new ManualClock();
    const dev = await start(clock);
    const id = await createSession(dev, '10s');
    clock.advance(15_000);
    dev.agent.noLeaderFor(60_000);
    // A TTL session lives 2 × TTL; without a leader no timer runs, however long the window.
    clock.advance(59_999);
    expect(JSON.parse((await httpGet(dev.address, '/v1/session/list?stale')).text)).toHaveLength(1);
    clock.advance(1);
    // The window is over: the timer restarted at 20 s, so 19.999 s later the session is still there.
    clock.advance(19_999);
    expect(JSON.parse((await httpGet(dev.address, `/v1/session/info/${id}`)).text)).toHaveLength(1);
    clock.advance(1);
    expect((await httpGet(dev.address, '/v1/session/list')).text).toBe('[]');
  });
});
