/**
 * The health API (`/v1/health/service/<name>`): builds the read (blocking parameters, `?passing`, `?tag`,
 * `?filter`, `?near`, `dc`), parses each entry defensively into typed nodes, services and checks, and turns
 * an entry into the instance a caller connects to (consul-semantics §S4.1, §S8).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { CheckStatus } from './agent.js';
import { blockingTimeoutMs, waitParam } from './blocking.js';
import type { Consistency, ResolvedClientConfig } from './config.js';
import { parseDuration } from './duration.js';
import { parseMeta, type QueryMeta } from './kv.js';
import { checkOptions, checkSignal, checkUint } from './kv-args.js';
import { malformed, parseJson } from './kv-entry.js';
import {
  describeTarget,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.js';

export type { CheckStatus };

/** An instance's status, aggregated from its checks: maintenance > critical > warning > passing (consul-semantics §S8.2). */
export type InstanceStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

/** The node an instance runs on (`Node` of a health entry). */
export interface HealthNode {
  readonly id: string;
  /** The node's name. */
  readonly node: string;
  readonly address: string;
  readonly datacenter: string;
  readonly meta: Readonly<Record<string, string>>;
}

/** Relative weights for weighted balancing (`Service.Weights`); Consul's default is 1 and 1. */
export interface ServiceWeights {
  /** Weight while every check passes. */
  readonly passing: number;
  /** Weight while a check warns (and none is critical). */
  readonly warning: number;
}

/** The registered service (`Service` of a health entry, a NodeService). */
export interface HealthService {
  readonly id: string;
  /** The service's name. */
  readonly service: string;
  readonly tags: readonly string[];
  /** `""` when the registration gave none: the node's address is meant (consul-semantics §S8.1). */
  readonly address: string;
  /** 0 when Consul omitted it (Consul omits a zero port, consul-semantics §S4.1). */
  readonly port: number;
  readonly meta: Readonly<Record<string, string>>;
  readonly weights: ServiceWeights;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** One check of an instance: its node's checks first, then the service's own. */
export interface HealthCheckInfo {
  readonly checkId: string;
  readonly name: string;
  readonly status: CheckStatus;
  /** `maintenance` for the checks maintenance mode adds; `ttl`, `http`, `tcp`… or `""`. */
  readonly type: string;
  readonly output: string;
  readonly notes: string;
  /** `""` for a node check. */
  readonly serviceId: string;
}

/** One check of `/v1/health/state/<state>`: a {@link HealthCheckInfo} with its node and service name. */
export interface HealthStateCheck extends HealthCheckInfo {
  readonly node: string;
  /** `""` for a node check. */
  readonly serviceName: string;
}

/** Result of {@link Health.state}: the checks, and the read's metadata (the checks table's index). */
export interface HealthStateResult extends QueryMeta {
  checks: HealthStateCheck[];
}

/** Options of {@link Health.state}. */
export type HealthStateOptions = Pick<
  HealthServiceOptions,
  'filter' | 'dc' | 'index' | 'wait' | 'consistency' | 'signal'
>;

/** One entry of `/v1/health/service/<name>`. */
export interface HealthServiceEntry {
  readonly node: HealthNode;
  readonly service: HealthService;
  readonly checks: readonly HealthCheckInfo[];
}

/** One instance of a service, as a caller connects to it. */
export interface ServiceInstance {
  /** The service ID, unique on its node. */
  readonly id: string;
  /** The service's name. */
  readonly service: string;
  /** The node's name. */
  readonly node: string;
  /** `Service.Address`, or `Node.Address` when the registration gave none (consul-semantics §S8.1). */
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly weights: ServiceWeights;
  /** Aggregated from every check, node checks included (consul-semantics §S8.2). */
  readonly status: InstanceStatus;
  readonly checks: readonly HealthCheckInfo[];
}

/** Options of {@link Health.service}. */
export interface HealthServiceOptions {
  /**
   * Only instances whose every check passes (`?passing`; node and maintenance checks count, `warning` does
   * not pass, consul-semantics §S4.1).
   * @default false
   */
  passing?: boolean;
  /** Only instances carrying every one of these tags (`?tag`, repeated; case-insensitive in Consul). @default [] */
  tags?: readonly string[];
  /** A go-bexpr expression over `Service.*`, `Node.*`, `Checks.*` (`?filter`). @default undefined */
  filter?: string;
  /** Sort by round-trip time from this node (`?near`; `_agent` is the local agent). @default undefined */
  near?: string;
  /** Datacenter to read (`?dc`). @default the client's `datacenter`, else the agent's */
  dc?: string;
  /** Blocking index: above 0, Consul holds the read until its index passes it (consul-semantics §4). @default undefined (not blocking) */
  index?: number;
  /** Longest hold of a blocking read: ms or a Go duration. @default undefined (Consul's 5 minutes) */
  wait?: number | string;
  /** Consistency mode (consul-semantics §1.7); `'stale'` lets any server answer. @default 'default' */
  consistency?: Consistency;
  /** Aborts the read with AbortedError. */
  signal?: AbortSignal;
}

/** Result of {@link Health.service}: the entries, in Consul's order, and the read's metadata. */
export interface HealthServiceResult extends QueryMeta {
  entries: HealthServiceEntry[];
}

const READ_HINT = 'the token needs service:read on this service and node:read on its nodes';

/** Health reads of one client. Arguments are checked before anything is sent. */
export class Health {
  readonly #transport: Transport;
  readonly #config: ResolvedClientConfig;

