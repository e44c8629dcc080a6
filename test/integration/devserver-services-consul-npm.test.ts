/**
 * The official `consul` npm package (v2) against the dev server's agent, health and catalog endpoints: it was
 * written against real Consul, so it must get what docs/consul-semantics.md Part 2 says Consul returns.
 */
import { once } from 'node:events';
import Consul from 'consul';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { ManualClock } from '../helpers/manual-clock.js';

type Watch = ReturnType<Consul['watch']>;

let server: DevServer | undefined;
let consul: Consul | undefined;
const watches: Watch[] = [];

afterEach(async () => {
  for (const watch of watches.splice(0)) watch.end();
  consul?.destroy();
  consul = undefined;
  await server?.close();
  server = undefined;
});

async function connect(
  clock = new ManualClock(),
): Promise<{ dev: DevServer; client: Consul; clock: ManualClock }> {
  server = await startDevServer({ port: 0, jitter: false, clock });
  consul = new Consul({ host: server.host, port: server.port });
  return { dev: server, client: consul, clock };
}

interface Entry {
  Service: { ID: string };
  Checks: { CheckID: string; Status: string }[];
}

describe('the consul npm package against the dev server services API', () => {
  it('registers, lists and deregisters a service', async () => {
    const { client } = await connect();
    await client.agent.service.register({ name: 'web', id: 'web-1', port: 8080, tags: ['v1'] });
    const services = (await client.agent.service.list()) as Record<string, { Service: string; Port: number }>;
    expect(services['web-1']).toMatchObject({ Service: 'web', Port: 8080 });
    expect(await client.catalog.service.list()).toEqual({ web: ['v1'] });
    await client.agent.service.deregister('web-1');
    expect(await client.agent.service.list()).toEqual({});
  });

  it('passes and fails a TTL check, and sees it expire on the clock', async () => {
    const { client, clock } = await connect();
    await client.agent.service.register({
      name: 'web',
      id: 'web-1',
      check: { name: 'ttl', ttl: '10s' } as never,
    });
    await client.agent.check.pass('service:web-1');
    const passing = (await client.health.service({ service: 'web', passing: true })) as Entry[];
    expect(passing.map((entry) => entry.Service.ID)).toEqual(['web-1']);
    await client.agent.check.fail('service:web-1');
    expect(await client.health.service({ service: 'web', passing: true })).toEqual([]);
    await client.agent.check.pass('service:web-1');
    clock.advance(10_000);
    const checks = (await client.agent.check.list()) as Record<string, { Status: string; Output: string }>;
    expect(checks['service:web-1']).toMatchObject({ Status: 'critical', Output: 'TTL expired' });
    const all = (await client.health.service('web')) as Entry[];
    expect(all[0]?.Checks.map((check) => [check.CheckID, check.Status])).toEqual([
      ['serfHealth', 'passing'],
      ['service:web-1', 'critical'],
    ]);
  });

  it('puts a service in maintenance, dropping it from passing results', async () => {
    const { client } = await connect();
    await client.agent.service.register({
      name: 'web',
      id: 'web-1',
      check: { name: 'ttl', ttl: '10s', status: 'passing' } as never,
    });
    await client.agent.service.maintenance({ id: 'web-1', enable: true, reason: 'deploy' });
    expect(await client.health.service({ service: 'web', passing: true })).toEqual([]);
    await client.agent.service.maintenance({ id: 'web-1', enable: false });
    expect(await client.health.service({ service: 'web', passing: true })).toHaveLength(1);
  });

  it('watches health.service and sees a check flip', async () => {
    const { client } = await connect();
    await client.agent.service.register({
      name: 'web',
      id: 'web-1',
      check: { name: 'ttl', ttl: '10s' } as never,
    });
    const watch = client.watch({
      method: client.health.service,
      options: { service: 'web' } as never,
      backoffFactor: 10,
      backoffMax: 50,
    });
    watches.push(watch);
    watch.on('error', () => {});
    const statuses: string[] = [];
    watch.on('change', (data: Entry[]) => statuses.push(data[0]?.Checks[1]?.Status ?? ''));
    while (statuses.length < 1) await once(watch, 'change');
    await client.agent.check.pass('service:web-1');
    while (statuses.length < 2) await once(watch, 'change');
    expect(statuses).toEqual(['critical', 'passing']);
  });
});
