/**
 * The JSON shapes Consul writes for services, checks and the node: AgentService, HealthCheck, Node,
 * NodeService, ServiceNode and health entries (consul-semantics §S4).
 * @module
 */
import { createHash } from 'node:crypto';
import { type Catalog, type HealthCheck, NODE_ADDRESS, NODE_NAME, type ServiceInstance } from './catalog.js';
import { DATACENTER } from './consul-http.js';

const UNITS: readonly [string, number][] = [
  ['h', 3_600_000],
  ['m', 60_000],
];

/** Go's `time.Duration.String()` for a whole number of ms or more (`10s`, `1m30s`, `1.5s`, `500ms`); `''` for 0 (consul-semantics §S4.2). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '';
  if (ms < 1000) {
    if (ms >= 1) return `${trimZeros(ms)}ms`;
    const us = ms * 1000;
    return us >= 1 ? `${trimZeros(us)}µs` : `${Math.round(us * 1000)}ns`;
  }
  let rest = ms;
  let out = '';
  for (const [unit, size] of UNITS) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    } else if (out !== '') {
      out += `0${unit}`;
    }
  }
  return `${out}${trimZeros(rest / 1000)}s`;
}

function trimZeros(value: number): string {
  return String(Number(value.toFixed(9)));
}

/** AgentService, as `/v1/agent/services` and `/v1/agent/service/<id>` write it. */
export function agentServiceJson(instance: ServiceInstance): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (instance.kind !== '') json.Kind = instance.kind;
  Object.assign(json, {
    ID: instance.id,
    Service: instance.name,
    Tags: [...instance.tags],
    Meta: { ...instance.meta },
    Port: instance.port,
    Address: instance.address,
  });
  if (Object.keys(instance.taggedAddresses).length > 0) json.TaggedAddresses = instance.taggedAddresses;
  Object.assign(json, {
    Weights: { Passing: instance.weights.passing, Warning: instance.weights.warning },
    EnableTagOverride: instance.enableTagOverride,
    Datacenter: DATACENTER,
  });
  return json;
}

/** The `X-Consul-ContentHash` of an agent service: a hash of what it returns (consul-semantics §S4.4). */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** HealthCheck; the agent's local view carries zero indexes (consul-semantics §S4.2). */
export function healthCheckJson(check: HealthCheck, withIndexes: boolean): Record<string, unknown> {
  return {
    Node: NODE_NAME,
    CheckID: check.checkId,
    Name: check.name,
    Status: check.status,
    Notes: check.notes,
    Output: check.output,
    ServiceID: check.serviceId,
    ServiceName: check.serviceName,
    ServiceTags: [...check.serviceTags],
    Type: check.type,
    Interval: formatGoDuration(check.spec?.intervalMs ?? 0),
    Timeout: formatGoDuration(check.spec?.timeoutMs ?? 0),
    ExposedPort: 0,
    Definition: {},
    CreateIndex: withIndexes ? check.createIndex : 0,
    ModifyIndex: withIndexes ? check.modifyIndex : 0,
  };
}

const NODE_TAGGED = { lan: NODE_ADDRESS, lan_ipv4: NODE_ADDRESS, wan: NODE_ADDRESS, wan_ipv4: NODE_ADDRESS };
const NODE_META = { 'consul-network-segment': '' };

/** Node, as the health and catalog node endpoints write it. */
export function nodeJson(catalog: Catalog): Record<string, unknown> {
  return {
    ID: catalog.nodeId,
    Node: NODE_NAME,
    Address: NODE_ADDRESS,
    Datacenter: DATACENTER,
    TaggedAddresses: NODE_TAGGED,
    Meta: NODE_META,
    CreateIndex: catalog.nodeIndex,
    ModifyIndex: catalog.nodeIndex,
  };
}

/** NodeService (consul-semantics §S4.1: `Port` 0 is omitted, `TaggedAddresses` only when set). */
export function nodeServiceJson(instance: ServiceInstance): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (instance.kind !== '') json.Kind = instance.kind;
  json.ID = instance.id;
  json.Service = instance.name;
  json.Tags = [...instance.tags];
  json.Address = instance.address;
  if (Object.keys(instance.taggedAddresses).length > 0) json.TaggedAddresses = instance.taggedAddresses;
  json.Meta = { ...instance.meta };
  if (instance.port !== 0) json.Port = instance.port;
  Object.assign(json, {
    Weights: { Passing: instance.weights.passing, Warning: instance.weights.warning },
    EnableTagOverride: instance.enableTagOverride,
    Proxy: { Mode: '', MeshGateway: {}, Expose: {} },
    Connect: {},
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  });
  return json;
}

/** ServiceNode, as `/v1/catalog/service/<name>` writes it (consul-semantics §S4.3). */
export function serviceNodeJson(catalog: Catalog, instance: ServiceInstance): Record<string, unknown> {
  return {
    ID: catalog.nodeId,
    Node: NODE_NAME,
    Address: NODE_ADDRESS,
    Datacenter: DATACENTER,
    TaggedAddresses: NODE_TAGGED,
    NodeMeta: NODE_META,
    ServiceKind: instance.kind,
    ServiceID: instance.id,
    ServiceName: instance.name,
    ServiceTags: [...instance.tags],
    ServiceAddress: instance.address,
    ServiceTaggedAddresses: instance.taggedAddresses,
    ServiceWeights: { Passing: instance.weights.passing, Warning: instance.weights.warning },
    ServiceMeta: { ...instance.meta },
    ServicePort: instance.port,
    ServiceSocketPath: '',
    ServiceEnableTagOverride: instance.enableTagOverride,
    ServiceProxy: { Mode: '', MeshGateway: {}, Expose: {} },
    ServiceConnect: {},
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

/** One `/v1/health/service/<name>` entry: node, service, node checks then service checks (consul-semantics §S4.1). */
export function healthEntryJson(catalog: Catalog, instance: ServiceInstance): Record<string, unknown> {
  return {
    Node: nodeJson(catalog),
    Service: nodeServiceJson(instance),
    Checks: catalog.checksForInstance(instance.id).map((check) => healthCheckJson(check, true)),
  };
}