  /** Used by `ConsulClient`; not meant to be built directly. */
  constructor(transport: Transport, config: ResolvedClientConfig) {
    this.#transport = transport;
    this.#config = config;
  }

  /**
   * The instances of a service with their node and checks (`GET /v1/health/service/<name>`). No instance
   * is `[]` with the index Consul reports for it (consul-semantics §S3.2). Operation `'health.service'`.
   * @throws MalformedResponseError when the answer is not a list of health entries
   */
  async service(name: string, options: HealthServiceOptions = {}): Promise<HealthServiceResult> {
    const operation = 'health.service';
    checkName(name, operation);
    checkOptions(options, operation, name);
    const params: Array<[string, string]> = [];
    if (options.passing === true) params.push(['passing', '']);
    else if (options.passing !== undefined && options.passing !== false) {
      throw invalid(operation, name, 'passing must be a boolean');
    }
    const tags = options.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag !== '')) {
      throw invalid(operation, name, 'tags must be an array of non-empty strings');
    }
    for (const tag of tags) params.push(['tag', tag]);
    for (const [option, param] of [
      ['filter', 'filter'],
      ['near', 'near'],
    ] as const) {
      const value = options[option];
      if (value === undefined) continue;
      if (typeof value !== 'string' || value === '') {
        throw invalid(operation, name, `${option} must be a non-empty string`);
      }
      params.push([param, value]);
    }
    const request = readRequest(this.#config, {
      operation,
      key: name,
      path: `/v1/health/service/${encodeURIComponent(name)}`,
      params,
      options,
      permissionHint: READ_HINT,
    });
    const response = await this.#transport.request(request);
    return { entries: parseHealthEntries(response, operation, name), ...parseMeta(response) };
  }

  /**
   * Every check in a state (`GET /v1/health/state/<state>`; `'any'` for all). Its index is the checks
   * table's, which moves on any check change anywhere (consul-semantics §S3.2). Operation `'health.state'`.
   * @throws MalformedResponseError when the answer is not a list of checks
   */
  async state(state: 'any' | CheckStatus, options: HealthStateOptions = {}): Promise<HealthStateResult> {
    const operation = 'health.state';
    if (state !== 'any' && state !== 'passing' && state !== 'warning' && state !== 'critical') {
      throw invalid(operation, undefined, "state must be 'any', 'passing', 'warning' or 'critical'");
    }
    checkOptions(options, operation, state);
    const params: Array<[string, string]> = [];
    if (options.filter !== undefined) params.push(['filter', options.filter]);
    const response = await this.#transport.request(
      readRequest(this.#config, {
        operation,
        key: state,
        path: `/v1/health/state/${state}`,
        params,
        options,
        permissionHint: 'the token needs node:read and service:read on what it lists',
      }),
    );
    const parsed = parseJson(response, operation, state);
    const reader = new EntryReader(operation, state, response.status);
    if (!Array.isArray(parsed)) return reader.fail('the body', 'expected a JSON list of checks');
    const checks = parsed.map((value, i): HealthStateCheck => {
      const where = `check ${i}`;
      const object = reader.object(value, where);
      return {
        ...reader.check(object, where),
        node: reader.string(object, 'Node', where),
        serviceName: reader.string(object, 'ServiceName', where, true),
      };
    });
    return { checks, ...parseMeta(response) };
  }
}

