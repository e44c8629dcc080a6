/**
 * registerService() against the dev server's agent over real loopback sockets: heartbeat to passing, the
 * app's health function, HTTP and TCP checks against real targets, re-registration after an agent restart,
 * the drain-then-deregister close, and a 403 with ACLs on (consul-semantics §S7).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { AclDeniedError, ServiceConflictError } from '../../src/errors.js';
import { healthHandler, healthResponse } from '../../src/services/health-endpoint.js';
import {
  type RegistrationEvents,
  registerService,
  type ServiceRegistration,
} from '../../src/services/registration.js';
import type { RegisterServiceOptions } from '../../src/services/registration-options.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { Log } from '../helpers/watch.js';

let dev: DevServer | undefined;
let clock: ManualClock;
const registrations: ServiceRegistration[] = [];
const servers: Array<Server | TcpServer> = [];

afterEach(async () => {
  for (const registration of registrations.splice(0)) await registration.close();
  for (const server of servers.splice(0)) {
    server.close();
    if ('closeAllConnections' in server) server.closeAllConnections();
  }
  await dev?.close();
  dev = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  clock = new ManualClock();
  dev = await startDevServer({ port: 0, jitter: false, clock, random: () => 0, ...options });
  return dev;
}

type Recorded = [keyof RegistrationEvents, unknown];

/** Registers on the dev server and records every event as `[name, payload]`. */
function register(
  server: DevServer,
  options: Partial<RegisterServiceOptions> = {},
): { registration: ServiceRegistration; log: Log<Recorded> } {
  const registration = registerService({
    consul: { address: server.address, env: {} },
    name: 'web',
    id: 'web-1',
    address: '127.0.0.1',
    port: 8080,
    ttl: '1s',
    ...options,
  });
  registrations.push(registration);
  const log = new Log<Recorded>();
  for (const name of ['registered', 'reregistered', 'health', 'error', 'draining', 'deregistered'] as const) {
    registration.on(name, (payload: unknown) => log.push([name, payload]));
  }
  return { registration, log };
}

const names = (log: Log<Recorded>) => log.items.map(([name]) => name);

async function json(server: DevServer, path: string): Promise<unknown> {
  const response = await fetch(`${server.address}${path}`);
  return response.json();
}

