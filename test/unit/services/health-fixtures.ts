/**
 * Health entries as Consul's `/v1/health/service/<name>` sends them, and a Watcher on a MockAgent, for the
 * discovery unit tests (consul-semantics §S4.1).
 */
import type { MockAgent } from 'undici';
import type { WatcherOptions } from '../../../src/watch/types.js';
import { Watcher } from '../../../src/watch/watcher.js';
import { ADDRESS } from '../watch/mock-consul.js';

/** A Watcher on `agent` with no pacing and an immediate, fixed backoff, then `options`. */
export function mockWatcher(agent: MockAgent, options: WatcherOptions = {}): Watcher {
  return new Watcher({
    address: ADDRESS,
    dispatcher: agent,
    env: {},
    minInterval: 0,
    backoff: { min: 1, max: 1 },
    random: () => 0,
    ...options,
  });
}

/** One instance as a test describes it; every field but `id` has a default. */
export interface InstanceSpec {
  id: string;
  service?: string;
  node?: string;
  nodeAddress?: string;
  /** `""` (the default) means the node's address. */
  address?: string;
  port?: number;
  tags?: string[];
  meta?: Record<string, string>;
  weights?: { Passing: number; Warning: number };
  /** The service check's status. */
  status?: 'passing' | 'warning' | 'critical';
  /** Adds the critical check maintenance mode adds. */
  maintenance?: boolean;
  output?: string;
}

/** The JSON entry for one instance: a passing node check, then the service's check. */
export function healthEntry(spec: InstanceSpec): Record<string, unknown> {
  const service = spec.service ?? 'web';
  const node = spec.node ?? 'node-1';
  const checks: Record<string, unknown>[] = [
    {
      Node: node,
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: 'Agent alive and reachable',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
    },
    {
      Node: node,
      CheckID: `service:${spec.id}`,
      Name: `Service '${service}' check`,
      Status: spec.status ?? 'passing',
      Notes: '',
      Output: spec.output ?? '',
      ServiceID: spec.id,
      ServiceName: service,
      ServiceTags: spec.tags ?? [],
      Type: 'ttl',
    },
  ];
  if (spec.maintenance === true) {
    checks.push({
      Node: node,
      CheckID: `_service_maintenance:${spec.id}`,
      Name: 'Service Maintenance Mode',
      Status: 'critical',
      Notes: 'drain',
      Output: '',
      ServiceID: spec.id,
      ServiceName: service,
      Type: 'maintenance',
    });
  }
  const entry: Record<string, unknown> = {
    Node: {
      ID: '0b0c0d0e-0000-0000-0000-000000000001',
      Node: node,
      Address: spec.nodeAddress ?? '10.0.0.1',
      Datacenter: 'dc1',
      TaggedAddresses: {},
      Meta: {},
      CreateIndex: 1,
      ModifyIndex: 1,
    },
    Service: {
      ID: spec.id,
      Service: service,
      Tags: spec.tags ?? [],
      Address: spec.address ?? '',
      Meta: spec.meta ?? {},
      Weights: spec.weights ?? { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      CreateIndex: 5,
      ModifyIndex: 5,
      ...(spec.port === 0 ? {} : { Port: spec.port ?? 8080 }),
    },
    Checks: checks,
  };
  return entry;
}

/** A whole answer body. */
export function healthBody(specs: InstanceSpec[]): string {
  return JSON.stringify(specs.map(healthEntry));
}
