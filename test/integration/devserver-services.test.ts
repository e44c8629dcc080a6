/** The dev server's agent, health and catalog endpoints over real sockets (consul-semantics Part 2). */
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

async function call(
  dev: DevServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${dev.address}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    headers: response.headers,
    json: () => JSON.parse(text) as unknown,
  };
}

describe('agent service endpoints (consul-semantics §S1)', () => {
  it('registers, lists and deregisters a service', async () => {
    const dev = await start();
    const put = await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      Port: 8080,
      Tags: ['a'],
    });
    expect([put.status, put.text]).toEqual([200, '']);
    const list = await call(dev, 'GET', '/v1/agent/services');
    expect(list.json()).toEqual({
      web: {
        ID: 'web',
        Service: 'web',
        Tags: ['a'],
        Meta: {},
        Port: 8080,
        Address: '',
        Weights: { Passing: 1, Warning: 1 },
        EnableTagOverride: false,
        Datacenter: 'dc1',
      },
    });
    expect((await call(dev, 'PUT', '/v1/agent/service/deregister/web')).status).toBe(200);
    const again = await call(dev, 'PUT', '/v1/agent/service/deregister/web');
    expect([again.status, again.text]).toEqual([
      404,
      'Unknown service ID "web". Ensure that the service ID is passed, not the service name.',
    ]);
  });

  it('answers wrong methods with 405 and Allow', async () => {
    const dev = await start();
    const response = await call(dev, 'GET', '/v1/agent/service/register');
    expect([response.status, response.text, response.headers.get('allow')]).toEqual([
      405,
      'method GET not allowed',
      'OPTIONS,PUT',
    ]);
  });

  it('updates TTL checks and refuses unknown and non-TTL checks with Consul texts (consul-semantics §S2.5)', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Check: { TTL: '10s' } });
    expect((await call(dev, 'PUT', '/v1/agent/check/pass/service:web?note=fine')).status).toBe(200);
    const checks = (await call(dev, 'GET', '/v1/agent/checks')).json() as Record<
      string,
      Record<string, unknown>
    >;
    expect(checks['service:web']).toMatchObject({
      Status: 'passing',
      Output: 'fine',
      Type: 'ttl',
      Name: "Service 'web' check",
    });
    const unknown = await call(dev, 'PUT', '/v1/agent/check/pass/nope');
    expect([unknown.status, unknown.text]).toEqual([
      404,
      'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.',
    ]);
    await call(dev, 'PUT', '/v1/agent/check/register', { Name: 'tcp', TCP: '127.0.0.1:1', Interval: '10s' });
    const notTtl = await call(dev, 'PUT', '/v1/agent/check/pass/tcp');
    expect([notTtl.status, notTtl.text]).toEqual([500, 'CheckID "tcp" does not have associated TTL']);
    const bad = await call(dev, 'PUT', '/v1/agent/check/update/service:web', { Status: 'ok' });
    expect([bad.status, bad.text]).toEqual([400, "Invalid check status: 'ok'"]);
  });

  it('puts a service in maintenance and reports aggregate health codes (consul-semantics §S5.1, §S4.4)', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      Check: { TTL: '10s', Status: 'passing' },
    });
    expect((await call(dev, 'GET', '/v1/agent/health/service/id/web')).status).toBe(200);
    await call(dev, 'PUT', '/v1/agent/check/warn/service:web');
    expect((await call(dev, 'GET', '/v1/agent/health/service/name/web?format=text')).text).toBe('warning');
    expect((await call(dev, 'PUT', '/v1/agent/service/maintenance/web')).text).toBe(
      'Missing value for enable',
    );
    await call(dev, 'PUT', '/v1/agent/service/maintenance/web?enable=true');
    const health = await call(dev, 'GET', '/v1/agent/health/service/id/web');
    expect(health.status).toBe(503);
    expect((health.json() as { AggregatedStatus: string }).AggregatedStatus).toBe('maintenance');
    const checks = (await call(dev, 'GET', '/v1/agent/checks')).json() as Record<
      string,
      Record<string, unknown>
    >;
    expect(checks['_service_maintenance:web']).toMatchObject({
      Name: 'Service Maintenance Mode',
      Status: 'critical',
      Notes:
        'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.',
    });
    expect((await call(dev, 'GET', '/v1/agent/health/service/id/nope?format=text')).text).toBe(
      'ServiceId nope not found',
    );
  });

  it('blocks /v1/agent/service/<id> on its content hash (consul-semantics §S4.4)', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Port: 1 });
    const first = await call(dev, 'GET', '/v1/agent/service/web');
    const hash = first.headers.get('x-consul-contenthash') ?? '';
    expect(hash).not.toBe('');
    const held = call(dev, 'GET', `/v1/agent/service/web?hash=${hash}&wait=5s`);
    await expect.poll(() => dev.agent.catalog.waiters.counts().held).toBe(1);
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Port: 2 });
    const changed = await held;
    expect((changed.json() as { Port: number }).Port).toBe(2);
    expect(changed.headers.get('x-consul-contenthash')).not.toBe(hash);
  });
});

