/** resolveRegistration(): Consul's rules applied before sending, every problem at once, and the definition built (consul-semantics §S1.3, §S7). */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { defaultServiceId, resolveRegistration } from '../../../src/services/registration-options.js';

function problems(options: Record<string, unknown>): string[] {
  try {
    resolveRegistration({ name: 'web', ...options } as never, 42, 'host-a');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message
      .split('\n')
      .slice(1)
      .map((line) => line.replace(/^ {2}- /, ''));
  }
  return [];
}

describe('resolveRegistration', () => {
  it('builds the definition: TTL heartbeat with the crash net by default, ID from name, host, port and pid', () => {
    const resolved = resolveRegistration({ name: 'web', port: 8080 }, 42, 'host-a');
    expect(resolved.id).toBe('web-host-a-8080-42');
    expect(resolved.definition).toEqual({
      id: 'web-host-a-8080-42',
      name: 'web',
      tags: [],
      address: '',
      port: 8080,
      meta: {},
      weights: { passing: 1, warning: 1 },
      checks: [
        {
          checkId: 'service:web-host-a-8080-42:ttl',
          name: "Service 'web' heartbeat",
          ttl: 15_000,
          deregisterCriticalServiceAfter: 60_000,
        },
      ],
    });
    expect([resolved.ttlCheckId, resolved.ttlMs, resolved.drainMs, resolved.closeTimeoutMs]).toEqual([
      'service:web-host-a-8080-42:ttl',
      15_000,
      0,
      10_000,
    ]);
  });

  it('uses the address in the default ID and replaces characters a URL or DNS would trip on', () => {
    expect(resolveRegistration({ name: 'web', address: 'fe80::1', port: 80 }, 7, 'h').id).toBe(
      'web-fe80--1-80-7',
    );
    expect(defaultServiceId('api v2', 'my.host', 0, 1)).toBe('api-v2-my.host-0-1');
  });

  it('adds HTTP and TCP checks with intervals and timeouts, each with the crash net, never an Interval on the TTL check', () => {
    const { definition } = resolveRegistration(
      {
        name: 'web',
        id: 'w',
        ttl: false,
        http: { url: 'http://10.0.0.1:8080/health', interval: '2s' },
        tcp: { address: '10.0.0.1:8080', timeout: 1000 },
        deregisterCriticalServiceAfter: '5m',
      },
      1,
      'h',
    );
    expect(definition.checks).toEqual([
      {
        checkId: 'service:w:http',
        name: "Service 'web' HTTP check",
        http: 'http://10.0.0.1:8080/health',
        interval: 2000,
        timeout: 5000,
        deregisterCriticalServiceAfter: 300_000,
      },
      {
        checkId: 'service:w:tcp',
        name: "Service 'web' TCP check",
        tcp: '10.0.0.1:8080',
        interval: 10_000,
        timeout: 1000,
        deregisterCriticalServiceAfter: 300_000,
      },
    ]);
  });

  it("lists every problem at once, in Consul's terms", () => {
    const meta: Record<string, string> = {
      'consul-x': 'a',
      'bad key': 'b',
      ['k'.repeat(129)]: 'c',
      long: 'v'.repeat(513),
      '': 'e',
    };
    expect(
      problems({
        name: '',
        address: '0.0.0.0',
        port: 70_000,
        meta,
        weights: { passing: 0, warning: -1 },
        ttl: '500ms',
        drain: 'soon',
      }),
    ).toEqual([
      'name must be a non-empty string',
      "address 0.0.0.0 is refused by Consul (Invalid service address); give the instance's reachable address",
      'port must be an integer from 0 to 65535',
      `meta key "consul-x": the prefix 'consul-' is reserved for internal use`,
      'meta key "bad key" contains invalid characters (allowed: a-z A-Z 0-9 _ -)',
      `meta key "${'k'.repeat(40)}…" is too long (limit: 128 characters)`,
      'meta value of "long" is too long (limit: 512 characters)',
      'meta key cannot be blank',
      'weights.passing must be an integer >= 1',
      'weights.warning must be an integer >= 0',
      'ttl must be at least 1s, got 500 ms (heartbeats go every TTL/3)',
      "drain must be a non-negative number of milliseconds or a Go duration such as '55s', '5m' or '1500ms'; got 'soon'",
    ]);
  });

  it('refuses more than 64 meta pairs, a service without any check, and health without the heartbeat', () => {
    const meta = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(problems({ meta })).toEqual(['meta has 65 pairs; Consul allows at most 64']);
    expect(problems({ ttl: false })).toEqual([
      'the service needs a check: keep the TTL heartbeat (ttl) or give http or tcp, so a crash is noticed',
    ]);
    expect(problems({ ttl: false, health: () => ({ status: 'passing' }), tcp: { address: 'h:1' } })).toEqual([
      'health needs the TTL heartbeat (ttl is false): only a TTL check carries its result',
    ]);
    expect(problems({ id: 'a/b' })).toEqual([
      "id must not contain '/' (the agent's URLs carry it as one path segment)",
    ]);
    // The deregister needs time after the drain, inside the same bound.
    expect(problems({ drain: '10s' })).toEqual([
      'drain (10000 ms) must be shorter than closeTimeout (10000 ms): the deregister runs after it, inside the same bound; raise closeTimeout',
    ]);
    expect(problems({ drain: '5s', closeTimeout: '5s' })).toHaveLength(1);
    expect(problems({ drain: '4999ms', closeTimeout: '5s' })).toEqual([]);
  });
});

describe('name warnings', () => {
  it('warns, as Consul does, about a name DNS cannot look up, and registers it anyway', () => {
    expect(resolveRegistration({ name: 'web_api', port: 1 }, 1, 'h').warnings).toEqual([
      'service name "web_api" will not be discoverable via DNS: use only letters, digits and dashes',
    ]);
    expect(resolveRegistration({ name: 'web-api', port: 1 }, 1, 'h').warnings).toEqual([]);
  });
});
