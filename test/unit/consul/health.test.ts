/** The health and catalog reads: requests built, answers parsed defensively, instances derived (consul-semantics §S4, §S8). */
import { afterEach, describe, expect, it } from 'vitest';
import { aggregateStatus, type HealthCheckInfo, toInstance } from '../../../src/consul/health.js';
import { AclDeniedError, InvalidArgumentError, MalformedResponseError } from '../../../src/errors.js';
import { expectNoToken, type MockConsul, meta, mockConsul, rejection, TOKEN } from './mock-consul.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

const minimal = {
  Node: { Node: 'node-1', Address: '10.0.0.1' },
  Service: { ID: 'web-1', Service: 'web', Tags: null, Address: '' },
  Checks: [{ CheckID: 'serfHealth', Status: 'passing' }],
};

const check = (overrides: Partial<HealthCheckInfo>): HealthCheckInfo => ({
  checkId: 'c',
  name: '',
  status: 'passing',
  type: '',
  output: '',
  notes: '',
  serviceId: '',
  ...overrides,
});

describe('health.service', () => {
  it('sends passing, tags, filter, near, dc and the blocking parameters in Consul’s order (consul-semantics §1.8)', async () => {
    mock = mockConsul({ datacenter: 'east' });
    mock.pool
      .intercept({
        path: '/v1/health/service/my%20web?dc=west&passing=&tag=a&tag=b&filter=Service.Port+%3E+1&near=_agent&stale=&index=7&wait=5000ms',
        method: 'GET',
      })
      .reply(200, '[]', { headers: meta(8) });
    const result = await mock.client.health.service('my web', {
      passing: true,
      tags: ['a', 'b'],
      filter: 'Service.Port > 1',
      near: '_agent',
      dc: 'west',
      consistency: 'stale',
      index: 7,
      wait: '5s',
    });
    expect(result).toEqual({ entries: [], index: 8, knownLeader: true, lastContact: 0, bytes: 2 });
    expect(mock.headers()[0]).toMatchObject({ 'x-consul-token': TOKEN });
  });

  it('fills Consul’s omissions: no Tags, Meta or Port, no Weights (consul-semantics §S4.1)', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/health/service/web', method: 'GET' })
      .reply(200, JSON.stringify([minimal]), { headers: meta(3) });
    const { entries } = await mock.client.health.service('web');
    expect(entries).toEqual([
      {
        node: { id: '', node: 'node-1', address: '10.0.0.1', datacenter: '', meta: {} },
        service: {
          id: 'web-1',
          service: 'web',
          tags: [],
          address: '',
          port: 0,
          meta: {},
          weights: { passing: 1, warning: 1 },
          createIndex: 0,
          modifyIndex: 0,
        },
        checks: [
          {
            checkId: 'serfHealth',
            name: '',
            status: 'passing',
            type: '',
            output: '',
            notes: '',
            serviceId: '',
          },
        ],
      },
    ]);
    expect(toInstance(entries[0]!)).toMatchObject({ address: '10.0.0.1', port: 0, status: 'passing' });
  });

  it.each([
    ['not JSON', 'nope', 'the body is not JSON'],
    ['an object', '{}', 'the body: expected a JSON list of health entries'],
    [
      'an entry without Service',
      JSON.stringify([{ Node: minimal.Node }]),
      'entry 0.Service: expected an object',
    ],
    [
      'a port that is not a number',
      JSON.stringify([{ ...minimal, Service: { ...minimal.Service, Port: '80' } }]),
      'entry 0.Service.Port: expected a non-negative integer',
    ],
    [
      'an unknown check status',
      JSON.stringify([{ ...minimal, Checks: [{ CheckID: 'x', Status: 'up' }] }]),
      'entry 0.Checks[0].Status: unknown status "up"',
    ],
  ])('refuses %s with MalformedResponseError naming the field', async (_, body, problem) => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/health/service/web', method: 'GET' })
      .reply(200, body, { headers: meta(3) });
    const error = await rejection(mock.client.health.service('web'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe(`health.service web: malformed response from Consul: ${problem}`);
  });

  it('names the permission on a 403 and never the token', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/health/service/web', method: 'GET' })
      .reply(403, `Permission denied: token ${TOKEN}`);
    const error = await rejection(mock.client.health.service('web'));
    expect(error).toBeInstanceOf(AclDeniedError);
    expect(error.message).toContain(
      'the token needs service:read on this service and node:read on its nodes',
    );
    expectNoToken(error);
  });

  it('refuses bad arguments before sending anything', async () => {
    mock = mockConsul();
    await expect(mock.client.health.service('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(mock.client.health.service('web', { tags: [''] })).rejects.toThrow(
      'health.service web: tags must be an array of non-empty strings',
    );
    await expect(mock.client.health.service('web', { filter: '' })).rejects.toThrow(
      'health.service web: filter must be a non-empty string',
    );
    expect(mock.requests()).toEqual([]);
  });
});

describe('health.state and catalog.services', () => {
  it('reads every check with its node and service name', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/health/state/any?index=4&wait=1000ms', method: 'GET' })
      .reply(
        200,
        JSON.stringify([{ Node: 'n', CheckID: 'service:web-1', Status: 'critical', ServiceName: 'web' }]),
        { headers: meta(5) },
      );
    const { checks, index } = await mock.client.health.state('any', { index: 4, wait: 1000 });
    expect([index, checks]).toEqual([
      5,
      [
        {
          checkId: 'service:web-1',
          name: '',
          status: 'critical',
          type: '',
          output: '',
          notes: '',
          serviceId: '',
          node: 'n',
          serviceName: 'web',
        },
      ],
    ]);
  });

  it('lists services with their tags, a null list as none, and refuses anything else', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/catalog/services', method: 'GET' })
      .reply(200, JSON.stringify({ web: ['v1'], db: null }), { headers: meta(9) });
    mock.pool.intercept({ path: '/v1/catalog/services', method: 'GET' }).reply(200, '{"web":"v1"}');
    await expect(mock.client.catalog.services()).resolves.toMatchObject({
      services: { web: ['v1'], db: [] },
      index: 9,
    });
    await expect(mock.client.catalog.services()).rejects.toThrow(
      'catalog.services: malformed response from Consul: service web: expected a list of tags',
    );
  });
});

describe('aggregateStatus (consul-semantics §S8.2)', () => {
  it('ranks maintenance > critical > warning > passing', () => {
    expect(aggregateStatus([])).toBe('passing');
    expect(aggregateStatus([check({ status: 'warning' }), check({})])).toBe('warning');
    expect(aggregateStatus([check({ status: 'warning' }), check({ status: 'critical' })])).toBe('critical');
    expect(
      aggregateStatus([
        check({ status: 'critical' }),
        check({ checkId: '_node_maintenance', status: 'critical' }),
      ]),
    ).toBe('maintenance');
  });
});