describe('health and catalog reads (consul-semantics §S3, §S4)', () => {
  it('returns health entries with node checks first and filters ?passing and ?tag', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-1',
      Tags: ['Blue'],
      Check: { TTL: '10s', Status: 'passing' },
    });
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', ID: 'web-2', Check: { TTL: '10s' } });
    const all = (await call(dev, 'GET', '/v1/health/service/web')).json() as {
      Service: { ID: string };
      Checks: { CheckID: string }[];
    }[];
    expect(all.map((entry) => entry.Service.ID)).toEqual(['web-1', 'web-2']);
    expect(all[0]?.Checks.map((check) => check.CheckID)).toEqual(['serfHealth', 'service:web-1']);
    const passing = (await call(dev, 'GET', '/v1/health/service/web?passing')).json() as {
      Service: { ID: string };
    }[];
    expect(passing.map((entry) => entry.Service.ID)).toEqual(['web-1']);
    const tagged = (await call(dev, 'GET', '/v1/health/service/web?tag=blue')).json() as unknown[];
    expect(tagged).toHaveLength(1);
    expect((await call(dev, 'GET', '/v1/health/service/web?passing=maybe')).text).toBe(
      'Invalid value for ?passing',
    );
    expect((await call(dev, 'GET', '/v1/health/service/none')).text).toBe('[]');
  });

  it('filters health entries, checks and catalog instances with ?filter, and refuses a bad one with 400', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-1',
      Tags: ['v1'],
      Meta: { env: 'prod' },
      Check: { TTL: '10s', Status: 'passing' },
    });
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-2',
      Tags: ['v2'],
      Meta: { env: 'dev' },
      Check: { TTL: '10s' },
    });
    const ids = async (path: string) =>
      ((await call(dev, 'GET', path)).json() as { Service?: { ID: string }; ServiceID?: string }[]).map(
        (item) => item.Service?.ID ?? item.ServiceID,
      );
    const q = (expression: string) => encodeURIComponent(expression);
    expect(await ids(`/v1/health/service/web?filter=${q('Service.Tags contains "v2"')}`)).toEqual(['web-2']);
    expect(await ids(`/v1/health/service/web?filter=${q('Service.Meta.env == prod')}`)).toEqual(['web-1']);
    expect(await ids(`/v1/health/service/web?filter=${q('Checks.Status == critical')}`)).toEqual(['web-2']);
    expect(
      await ids(`/v1/health/service/web?filter=${q('not (Service.ID == "web-1" or Service.ID == "web-2")')}`),
    ).toEqual([]);
    expect(await ids(`/v1/health/checks/web?filter=${q('Status == passing')}`)).toEqual(['web-1']);
    expect(await ids(`/v1/catalog/service/web?filter=${q('ServiceMeta.env == dev')}`)).toEqual(['web-2']);
    const bad = await call(dev, 'GET', `/v1/health/service/web?filter=${q('Foo.Bar == x')}`);
    expect(bad.status).toBe(400);
    expect(bad.text).toBe('Failed to create boolean expression evaluator: Selector "Foo" is not valid');
  });

  it('invalidates a session tied to a service check when the check turns critical, releasing its lock', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', {
      Name: 'web',
      Check: { TTL: '10s', Status: 'passing' },
    });
    const created = await call(dev, 'PUT', '/v1/session/create', { Checks: ['serfHealth', 'service:web'] });
    const { ID } = created.json() as { ID: string };
    expect((await call(dev, 'PUT', `/v1/kv/leader?acquire=${ID}`, 'me')).text).toBe('true');
    expect((await call(dev, 'GET', '/v1/kv/leader')).json()).toEqual([
      expect.objectContaining({ Session: ID }),
    ]);
    await call(dev, 'PUT', '/v1/agent/check/fail/service:web');
    expect((await call(dev, 'GET', `/v1/session/info/${ID}`)).json()).toEqual([]);
    const [entry] = (await call(dev, 'GET', '/v1/kv/leader')).json() as Array<Record<string, unknown>>;
    expect(entry).not.toHaveProperty('Session');
    expect(entry?.LockIndex).toBe(1);
  });

  it('wakes a held health query on a check flip but leaves catalog/services asleep', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Check: { TTL: '10s' } });
    const health = await call(dev, 'GET', '/v1/health/service/web');
    const services = await call(dev, 'GET', '/v1/catalog/services');
    expect(services.json()).toEqual({ web: [] });
    const healthIndex = Number(health.headers.get('x-consul-index'));
    const servicesIndex = Number(services.headers.get('x-consul-index'));
    const heldHealth = call(dev, 'GET', `/v1/health/service/web?index=${healthIndex}&wait=5s`);
    const heldServices = call(dev, 'GET', `/v1/catalog/services?index=${servicesIndex}&wait=200ms`);
    await expect.poll(() => dev.agent.catalog.waiters.counts().held).toBe(2);
    await call(dev, 'PUT', '/v1/agent/check/pass/service:web');
    const woke = await heldHealth;
    expect(Number(woke.headers.get('x-consul-index'))).toBeGreaterThan(healthIndex);
    expect(woke.headers.get('x-consul-knownleader')).toBe('true');
    const slept = await heldServices;
    expect(Number(slept.headers.get('x-consul-index'))).toBe(servicesIndex);
  });

  it('answers catalog/service, nodes, datacenters, health/state and status', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web', Port: 80, Address: '10.0.0.1' });
    const nodes = (await call(dev, 'GET', '/v1/catalog/service/web')).json() as Record<string, unknown>[];
    expect(nodes[0]).toMatchObject({
      Node: 'node-1',
      ServiceID: 'web',
      ServicePort: 80,
      ServiceAddress: '10.0.0.1',
      Datacenter: 'dc1',
    });
    expect(((await call(dev, 'GET', '/v1/catalog/nodes')).json() as { Node: string }[])[0]?.Node).toBe(
      'node-1',
    );
    expect((await call(dev, 'GET', '/v1/catalog/datacenters')).json()).toEqual(['dc1']);
    const any = (await call(dev, 'GET', '/v1/health/state/any')).json() as { CheckID: string }[];
    expect(any.map((check) => check.CheckID)).toEqual(['serfHealth']);
    expect((await call(dev, 'GET', '/v1/status/leader')).json()).toBe('127.0.0.1:8300');
    expect((await call(dev, 'GET', '/v1/status/peers')).json()).toEqual(['127.0.0.1:8300']);
    expect((await call(dev, 'GET', '/v1/agent/self')).json()).toMatchObject({
      Config: { NodeName: 'node-1', Datacenter: 'dc1' },
    });
  });
});