/** What {@link readRequest} needs besides the client's configuration. */
export interface ReadRequestSpec {
  operation: string;
  key: string | undefined;
  path: string;
  /** The operation's own parameters, sent after `dc`. */
  params: Array<[string, string]>;
  options: {
    dc?: string | undefined;
    index?: number | undefined;
    wait?: number | string | undefined;
    consistency?: Consistency | undefined;
    signal?: AbortSignal | undefined;
  };
  permissionHint: string;
}

/**
 * A GET of a catalog or health read: `dc`, the operation's parameters, consistency, `index` and `wait`
 * (only when blocking, as the Go client sends them, consul-semantics §1.8), then `ns`/`partition`; the
 * timeout covers a whole blocking hold (§4.2).
 */
export function readRequest(config: ResolvedClientConfig, spec: ReadRequestSpec): TransportRequest {
  const { operation, key, options } = spec;
  const index = options.index === undefined ? 0 : checkUint(options.index, 'index', operation, key);
  const waitMs = options.wait === undefined ? 0 : parseDuration(options.wait, 'wait', operation);
  const dc = options.dc ?? config.datacenter;
  if (dc !== undefined && (typeof dc !== 'string' || dc === '')) {
    throw invalid(operation, key, 'dc must be a non-empty string');
  }
  const search = new URLSearchParams();
  if (dc !== undefined) search.append('dc', dc);
  for (const [name, value] of spec.params) search.append(name, value);
  const consistency = options.consistency ?? 'default';
  if (consistency === 'stale') search.append('stale', '');
  else if (consistency === 'consistent') search.append('consistent', '');
  else if (consistency !== 'default') {
    throw invalid(operation, key, "consistency must be 'default', 'stale' or 'consistent'");
  }
  if (index > 0) search.append('index', String(index));
  const wait = index > 0 ? waitParam(waitMs) : undefined;
  if (wait !== undefined) search.append('wait', wait);
  if (config.namespace !== undefined) search.append('ns', config.namespace);
  if (config.partition !== undefined) search.append('partition', config.partition);
  return {
    operation,
    key,
    method: 'GET',
    path: spec.path,
    query: search.toString(),
    index,
    timeoutMs: index > 0 ? blockingTimeoutMs(waitMs) : config.requestTimeout,
    signal: checkSignal(options.signal, operation, key),
    permissionHint: spec.permissionHint,
  };
}

function checkName(name: unknown, operation: string): asserts name is string {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`${operation}: the service name must be a non-empty string`, {
      operation,
    });
  }
}

