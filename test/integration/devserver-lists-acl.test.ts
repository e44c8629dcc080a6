/**
 * The dev server's `?filter` on the agent and catalog lists (consul-semantics §S4.5), the ACL rules of the
 * check and maintenance writes (§S6.1), and the held-query counts of `stats()`, over real sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { ManualClock } from '../helpers/manual-clock.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, clock: new ManualClock(), ...options });
  return server;
}

async function call(dev: DevServer, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(`${dev.address}${path}`, {
    method,
    headers: token === undefined ? {} : { 'X-Consul-Token': token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    headers: response.headers,
    json: () => JSON.parse(text) as unknown,
  };
}

const q = (expression: string) => encodeURIComponent(expression);

async function registerTwo(dev: DevServer, token?: string): Promise<void> {
  const web1 = {
    Name: 'web',
    ID: 'web-1',
    Tags: ['v1'],
    Meta: { env: 'prod' },
    Port: 80,
    Check: { TTL: '10s', Status: 'passing' },
  };
  const api1 = { Name: 'api', ID: 'api-1', Tags: ['v2'], Meta: { env: 'dev' }, Check: { TTL: '10s' } };
  for (const definition of [web1, api1]) {
    const put = await call(dev, 'PUT', '/v1/agent/service/register', definition, token);
    expect(put.status).toBe(200);
  }
}

describe('?filter on the agent and catalog lists (consul-semantics §S4.5)', () => {
  it('filters /v1/agent/services over AgentService values', async () => {
    const dev = await start();
    await registerTwo(dev);
    const keys = async (expression: string) =>
      Object.keys((await call(dev, 'GET', `/v1/agent/services?filter=${q(expression)}`)).json() as object);
    expect(await keys('Tags contains "v1"')).toEqual(['web-1']);
    expect(await keys('Meta.env == dev')).toEqual(['api-1']);
    expect(await keys('Port == 80 or Service == api')).toEqual(['web-1', 'api-1']);
    expect(await keys('not Service == web')).toEqual(['api-1']);
    // ServiceName is a ServiceNode field, not an AgentService one.
    const bad = await call(dev, 'GET', `/v1/agent/services?filter=${q('ServiceName == web')}`);
    expect([bad.status, bad.text]).toEqual([
      400,
      'Failed to create boolean expression evaluator: Selector "ServiceName" is not valid',
    ]);
  });

  it('filters /v1/agent/checks over HealthCheck values', async () => {
    const dev = await start();
    await registerTwo(dev);
    const keys = async (expression: string) =>
      Object.keys((await call(dev, 'GET', `/v1/agent/checks?filter=${q(expression)}`)).json() as object);
    expect(await keys('Status == critical')).toEqual(['service:api-1']);
    expect(await keys('ServiceTags contains v1')).toEqual(['service:web-1']);
    const bad = await call(dev, 'GET', `/v1/agent/checks?filter=${q('Service.ID == "web-1"')}`);
    expect([bad.status, bad.text]).toEqual([
      400,
      'Failed to create boolean expression evaluator: Selector "Service" is not valid',
    ]);
  });

  it('filters /v1/catalog/services over ServiceNodes before grouping them by name', async () => {
    const dev = await start();
    await registerTwo(dev);
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', ID: 'web-2', Tags: ['canary'] });
    const services = async (expression: string) =>
      (await call(dev, 'GET', `/v1/catalog/services?filter=${q(expression)}`)).json();
    expect(await services('ServiceMeta.env == prod')).toEqual({ web: ['v1'] });
    expect(await services('ServiceName == web')).toEqual({ web: ['canary', 'v1'] });
    expect(await services('ServiceTags contains v2')).toEqual({ api: ['v2'] });
    const bad = await call(dev, 'GET', `/v1/catalog/services?filter=${q('Service == web')}`);
    expect([bad.status, bad.text]).toEqual([
      400,
      'Failed to create boolean expression evaluator: Selector "Service" is not valid',
    ]);
  });

  it('filters /v1/catalog/nodes over Nodes', async () => {
    const dev = await start();
    const nodes = async (expression: string) =>
      (
        (await call(dev, 'GET', `/v1/catalog/nodes?filter=${q(expression)}`)).json() as { Node: string }[]
      ).map((node) => node.Node);
    expect(await nodes('Node == "node-1"')).toEqual(['node-1']);
    expect(await nodes('Datacenter != dc1')).toEqual([]);
    const bad = await call(dev, 'GET', `/v1/catalog/nodes?filter=${q('ServiceName == web')}`);
    expect(bad.status).toBe(400);
  });
});

const DENIED = (permission: string, resource: string) =>
  `Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' lacks permission '${permission}' on ${JSON.stringify(resource)}`;

describe('ACLs on check and maintenance writes (consul-semantics §S6.1)', () => {
  it('needs service:write on the service for its check writes, node:write for node checks', async () => {
    const dev = await start({ aclToken: 'secret' });
    await registerTwo(dev, 'secret');
    const writes: [string, unknown?][] = [
      ['/v1/agent/check/pass/service:web-1'],
      ['/v1/agent/check/warn/service:web-1'],
      ['/v1/agent/check/fail/service:web-1'],
      ['/v1/agent/check/update/service:web-1', { Status: 'passing' }],
      ['/v1/agent/check/deregister/service:web-1'],
      ['/v1/agent/check/register', { Name: 'extra', ServiceID: 'web-1', TTL: '10s' }],
      ['/v1/agent/service/maintenance/web-1?enable=true'],
      ['/v1/agent/service/deregister/web-1'],
    ];
    for (const [path, body] of writes) {
      const denied = await call(dev, 'PUT', path, body);
      expect([path, denied.status, denied.text]).toEqual([path, 403, DENIED('service:write', 'web')]);
      const unknown = await call(dev, 'PUT', path, body, 'other');
      expect([path, unknown.status, unknown.text]).toEqual([path, 403, 'ACL not found']);
    }
    const nodeWrites: [string, unknown?][] = [
      ['/v1/agent/check/register', { Name: 'disk', TTL: '10s' }],
      ['/v1/agent/maintenance?enable=true'],
    ];
    for (const [path, body] of nodeWrites) {
      const denied = await call(dev, 'PUT', path, body);
      expect([path, denied.status, denied.text]).toEqual([path, 403, DENIED('node:write', 'node-1')]);
    }
    // Nothing changed: the check is still passing, no maintenance, no new check.
    expect(dev.agent.checkStatus('service:web-1')).toBe('passing');
    expect(dev.agent.catalog.checks().map((check) => check.checkId)).toEqual([
      'serfHealth',
      'service:api-1',
      'service:web-1',
    ]);
    // With the token, every one of them is allowed.
    for (const [path, body] of [...nodeWrites, ...writes]) {
      const allowed = await call(dev, 'PUT', path, body, 'secret');
      expect([path, allowed.status]).toEqual([path, 200]);
    }
  });

  it('answers 404 for an unknown check or service before the ACL check', async () => {
    const dev = await start({ aclToken: 'secret' });
    const check = await call(dev, 'PUT', '/v1/agent/check/pass/nope');
    expect([check.status, check.text]).toEqual([
      404,
      'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.',
    ]);
    const service = await call(dev, 'PUT', '/v1/agent/service/maintenance/nope?enable=true');
    expect([service.status, service.text]).toEqual([
      404,
      'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.',
    ]);
  });
});

describe('stats() counts every held blocking query by kind', () => {
  it('counts KV, session, catalog, health and agent queries, and their wake-ups', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Check: { TTL: '10s' } });
    const index = (response: { headers: Headers }) => Number(response.headers.get('x-consul-index'));
    const health = await call(dev, 'GET', '/v1/health/service/web');
    const services = await call(dev, 'GET', '/v1/catalog/services');
    const sessions = await call(dev, 'GET', '/v1/session/list');
    const agent = await call(dev, 'GET', '/v1/agent/service/web');
    dev.kv.put('k', 'v');
    const held = [
      call(dev, 'GET', `/v1/health/service/web?index=${index(health)}&wait=5s`),
      call(dev, 'GET', `/v1/catalog/services?index=${index(services)}&wait=5s`),
      call(dev, 'GET', `/v1/session/list?index=${index(sessions)}&wait=5s`),
      call(dev, 'GET', `/v1/agent/service/web?hash=${agent.headers.get('x-consul-contenthash')}&wait=5s`),
      call(dev, 'GET', `/v1/kv/k?index=${dev.kv.get('k')?.modifyIndex}&wait=5s`),
    ];
    await expect.poll(() => dev.stats().blockingHeld).toBe(5);
    expect(dev.stats().blockingHeldByKind).toEqual({ kv: 1, session: 1, catalog: 1, health: 1, agent: 1 });
    // A check flip wakes the health query only (the agent hash of the service does not change).
    await call(dev, 'PUT', '/v1/agent/check/pass/service:web');
    expect((await held[0])?.status).toBe(200);
    expect(dev.stats()).toMatchObject({
      blockingHeld: 4,
      blockingHeldByKind: { kv: 1, session: 1, catalog: 1, health: 0, agent: 1 },
      wakeupsByKind: { kv: 0, session: 0, catalog: 0, health: 1, agent: 1 },
      wakeups: 2,
    });
    dev.kv.put('k', 'w');
    await call(dev, 'PUT', '/v1/session/create', {});
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      Tags: ['new'],
      Check: { TTL: '10s' },
    });
    await Promise.all(held);
    expect(dev.stats()).toMatchObject({ blockingHeld: 0 });
  });
});

describe('answers shared by identical health reads', () => {
  it('gives reads that differ in ?passing or ?filter their own answer on one wake-up', async () => {
    const dev = await start();
    await registerTwo(dev);
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-2',
      Check: { TTL: '10s', Status: 'passing' },
    });
    const first = await call(dev, 'GET', '/v1/health/service/web');
    const index = Number(first.headers.get('x-consul-index'));
    const ids = async (pending: ReturnType<typeof call>) =>
      ((await pending).json() as { Service: { ID: string } }[]).map((entry) => entry.Service.ID);
    const all = call(dev, 'GET', `/v1/health/service/web?index=${index}&wait=5s`);
    const allAgain = call(dev, 'GET', `/v1/health/service/web?index=${index}&wait=5s`);
    const passing = call(dev, 'GET', `/v1/health/service/web?passing&index=${index}&wait=5s`);
    const filtered = call(
      dev,
      'GET',
      `/v1/health/service/web?filter=${q('Service.ID == "web-2"')}&index=${index}&wait=5s`,
    );
    await expect.poll(() => dev.stats().blockingHeldByKind.health).toBe(4);
    await call(dev, 'PUT', '/v1/agent/check/fail/service:web-1');
    expect(await Promise.all([ids(all), ids(allAgain), ids(passing), ids(filtered)])).toEqual([
      ['web-1', 'web-2'],
      ['web-1', 'web-2'],
      ['web-2'],
      ['web-2'],
    ]);
    // A later write is seen: the shared answer lasts only until the catalog changes.
    await call(dev, 'PUT', '/v1/agent/check/pass/service:web-1');
    expect(await ids(call(dev, 'GET', '/v1/health/service/web?passing'))).toEqual(['web-1', 'web-2']);
  });
});

describe('agent local health (consul-semantics §S4.4)', () => {
  it('answers unknown IDs and names with 404 and a JSON body, or text when asked', async () => {
    const dev = await start();
    const byId = await call(dev, 'GET', '/v1/agent/health/service/id/nope');
    expect([byId.status, byId.json()]).toEqual([
      404,
      { AggregatedStatus: 'critical', Service: null, Checks: null },
    ]);
    const byName = await call(dev, 'GET', '/v1/agent/health/service/name/nope');
    expect([byName.status, byName.text]).toEqual([404, '[]']);
    const text = await fetch(`${dev.address}/v1/agent/health/service/name/nope`, {
      headers: { Accept: 'text/plain' },
    });
    expect([text.status, await text.text()]).toEqual([404, 'ServiceName nope Not Found']);
    // Accept: text/plain wins over ?format (agent/agent_endpoint.go returnTextPlain).
    const accepted = await fetch(`${dev.address}/v1/agent/health/service/id/nope?format=json`, {
      headers: { Accept: 'text/plain' },
    });
    expect([accepted.status, await accepted.text()]).toEqual([404, 'ServiceId nope not found']);
    expect((await call(dev, 'GET', '/v1/agent/health/service/id/')).text).toBe('Missing serviceID');
    expect((await call(dev, 'GET', '/v1/agent/health/service/name/')).text).toBe('Missing service Name');
  });

  it('takes the worst instance for a name and needs service:read with ACLs on', async () => {
    const dev = await start({ aclToken: 'secret' });
    await registerTwo(dev, 'secret');
    await call(
      dev,
      'PUT',
      '/v1/agent/service/register',
      { Name: 'api', ID: 'api-2', Check: { TTL: '10s', Status: 'passing' } },
      'secret',
    );
    const api = await call(dev, 'GET', '/v1/agent/health/service/name/api?format=text', undefined, 'secret');
    expect([api.status, api.text]).toEqual([503, 'critical']);
    const web = await call(dev, 'GET', '/v1/agent/health/service/id/web-1', undefined, 'secret');
    expect([web.status, (web.json() as { AggregatedStatus: string }).AggregatedStatus]).toEqual([
      200,
      'passing',
    ]);
    const denied = await call(dev, 'GET', '/v1/agent/health/service/name/api');
    expect([denied.status, denied.text]).toEqual([403, DENIED('service:read', 'api')]);
    const deniedId = await call(dev, 'GET', '/v1/agent/health/service/id/web-1');
    expect([deniedId.status, deniedId.text]).toEqual([403, DENIED('service:read', 'web')]);
    expect((await call(dev, 'GET', '/v1/agent/health/service/id/web-1', undefined, 'other')).text).toBe(
      'ACL not found',
    );
  });

  it('answers a check registered on an unknown service with 404', async () => {
    const dev = await start();
    const res = await call(dev, 'PUT', '/v1/agent/check/register', {
      Name: 'x',
      TTL: '10s',
      ServiceID: 'nope',
    });
    expect([res.status, res.text]).toEqual([404, 'ServiceID "nope" does not exist']);
  });
});

describe('HTTP faults on the health, catalog and agent endpoints', () => {
  it('applies status, index, spurious and malformed faults to health and catalog reads by URL path', async () => {
    const dev = await start();
    await registerTwo(dev);
    dev.faults.inject({
      fault: { kind: 'status', status: 503, body: 'down' },
      match: { path: '/v1/health/service/web' },
    });
    const failed = await call(dev, 'GET', '/v1/health/service/web');
    expect([failed.status, failed.text]).toEqual([503, 'down']);
    expect((await call(dev, 'GET', '/v1/health/service/web')).status).toBe(200);
    dev.faults.inject({ fault: { kind: 'index', index: 0 }, match: { path: /^\/v1\/catalog\// } });
    expect((await call(dev, 'GET', '/v1/catalog/services')).headers.get('x-consul-index')).toBe('0');
    const first = await call(dev, 'GET', '/v1/health/service/api');
    const index = first.headers.get('x-consul-index');
    dev.faults.inject({ fault: { kind: 'spurious' } });
    const spurious = await call(dev, 'GET', `/v1/health/service/api?index=${index}&wait=5s`);
    expect([spurious.headers.get('x-consul-index'), spurious.text]).toEqual([index, first.text]);
    dev.faults.inject({ fault: { kind: 'malformed' } });
    const malformed = await call(dev, 'GET', '/v1/health/checks/web');
    expect([malformed.status, malformed.text]).toEqual([200, '[{"Key":']);
    expect(dev.faults.pending()).toBe(0);
  });

  it('applies a GET rule to agent reads by URL path', async () => {
    const dev = await start();
    await registerTwo(dev);
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, match: { path: '/v1/agent/services' } });
    expect((await call(dev, 'GET', '/v1/agent/checks')).status).toBe(200);
    expect((await call(dev, 'GET', '/v1/agent/services')).status).toBe(500);
    expect(Object.keys((await call(dev, 'GET', '/v1/agent/services')).json() as object)).toEqual([
      'web-1',
      'api-1',
    ]);
  });

  it('applies faults to session reads and writes by URL path', async () => {
    const dev = await start();
    const created = await call(dev, 'PUT', '/v1/session/create', { TTL: '10s' });
    const { ID } = created.json() as { ID: string };
    dev.faults.inject({
      fault: { kind: 'status', status: 500, body: 'No cluster leader' },
      match: { method: 'PUT', path: `/v1/session/renew/${ID}` },
    });
    const renew = await call(dev, 'PUT', `/v1/session/renew/${ID}`);
    expect([renew.status, renew.text]).toEqual([500, 'No cluster leader']);
    expect((await call(dev, 'PUT', `/v1/session/renew/${ID}`)).status).toBe(200);
    dev.faults.inject({ fault: { kind: 'index', index: 1 }, match: { path: '/v1/session/list' } });
    expect((await call(dev, 'GET', '/v1/session/list')).headers.get('x-consul-index')).toBe('1');
    const index = (await call(dev, 'GET', '/v1/session/list')).headers.get('x-consul-index');
    dev.faults.inject({ fault: { kind: 'spurious' }, match: { path: '/v1/session/list' } });
    const spurious = await call(dev, 'GET', `/v1/session/list?index=${index}&wait=5s`);
    expect(spurious.headers.get('x-consul-index')).toBe(index);
    expect(dev.faults.pending()).toBe(0);
  });

  it('applies a PUT rule to agent writes, and none to a write the ACL check refuses', async () => {
    const dev = await start({ aclToken: 'secret' });
    await registerTwo(dev, 'secret');
    dev.faults.inject({
      fault: { kind: 'status', status: 500, body: 'rpc error' },
      match: { method: 'PUT', path: /^\/v1\/agent\/check\/pass\// },
    });
    const denied = await call(dev, 'PUT', '/v1/agent/check/pass/service:api-1');
    expect(denied.status).toBe(403);
    const failed = await call(dev, 'PUT', '/v1/agent/check/pass/service:api-1', undefined, 'secret');
    expect([failed.status, failed.text]).toEqual([500, 'rpc error']);
    expect(dev.agent.checkStatus('service:api-1')).toBe('critical');
    expect((await call(dev, 'PUT', '/v1/agent/check/pass/service:api-1', undefined, 'secret')).status).toBe(
      200,
    );
    expect(dev.agent.checkStatus('service:api-1')).toBe('passing');
  });
});