async function listen(server: Server | TcpServer): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('registerService on the dev server (consul-semantics §S7)', () => {
  it('registers with a TTL heartbeat and a crash net, reaches passing, and deregisters on close', async () => {
    const server = await start();
    const { registration, log } = register(server, { tags: ['v1'], meta: { version: '1.2.3' } });
    await registration.ready;
    await log.when((items) => items.some(([name]) => name === 'health'));
    expect(registration.state).toBe('registered');
    expect(await json(server, '/v1/agent/service/web-1')).toMatchObject({
      ID: 'web-1',
      Service: 'web',
      Tags: ['v1'],
      Meta: { version: '1.2.3' },
      Address: '127.0.0.1',
      Port: 8080,
      Weights: { Passing: 1, Warning: 1 },
    });
    const check = server.agent.catalog.check('service:web-1:ttl');
    expect([
      check?.status,
      check?.type,
      check?.spec?.ttlMs,
      check?.spec?.deregisterCriticalServiceAfterMs,
    ]).toEqual(['passing', 'ttl', 1000, 60_000]);
    const passing = await json(server, '/v1/health/service/web?passing');
    expect((passing as unknown[]).length).toBe(1);

    await registration.close();
    expect(registration.state).toBe('closed');
    expect(server.agent.catalog.service('web-1')).toBeUndefined();
    expect(log.items).toEqual([
      ['registered', { id: 'web-1', name: 'web' }],
      ['health', { status: 'passing', output: '', previous: undefined }],
      ['draining', { id: 'web-1', drainMs: 0 }],
      ['deregistered', { id: 'web-1', removed: true }],
    ]);
    // A second close() is the same promise and sends nothing more.
    const requests = server.stats().requests;
    await registration.close();
    expect(server.stats().requests).toBe(requests);
  });

  it('lets the app health function decide warning and critical, with its output', async () => {
    const server = await start();
    let report: { status: 'passing' | 'warning' | 'critical'; output?: string } = { status: 'passing' };
    const { registration, log } = register(server, { health: () => report });
    await registration.ready;
    await log.when((items) => items.length >= 2);
    report = { status: 'warning', output: 'db slow' };
    await log.when((items) => items.length >= 3);
    expect(server.agent.catalog.check('service:web-1:ttl')).toMatchObject({
      status: 'warning',
      output: 'db slow',
    });
    report = { status: 'critical', output: 'db down' };
    await log.when((items) => items.length >= 4);
    expect(server.agent.catalog.check('service:web-1:ttl')).toMatchObject({
      status: 'critical',
      output: 'db down',
    });
    expect(await json(server, '/v1/health/service/web?passing')).toEqual([]);
    expect(log.items.slice(1)).toEqual([
      ['health', { status: 'passing', output: '', previous: undefined }],
      ['health', { status: 'warning', output: 'db slow', previous: 'passing' }],
      ['health', { status: 'critical', output: 'db down', previous: 'warning' }],
    ]);
  });

  it('reports a throwing health function as critical with its message', async () => {
    const server = await start();
    const { registration, log } = register(server, {
      health: () => {
        throw new Error('db down\n    at stack');
      },
    });
    await registration.ready;
    await log.when((items) => items.some(([name]) => name === 'health'));
    expect(server.agent.catalog.check('service:web-1:ttl')).toMatchObject({
      status: 'critical',
      output: 'health check failed: db down',
    });
  });

  it('adds HTTP and TCP checks the agent runs against real targets, the HTTP one on the health endpoint', async () => {
    const server = await start();
    let healthy = true;
    let registration: ServiceRegistration | undefined;
    const app = createServer((request, response) =>
      healthHandler(registration as ServiceRegistration)(request, response),
    );
    const appPort = await listen(app);
    const tcpPort = await listen(createTcpServer((socket) => socket.end()));
    ({ registration } = register(server, {
      port: appPort,
      health: () => (healthy ? { status: 'passing' } : { status: 'critical', output: 'db down' }),
      http: { url: `http://127.0.0.1:${appPort}/health`, interval: '1s' },
      tcp: { address: `127.0.0.1:${tcpPort}`, interval: '1s' },
    }));
    await registration.ready;
    const probe = async () => {
      clock.advance(1000);
      await server.agent.runner.idle();
    };
    await probe();
    const http = server.agent.catalog.check('service:web-1:http');
    expect([http?.type, http?.status, http?.spec?.intervalMs, http?.spec?.timeoutMs]).toEqual([
      'http',
      'passing',
      1000,
      5000,
    ]);
    expect(http?.output).toBe(
      `HTTP GET http://127.0.0.1:${appPort}/health: 200 OK Output: {"status":"passing","id":"web-1","registration":"registered"}`,
    );
    expect(server.agent.catalog.check('service:web-1:tcp')).toMatchObject({
      type: 'tcp',
      status: 'passing',
      output: `TCP connect 127.0.0.1:${tcpPort}: Success`,
    });
    healthy = false;
    await probe();
    expect(server.agent.catalog.check('service:web-1:http')).toMatchObject({
      status: 'critical',
      output: `HTTP GET http://127.0.0.1:${appPort}/health: 503 Service Unavailable Output: {"status":"critical","id":"web-1","registration":"registered","output":"db down"}`,
    });
  });

  it('answers 503 draining from the health endpoint while close() drains, then closed', async () => {
    const server = await start();
    const { registration } = register(server, { drain: 50 });
    await registration.ready;
    expect(await healthResponse(registration)).toEqual({
      statusCode: 200,
      body: { status: 'passing', id: 'web-1', registration: 'registered' },
    });
    const during = new Promise((resolve) => {
      registration.once('draining', () => resolve(healthResponse(registration)));
    });
    await registration.close();
    expect(await during).toEqual({
      statusCode: 503,
      body: { status: 'draining', id: 'web-1', registration: 'closing' },
    });
    expect(await healthResponse(registration)).toEqual({
      statusCode: 503,
      body: { status: 'closed', id: 'web-1', registration: 'closed' },
    });
  });

  it('registers again by itself after an agent restart, with a reregistered event (consul-semantics §S6.2)', async () => {
    const server = await start();
    const { registration, log } = register(server);
    await registration.ready;
    await log.when((items) => items.length >= 2);
    server.faults.inject({ fault: { kind: 'agent-restart' } });
    await log.when((items) => items.some(([name]) => name === 'reregistered'));
    expect(log.items).toEqual([
      ['registered', { id: 'web-1', name: 'web' }],
      ['health', { status: 'passing', output: '', previous: undefined }],
      ['reregistered', { id: 'web-1', reason: 'check-unknown' }],
    ]);
    expect(server.agent.catalog.service('web-1')?.name).toBe('web');
    await expect
      .poll(() => server.agent.checkStatus('service:web-1:ttl'), { interval: 5, timeout: 5000 })
      .toBe('passing');
  });

  it('registers again when someone replaced its TTL check with another kind (consul-semantics §S2.5)', async () => {
    const server = await start();
    const { registration, log } = register(server);
    await registration.ready;
    await log.when((items) => items.length >= 2);
    server.agent.registerService(
      {
        ID: 'web-1',
        Name: 'web',
        Address: '127.0.0.1',
        Port: 8080,
        Check: { CheckID: 'service:web-1:ttl', TCP: '127.0.0.1:1', Interval: '10s' },
      },
      { replaceExistingChecks: true },
    );
    await log.when((items) => items.some(([name]) => name === 'reregistered'));
    expect(log.items[2]).toEqual(['reregistered', { id: 'web-1', reason: 'check-not-ttl' }]);
    expect(server.agent.catalog.check('service:web-1:ttl')?.type).toBe('ttl');
  });

  it('refuses an ID another instance holds, and takes it over with replace', async () => {
    const server = await start();
    server.agent.registerService({ ID: 'web-1', Name: 'web', Address: '10.0.0.9', Port: 9000 });
    const { registration, log } = register(server);
    const error = await registration.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceConflictError);
    expect((error as ServiceConflictError).existing).toEqual({
      id: 'web-1',
      address: '10.0.0.9',
      port: 9000,
    });
    expect(registration.state).toBe('failed');
    expect(names(log)).toEqual(['error']);
    expect(server.agent.catalog.service('web-1')?.address).toBe('10.0.0.9');
    await registration.close();
    // A failed registration leaves the other instance alone.
    expect(server.agent.catalog.service('web-1')?.address).toBe('10.0.0.9');

    const taken = register(server, { replace: true });
    await taken.registration.ready;
    expect(server.agent.catalog.service('web-1')?.address).toBe('127.0.0.1');
  });

  it('rejects ready with an ACL error naming service:write when the token may not register (consul-semantics §S6.1)', async () => {
    const server = await start({ aclToken: 'root-token' });
    const { registration } = register(server);
    const error = await registration.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AclDeniedError);
    expect((error as AclDeniedError).message).toContain('lacks permission \'service:write\' on "web"');
  });
});
