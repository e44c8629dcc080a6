/** KV, catalog and session writes take the next index of one Raft log (consul-semantics §S9.1). */
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { ManualClock } from '../helpers/manual-clock.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function put(dev: DevServer, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${dev.address}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  await response.text();
}

async function index(dev: DevServer, path: string): Promise<number> {
  const response = await fetch(`${dev.address}${path}`);
  await response.text();
  return Number(response.headers.get('x-consul-index'));
}

describe('one Raft index (consul-semantics §S9.1)', () => {
  it('gives KV, catalog and session writes successive indexes of one sequence', async () => {
    const dev = await startDevServer({ port: 0, jitter: false, clock: new ManualClock() });
    server = dev;
    expect(dev.kv.put('a', '1')).toBe(2);
    await put(dev, '/v1/agent/service/register', { Name: 'web', Check: { TTL: '10s' } });
    expect(await index(dev, '/v1/health/service/web')).toBe(3);
    expect(dev.kv.put('b', '1')).toBe(4);
    await put(dev, '/v1/session/create', {});
    expect(await index(dev, '/v1/session/list')).toBe(5);
    await put(dev, '/v1/agent/check/pass/service:web', undefined);
    expect(await index(dev, '/v1/health/service/web')).toBe(6);
    expect(dev.kv.put('c', '1')).toBe(7);
    expect(dev.kv.index()).toBe(7);
    // Each table keeps its own index: the services table did not move for the check flip or KV writes.
    expect(await index(dev, '/v1/catalog/services')).toBe(3);
    expect(await index(dev, '/v1/kv/?recurse')).toBe(7);
    // A write that changes nothing takes no index.
    await put(dev, '/v1/agent/check/pass/service:web', undefined);
    expect(dev.kv.put('d', '1')).toBe(8);
  });
});
