import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../../src/devserver/catalog.js';
import { ChecksRunner } from '../../../src/devserver/checks-runner.js';
import { RaftLog } from '../../../src/devserver/raft-log.js';
import { decodeServiceRegistration } from '../../../src/devserver/service-definition.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function setup() {
  const clock = new ManualClock();
  const catalog = new Catalog({ now: () => clock.now(), raft: new RaftLog() });
  const runner = new ChecksRunner({
    catalog,
    clock,
    random: () => 0,
    reapIntervalMs: 30_000,
    deregisterMinMs: 60_000,
  });
  closers.push(() => runner.close());
  const register = (definition: unknown) => {
    const decoded = decodeServiceRegistration(Buffer.from(JSON.stringify(definition)));
    if (!decoded.ok) throw new Error(decoded.text);
    for (const check of catalog.registerService(decoded.value, false)) runner.start(check);
  };
  return { clock, catalog, runner, register };
}

async function httpTarget(status: () => number): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.statusCode = status();
    res.end('body');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/health`;
}

describe('ChecksRunner (consul-semantics §S2)', () => {
  it('expires a TTL check with Consul output, keeping the last update output', () => {
    const { clock, catalog, runner, register } = setup();
    register({ Name: 'web', Check: { TTL: '10s' } });
    expect(catalog.check('service:web')?.status).toBe('critical');
    runner.updateTtl('service:web', 'passing', 'all good');
    clock.advance(9_999);
    expect(catalog.check('service:web')?.status).toBe('passing');
    clock.advance(1);
    expect(catalog.check('service:web')).toMatchObject({
      status: 'critical',
      output: 'TTL expired (last output before timeout follows): all good',
    });
  });

  it('maps HTTP 2xx to passing, 429 to warning and others to critical, with the Output text', async () => {
    let code = 200;
    const url = await httpTarget(() => code);
    const { clock, catalog, runner, register } = setup();
    register({ Name: 'web', Check: { HTTP: url, Interval: '10s' } });
    clock.advance(0);
    await runner.idle();
    expect(catalog.check('service:web')).toMatchObject({
      status: 'passing',
      output: `HTTP GET ${url}: 200 OK Output: body`,
    });
    code = 429;
    clock.advance(10_000);
    await runner.idle();
    expect(catalog.check('service:web')?.status).toBe('warning');
    code = 500;
    clock.advance(10_000);
    await runner.idle();
    expect(catalog.check('service:web')).toMatchObject({
      status: 'critical',
      output: `HTTP GET ${url}: 500 Internal Server Error Output: body`,
    });
  });

  it('applies FailuresBeforeCritical after the first result', async () => {
    let code = 200;
    const url = await httpTarget(() => code);
    const { clock, catalog, runner, register } = setup();
    register({ Name: 'web', Check: { HTTP: url, Interval: '1s', FailuresBeforeCritical: 2 } });
    const statuses: string[] = [];
    for (const next of [200, 500, 500]) {
      code = next;
      clock.advance(1_000);
      await runner.idle();
      statuses.push(catalog.check('service:web')?.status ?? '');
    }
    expect(statuses).toEqual(['passing', 'passing', 'critical']);
  });

  it('passes a TCP check against a listening port and fails one against a closed port', async () => {
    const listener = createNetServer((socket) => socket.end());
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    closers.push(() => listener.close());
    const address = listener.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const { clock, catalog, runner, register } = setup();
    register({
      Name: 'db',
      Checks: [
        { TCP: `127.0.0.1:${port}`, Interval: '5s' },
        { TCP: '127.0.0.1:1', Interval: '5s' },
      ],
    });
    clock.advance(0);
    await runner.idle();
    expect(catalog.check('service:db:1')).toMatchObject({
      status: 'passing',
      output: `TCP connect 127.0.0.1:${port}: Success`,
    });
    expect(catalog.check('service:db:2')).toMatchObject({
      status: 'critical',
      output: 'dial tcp 127.0.0.1:1: connect: connection refused',
    });
  });

  it('reaps a service critical past DeregisterCriticalServiceAfter, raised to the 1-minute floor, on the reaper tick', () => {
    const { clock, catalog, register } = setup();
    register({ Name: 'web', Check: { TTL: '10s', DeregisterCriticalServiceAfter: '10s' } });
    clock.advance(10_000); // TTL expires: the critical clock starts now
    clock.advance(60_000); // 60s critical: not past the floor yet at the 60s tick
    expect(catalog.service('web')).toBeDefined();
    clock.advance(30_000); // next reaper tick at 90s: critical for 80s
    expect(catalog.service('web')).toBeUndefined();
  });
});