describe('ACLs and faults (consul-semantics §S6)', () => {
  it("refuses a write without a token with Consul's service:write text and filters reads", async () => {
    const dev = await start({ aclToken: 'secret' });
    const denied = await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web' });
    expect([denied.status, denied.text]).toEqual([
      403,
      `Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' lacks permission 'service:write' on "web"`,
    ]);
    const other = await call(
      dev,
      'PUT',
      '/v1/agent/service/register',
      { Name: 'web' },
      { 'X-Consul-Token': 'other' },
    );
    expect([other.status, other.text]).toEqual([403, 'ACL not found']);
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web' }, { 'X-Consul-Token': 'secret' });
    expect((await call(dev, 'GET', '/v1/health/service/web')).text).toBe('[]');
    const seen = (
      await call(dev, 'GET', '/v1/health/service/web', undefined, { 'X-Consul-Token': 'secret' })
    ).json();
    expect(seen).toHaveLength(1);
  });

  it('forgets services on an agent restart and fails catalog reads without a leader', async () => {
    const dev = await start();
    await call(dev, 'PUT', '/v1/agent/service/register', { Name: 'web' });
    dev.agent.restart();
    expect((await call(dev, 'GET', '/v1/agent/services')).json()).toEqual({});
    dev.agent.setLeader(false);
    const read = await call(dev, 'GET', '/v1/health/service/web');
    expect([read.status, read.text]).toEqual([500, 'No cluster leader']);
    const stale = await call(dev, 'GET', '/v1/health/service/web?stale');
    expect([stale.status, stale.headers.get('x-consul-knownleader')]).toEqual([200, 'false']);
    expect((await call(dev, 'GET', '/v1/status/leader')).json()).toBe('');
  });
});
