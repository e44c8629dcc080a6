/** The agent API over an undici MockAgent: requests sent, answers parsed, statuses mapped (consul-semantics §S1, §S2.5, §S5). */
import { afterEach, describe, expect, it } from 'vitest';
import { goDuration } from '../../../src/consul/agent.js';
import {
  AclDeniedError,
  BadRequestError,
  InvalidArgumentError,
  MalformedResponseError,
  ServerError,
  ServiceNotRegisteredError,
} from '../../../src/errors.js';
import { expectNoToken, type MockConsul, mockConsul, rejection } from './mock-consul.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

describe('client.agent', () => {
  it('registers with replace-existing-checks=true and durations as Go strings (consul-semantics §S1.2)', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/agent/service/register?replace-existing-checks=true', method: 'PUT' })
      .reply(200, '');
    await mock.client.agent.register({
      id: 'web-1',
      name: 'web',
      address: '10.0.0.1',
      port: 8080,
      tags: ['v1'],
      meta: { version: '1' },
      weights: { passing: 3, warning: 1 },
      checks: [
        { checkId: 'service:web-1:ttl', ttl: 15_000, deregisterCriticalServiceAfter: '1m' },
        { http: 'http://10.0.0.1:8080/health', interval: 1500, timeout: '2s' },
      ],
    });
    expect(mock.requests()).toEqual(['PUT /v1/agent/service/register?replace-existing-checks=true']);
    expect(JSON.parse(String(mock.bodies()[0]))).toEqual({
      Name: 'web',
      ID: 'web-1',
      Tags: ['v1'],
      Address: '10.0.0.1',
      Port: 8080,
      Meta: { version: '1' },
      Weights: { Passing: 3, Warning: 1 },
      Checks: [
        { CheckID: 'service:web-1:ttl', TTL: '15s', DeregisterCriticalServiceAfter: '60s' },
        { HTTP: 'http://10.0.0.1:8080/health', Interval: '1500ms', Timeout: '2s' },
      ],
    });
  });

  it('can register without replace-existing-checks', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/agent/service/register', method: 'PUT' }).reply(200, '');
    await mock.client.agent.register({ name: 'web' }, { replaceExistingChecks: false });
    expect(mock.requests()).toEqual(['PUT /v1/agent/service/register']);
  });

  it("quotes Consul's 400 text and names service:write on a 403, without the token", async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/agent/service/register?replace-existing-checks=true', method: 'PUT' })
      .reply(400, 'Invalid check: Interval and TTL cannot both be specified');
    mock.pool
      .intercept({ path: '/v1/agent/service/register?replace-existing-checks=true', method: 'PUT' })
      .reply(403, "Permission denied: token with AccessorID 'x' lacks permission 'service:write' on \"web\"");
    const bad = await rejection(mock.client.agent.register({ name: 'web' }));
    expect(bad).toBeInstanceOf(BadRequestError);
    expect(bad.message).toBe(
      'agent.service.register web: 400 Invalid check: Interval and TTL cannot both be specified (Consul refused the request)',
    );
    const denied = await rejection(mock.client.agent.register({ name: 'web' }));
    expect(denied).toBeInstanceOf(AclDeniedError);
    expect(denied.message).toContain('(the token needs service:write on service "web")');
    expectNoToken(denied);
  });

  it('deregisters, and a 404 means it was already gone (consul-semantics §S1.4)', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/agent/service/deregister/web%2F1', method: 'PUT' }).reply(200, '');
    mock.pool
      .intercept({ path: '/v1/agent/service/deregister/web%2F1', method: 'PUT' })
      .reply(404, 'Unknown service ID "web/1". Ensure that the service ID is passed, not the service name.');
    expect(await mock.client.agent.deregister('web/1')).toBe(true);
    expect(await mock.client.agent.deregister('web/1')).toBe(false);
  });

  it('reads one service, null when unknown, and refuses a malformed answer', async () => {
    mock = mockConsul();
    const pool = mock.pool;
    pool.intercept({ path: '/v1/agent/service/web-1', method: 'GET' }).reply(200, {
      ID: 'web-1',
      Service: 'web',
      Tags: [],
      Meta: {},
      Port: 8080,
      Address: '10.0.0.1',
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      Datacenter: 'dc1',
      ContentHash: 'abc',
    });
    pool
      .intercept({ path: '/v1/agent/service/web-1', method: 'GET' })
      .reply(404, 'unknown service ID: web-1');
    pool
      .intercept({ path: '/v1/agent/service/web-1', method: 'GET' })
      .reply(200, { ID: 'web-1', Port: '80' });
    expect(await mock.client.agent.service('web-1')).toEqual({
      id: 'web-1',
      service: 'web',
      tags: [],
      meta: {},
      address: '10.0.0.1',
      port: 8080,
      weights: { passing: 1, warning: 1 },
      datacenter: 'dc1',
    });
    expect(await mock.client.agent.service('web-1')).toBeNull();
    const error = await rejection(mock.client.agent.service('web-1'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe(
      'agent.service web-1: malformed answer from Consul: ID and Service must be strings',
    );
  });

  it('updates a TTL check; an unknown check or one without a TTL is ServiceNotRegisteredError (consul-semantics §S2.5)', async () => {
    mock = mockConsul();
    const path = '/v1/agent/check/update/service%3Aweb-1%3Attl';
    mock.pool.intercept({ path, method: 'PUT' }).reply(200, '');
    mock.pool
      .intercept({ path, method: 'PUT' })
      .reply(
        404,
        'Unknown check ID "service:web-1:ttl". Ensure that the check ID is passed, not the check name.',
      );
    mock.pool
      .intercept({ path, method: 'PUT' })
      .reply(500, 'CheckID "service:web-1:ttl" does not have associated TTL');
    mock.pool.intercept({ path, method: 'PUT' }).reply(500, 'rpc error making call: EOF');
    await mock.client.agent.updateCheck('service:web-1:ttl', 'warning', 'slow');
    expect(JSON.parse(String(mock.bodies()[0]))).toEqual({ Status: 'warning', Output: 'slow' });
    const unknown = await rejection(mock.client.agent.updateCheck('service:web-1:ttl', 'passing'));
    expect([unknown.constructor, (unknown as ServiceNotRegisteredError).status]).toEqual([
      ServiceNotRegisteredError,
      404,
    ]);
    const notTtl = await rejection(mock.client.agent.updateCheck('service:web-1:ttl', 'passing'));
    expect([notTtl.constructor, (notTtl as ServiceNotRegisteredError).status]).toEqual([
      ServiceNotRegisteredError,
      500,
    ]);
    expect((notTtl as ServiceNotRegisteredError).cause).toBeInstanceOf(ServerError);
    expect(await rejection(mock.client.agent.updateCheck('service:web-1:ttl', 'passing'))).toBeInstanceOf(
      ServerError,
    );
  });

  it('sends pass, warn and fail with the note as a query parameter', async () => {
    mock = mockConsul();
    for (const verb of ['pass', 'warn', 'fail']) {
      mock.pool.intercept({ path: new RegExp(`^/v1/agent/check/${verb}/c1`), method: 'PUT' }).reply(200, '');
    }
    await mock.client.agent.pass('c1', 'all good');
    await mock.client.agent.warn('c1');
    await mock.client.agent.fail('c1', 'db down');
    expect(mock.requests()).toEqual([
      'PUT /v1/agent/check/pass/c1?note=all+good',
      'PUT /v1/agent/check/warn/c1',
      'PUT /v1/agent/check/fail/c1?note=db+down',
    ]);
  });

  it('turns maintenance on with a reason; an unknown service is ServiceNotRegisteredError (consul-semantics §S5.1)', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/agent/service/maintenance/web-1?enable=true&reason=deploy', method: 'PUT' })
      .reply(200, '');
    mock.pool
      .intercept({ path: '/v1/agent/service/maintenance/web-1?enable=false', method: 'PUT' })
      .reply(404, 'Unknown service ID "web-1". Ensure that the service ID is passed, not the service name.');
    await mock.client.agent.maintenance('web-1', true, { reason: 'deploy' });
    expect(await rejection(mock.client.agent.maintenance('web-1', false))).toBeInstanceOf(
      ServiceNotRegisteredError,
    );
  });

  it('reads self', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/agent/self', method: 'GET' })
      .reply(200, { Config: { Datacenter: 'dc1', NodeName: 'node-1', Version: '1.21.0' }, Member: {} });
    mock.pool.intercept({ path: '/v1/agent/self', method: 'GET' }).reply(200, '{"Config":');
    expect(await mock.client.agent.self()).toEqual({
      datacenter: 'dc1',
      nodeName: 'node-1',
      version: '1.21.0',
    });
    expect(await rejection(mock.client.agent.self())).toBeInstanceOf(MalformedResponseError);
  });

  it('gives up a TTL update at its own timeout with TimeoutError', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/agent/check/update/c1', method: 'PUT' }).reply(200, '').delay(2000);
    const error = await rejection(mock.client.agent.updateCheck('c1', 'passing', '', { timeout: 20 }));
    expect(error).toMatchObject({ code: 'CONSUL_TIMEOUT', operation: 'agent.check.update', key: 'c1' });
  });

  it('refuses bad arguments before sending', async () => {
    mock = mockConsul();
    expect(await rejection(mock.client.agent.deregister(''))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(mock.client.agent.updateCheck('c1', 'ok' as 'passing'))).toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await rejection(mock.client.agent.register({ name: '' }))).toBeInstanceOf(InvalidArgumentError);
    expect(mock.requests()).toEqual([]);
  });
});

describe('goDuration', () => {
  it('writes whole seconds as s, else ms, else ns: a bare number would be nanoseconds to Consul', () => {
    expect([goDuration(15_000), goDuration(1500), goDuration(0), goDuration(0.5)]).toEqual([
      '15s',
      '1500ms',
      '0s',
      '500000ns',
    ]);
  });
});