function invalid(operation: string, key: string | undefined, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${describeTarget(operation, key)}: ${message}`, { operation, key });
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads one answer's fields; every shape problem becomes one MalformedResponseError naming the field. */
class EntryReader {
  constructor(
    readonly operation: string,
    readonly key: string,
    readonly status: number,
  ) {}

  fail(where: string, problem: string): never {
    throw malformed(this.operation, this.key, `${where}: ${problem}`, this.status);
  }

  object(value: unknown, where: string): Json {
    if (!isObject(value)) this.fail(where, 'expected an object');
    return value;
  }

  string(object: Json, field: string, where: string, optional = false): string {
    const value = object[field];
    if (value === undefined || value === null) {
      if (optional) return '';
      this.fail(`${where}.${field}`, 'missing');
    }
    if (typeof value !== 'string') this.fail(`${where}.${field}`, 'expected a string');
    return value;
  }

  uint(object: Json, field: string, where: string, fallback: number): number {
    const value = object[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(`${where}.${field}`, 'expected a non-negative integer');
    }
    return value;
  }

  tags(object: Json, where: string): string[] {
    const value = object.Tags;
    // Consul sends `[]` (consul-semantics §S4.1); a null is read as no tags rather than refused.
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((tag) => typeof tag === 'string')) {
      this.fail(`${where}.Tags`, 'expected a list of strings');
    }
    return value as string[];
  }

  meta(object: Json, field: string, where: string): Record<string, string> {
    const value = object[field];
    if (value === undefined || value === null) return {};
    const record = this.object(value, `${where}.${field}`);
    for (const [name, text] of Object.entries(record)) {
      if (typeof text !== 'string') this.fail(`${where}.${field}.${name}`, 'expected a string');
    }
    return record as Record<string, string>;
  }

  weights(object: Json, where: string): ServiceWeights {
    const value = object.Weights;
    if (value === undefined || value === null) return { passing: 1, warning: 1 };
    const weights = this.object(value, `${where}.Weights`);
    return {
      passing: this.uint(weights, 'Passing', `${where}.Weights`, 1),
      warning: this.uint(weights, 'Warning', `${where}.Weights`, 1),
    };
  }

  check(value: unknown, where: string): HealthCheckInfo {
    const check = this.object(value, where);
    const status = this.string(check, 'Status', where);
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
      this.fail(`${where}.Status`, `unknown status ${JSON.stringify(status).slice(0, 40)}`);
    }
    return {
      checkId: this.string(check, 'CheckID', where),
      name: this.string(check, 'Name', where, true),
      status,
      type: this.string(check, 'Type', where, true),
      output: this.string(check, 'Output', where, true),
      notes: this.string(check, 'Notes', where, true),
      serviceId: this.string(check, 'ServiceID', where, true),
    };
  }

  entry(value: unknown, position: number): HealthServiceEntry {
    const where = `entry ${position}`;
    const entry = this.object(value, where);
    const node = this.object(entry.Node, `${where}.Node`);
    const service = this.object(entry.Service, `${where}.Service`);
    const checks = entry.Checks ?? [];
    if (!Array.isArray(checks)) this.fail(`${where}.Checks`, 'expected a list');
    const w = `${where}.Service`;
    return {
      node: {
        id: this.string(node, 'ID', `${where}.Node`, true),
        node: this.string(node, 'Node', `${where}.Node`),
        address: this.string(node, 'Address', `${where}.Node`, true),
        datacenter: this.string(node, 'Datacenter', `${where}.Node`, true),
        meta: this.meta(node, 'Meta', `${where}.Node`),
      },
      service: {
        id: this.string(service, 'ID', w),
        service: this.string(service, 'Service', w),
        tags: this.tags(service, w),
        address: this.string(service, 'Address', w, true),
        port: this.uint(service, 'Port', w, 0),
        meta: this.meta(service, 'Meta', w),
        weights: this.weights(service, w),
        createIndex: this.uint(service, 'CreateIndex', w, 0),
        modifyIndex: this.uint(service, 'ModifyIndex', w, 0),
      },
      checks: checks.map((check, i) => this.check(check, `${where}.Checks[${i}]`)),
    };
  }
}

/**
 * Parses a `/v1/health/service/<name>` body: a JSON list of `{Node, Service, Checks}`. Anything else (not
 * JSON, not a list, a missing name or ID, a check status Consul never sends) is a MalformedResponseError,
 * so a watch never adopts the answer's index (consul-semantics §S8.3).
 */
export function parseHealthEntries(
  response: TransportResponse,
  operation: string,
  name: string,
): HealthServiceEntry[] {
  return parseHealthBody(parseJson(response, operation, name), operation, name, response.status);
}

/** {@link parseHealthEntries} over an already parsed body (a cached answer, a test). */
export function parseHealthBody(
  parsed: unknown,
  operation: string,
  name: string,
  status: number,
): HealthServiceEntry[] {
  const reader = new EntryReader(operation, name, status);
  if (!Array.isArray(parsed)) return reader.fail('the body', 'expected a JSON list of health entries');
  return parsed.map((entry, position) => reader.entry(entry, position));
}

/** Whether a check is one that maintenance mode adds (service or node, consul-semantics §S5). */
export function isMaintenanceCheck(check: HealthCheckInfo): boolean {
  return (
    check.type === 'maintenance' ||
    check.checkId === '_node_maintenance' ||
    check.checkId.startsWith('_service_maintenance:')
  );
}

/** The status of an instance from its checks: maintenance > critical > warning > passing (consul-semantics §S8.2). */
export function aggregateStatus(checks: readonly HealthCheckInfo[]): InstanceStatus {
  let status: InstanceStatus = 'passing';
  for (const check of checks) {
    if (isMaintenanceCheck(check)) return 'maintenance';
    if (check.status === 'critical') status = 'critical';
    else if (check.status === 'warning' && status === 'passing') status = 'warning';
  }
  return status;
}

/** The instance a caller connects to: `Service.Address`, else `Node.Address` (consul-semantics §S8.1). */
export function toInstance(entry: HealthServiceEntry): ServiceInstance {
  const { node, service, checks } = entry;
  return {
    id: service.id,
    service: service.service,
    node: node.node,
    address: service.address === '' ? node.address : service.address,
    port: service.port,
    tags: service.tags,
    meta: service.meta,
    weights: service.weights,
    status: aggregateStatus(checks),
    checks,
  };
}

/**
 * Whether two string records hold the same pairs in the same order: what comparing their JSON would say,
 * without building the JSON (a watch compares every answer with the last, consul-semantics §S8.3).
 */
function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  for (let i = 0; i < keysA.length; i++) {
    const key = keysA[i] as string;
    if (key !== keysB[i] || a[key] !== b[key]) return false;
  }
  return true;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two checks are alike in every field. */
export function sameCheck(a: HealthCheckInfo, b: HealthCheckInfo): boolean {
  return (
    a.checkId === b.checkId &&
    a.status === b.status &&
    a.output === b.output &&
    a.name === b.name &&
    a.notes === b.notes &&
    a.type === b.type &&
    a.serviceId === b.serviceId
  );
}

function sameChecks(a: readonly HealthCheckInfo[], b: readonly HealthCheckInfo[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++)
    if (!sameCheck(a[i] as HealthCheckInfo, b[i] as HealthCheckInfo)) return false;
  return true;
}

function sameEntry(a: HealthServiceEntry, b: HealthServiceEntry): boolean {
  const { node: na, service: sa } = a;
  const { node: nb, service: sb } = b;
  return (
    sa.id === sb.id &&
    sa.modifyIndex === sb.modifyIndex &&
    sa.createIndex === sb.createIndex &&
    sa.service === sb.service &&
    sa.address === sb.address &&
    sa.port === sb.port &&
    sa.weights.passing === sb.weights.passing &&
    sa.weights.warning === sb.weights.warning &&
    sameStrings(sa.tags, sb.tags) &&
    sameRecord(sa.meta, sb.meta) &&
    na.node === nb.node &&
    na.id === nb.id &&
    na.address === nb.address &&
    na.datacenter === nb.datacenter &&
    sameRecord(na.meta, nb.meta) &&
    sameChecks(a.checks, b.checks)
  );
}

/**
 * Whether two answers hold the same entries, field for field and in the same order (what comparing their
 * JSON says), so a wake-up that changed nothing is told apart without serializing either (consul-semantics §4.5).
 */
export function sameEntries(a: readonly HealthServiceEntry[], b: readonly HealthServiceEntry[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!sameEntry(a[i] as HealthServiceEntry, b[i] as HealthServiceEntry)) return false;
  }
  return true;
}

/** Whether two instances are alike in every field a caller sees, checks included. */
export function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  return (
    a.id === b.id &&
    a.node === b.node &&
    a.status === b.status &&
    a.service === b.service &&
    a.address === b.address &&
    a.port === b.port &&
    a.weights.passing === b.weights.passing &&
    a.weights.warning === b.weights.warning &&
    sameStrings(a.tags, b.tags) &&
    sameRecord(a.meta, b.meta) &&
    sameChecks(a.checks, b.checks)
  );
}
