/**
 * The agent API (`/v1/agent/`): service register and deregister, one service's read, TTL check updates,
 * service maintenance and `self`. Builds requests, maps the agent's answers (404 unknown ID, 500 not a TTL
 * check) to typed errors and parses answers defensively (consul-semantics §S1, §S2.5, §S5).
 * @module
 */
import {
  InvalidArgumentError,
  MalformedResponseError,
  ServerError,
  ServiceNotRegisteredError,
} from '../errors.js';
import type { ResolvedClientConfig } from './config.js';
import { MAX_TIMER_MS, parseDuration } from './duration.js';
import { checkOptions, checkSignal } from './kv-args.js';
import { parseJson } from './kv-entry.js';
import { describeTarget, type Transport, type TransportResponse } from './transport.js';

/** A check's status as the agent reports and accepts it. */
export type CheckStatus = 'passing' | 'warning' | 'critical';

/** A duration: milliseconds, or a Go duration string such as `'15s'`. Always sent as a Go string. */
export type AgentDuration = number | string;

/**
 * One check of a service definition (`CheckType` in Consul). Give exactly one of `ttl`, `http` or `tcp`;
 * `http` and `tcp` need an `interval` (consul-semantics §S1.3).
 */
export interface AgentCheckDefinition {
  /** The check's ID. @default Consul's `service:<serviceId>` (`service:<serviceId>:<n>` with several) */
  checkId?: string;
  /** Human name. @default Consul's `Service '<name>' check` */
  name?: string;
  /** Free text shown beside the check. */
  notes?: string;
  /** Status at registration. @default Consul's `critical` */
  status?: CheckStatus;
  /** TTL check: turns critical unless updated within this time. */
  ttl?: AgentDuration;
  /** HTTP check: the URL the agent requests every `interval`. */
  http?: string;
  /** HTTP method of an `http` check. @default Consul's `GET` */
  method?: string;
  /** Request headers of an `http` check. */
  header?: Record<string, string[]>;
  /** Skip TLS verification for an `https` URL. @default false */
  tlsSkipVerify?: boolean;
  /** TCP check: `host:port` the agent connects to every `interval`. */
  tcp?: string;
  /** How often an `http` or `tcp` check runs (Consul raises values under 1 s to 1 s). */
  interval?: AgentDuration;
  /** How long an `http` or `tcp` probe may take. @default Consul's 10 s */
  timeout?: AgentDuration;
  /** Remove the whole service once this check has been critical this long (Consul's floor is 1 min). */
  deregisterCriticalServiceAfter?: AgentDuration;
  /** Consecutive successes before `passing` (probes only). @default 0 */
  successBeforePassing?: number;
  /** Consecutive failures before `warning` (probes only). @default failuresBeforeCritical */
  failuresBeforeWarning?: number;
  /** Consecutive failures before `critical` (probes only). @default 0 */
  failuresBeforeCritical?: number;
}

/** A service definition, the body of `PUT /v1/agent/service/register` (consul-semantics §S1.2). */
export interface AgentServiceDefinition {
  /** Service ID, unique on this agent. @default Consul uses `name` */
  id?: string;
  /** Service name, what discovery looks up. */
  name: string;
  tags?: string[];
  /** Address of the instance; `''`/undefined means the node's address. */
  address?: string;
  port?: number;
  /** Up to 64 pairs; keys `^[a-zA-Z0-9_-]+$`, at most 128 characters, not starting with `consul-`; values at most 512. */
  meta?: Record<string, string>;
  /** Load-balancing weights while passing and while warning. @default Consul's `{ passing: 1, warning: 1 }` */
  weights?: { passing: number; warning: number };
  enableTagOverride?: boolean;
  checks?: AgentCheckDefinition[];
}

/** One service as the agent holds it (`GET /v1/agent/service/<id>`, consul-semantics §S4.4). */
export interface AgentService {
  id: string;
  /** The service name. */
  service: string;
  tags: string[];
  meta: Record<string, string>;
  /** `''` when none was registered. */
  address: string;
  /** 0 when none was registered. */
  port: number;
  weights: { passing: number; warning: number };
  /** The agent's datacenter, when it says. */
  datacenter: string | undefined;
}

/** What `GET /v1/agent/self` says about the agent. */
export interface AgentSelf {
  datacenter: string;
  nodeName: string;
  /** Consul's version, when it says. */
  version: string | undefined;
}

/** Options of {@link Agent.register}. */
export interface RegisterOptions {
  /**
   * Send `?replace-existing-checks=true`, so the agent drops checks of this service that the new definition
   * no longer has (consul-semantics §S1.2).
   * @default true
   */
  replaceExistingChecks?: boolean;
  /** Aborts the request with AbortedError (it may still have been applied). */
  signal?: AbortSignal;
  /** Client-side timeout of this request, in ms. @default the client's `requestTimeout` */
  timeout?: number;
}

/** Options of the other agent calls. */
export interface AgentCallOptions {
  /** Aborts the request with AbortedError (a write may still have been applied). */
  signal?: AbortSignal;
  /**
   * Client-side timeout of this request, in ms; past it the request fails with TimeoutError.
   * @default the client's `requestTimeout`
   */
  timeout?: number;
}

/** Options of {@link Agent.maintenance}. */
export interface MaintenanceOptions extends AgentCallOptions {
  /** Shown as the maintenance check's Notes. @default Consul's default text */
  reason?: string;
}

const WRITE_HINT = (name: string): string =>
  `the token needs service:write on service ${JSON.stringify(name)}`;
const READ_HINT = 'the token needs service:read on this service';
const CHECK_HINT = "the token needs service:write on the check's service";
const SELF_HINT = 'the token needs agent:read on this agent';

/** Milliseconds as a Go duration string (`15000` → `'15s'`, `1500` → `'1500ms'`): Consul reads a bare number as nanoseconds (consul-semantics §S1.2). */
export function goDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1_000_000)}ns`;
}

/**
 * The agent operations of one client. Each validates its arguments before sending and accepts an AbortSignal.
 * Operations are named `agent.service.register`, `agent.service.deregister`, `agent.service`,
 * `agent.check.update`, `agent.check.pass|warn|fail`, `agent.service.maintenance` and `agent.self`.
 */
export class Agent {
  readonly #transport: Transport;
  readonly #config: ResolvedClientConfig;

  /** Used by {@link ConsulClient}; not meant to be built directly. */
  constructor(transport: Transport, config: ResolvedClientConfig) {
    this.#transport = transport;
    this.#config = config;
  }

  /**
   * Registers (or re-registers) a service with its checks on this agent. Durations are sent as Go strings.
   * A 400 is a BadRequestError quoting Consul's text; a 403 an AclDeniedError naming `service:write`.
   */
  async register(definition: AgentServiceDefinition, options: RegisterOptions = {}): Promise<void> {
    const operation = 'agent.service.register';
    checkOptions(options, operation, undefined);
    const body = encodeService(definition, operation);
    const id = definition.id ?? definition.name;
    await this.#put(operation, id, '/v1/agent/service/register', {
      query: options.replaceExistingChecks === false ? '' : 'replace-existing-checks=true',
      body: JSON.stringify(body),
      signal: checkSignal(options.signal, operation, id),
      timeoutMs: checkTimeout(options.timeout, operation, id),
      hint: WRITE_HINT(definition.name),
    });
  }

  /**
   * Deregisters a service and its checks. Resolves to true when it was removed, false when the agent did not
   * know it (a 404 means the work is already done, consul-semantics §S1.4).
   */
  async deregister(serviceId: string, options: AgentCallOptions = {}): Promise<boolean> {
    const operation = 'agent.service.deregister';
    requireId(serviceId, 'serviceId', operation);
    checkOptions(options, operation, serviceId);
    const response = await this.#put(operation, serviceId, `/v1/agent/service/deregister/${enc(serviceId)}`, {
      query: '',
      signal: checkSignal(options.signal, operation, serviceId),
      timeoutMs: checkTimeout(options.timeout, operation, serviceId),
      hint: 'the token needs service:write on this service',
      accept404: true,
    });
    return response.status !== 404;
  }

  /** Reads one service from this agent; null when the agent does not know the ID. */
  async service(serviceId: string, options: AgentCallOptions = {}): Promise<AgentService | null> {
    const operation = 'agent.service';
    requireId(serviceId, 'serviceId', operation);
    checkOptions(options, operation, serviceId);
    const response = await this.#transport.request({
      operation,
      key: serviceId,
      method: 'GET',
      path: `/v1/agent/service/${enc(serviceId)}`,
      query: '',
      index: 0,
      timeoutMs: checkTimeout(options.timeout, operation, serviceId) ?? this.#config.requestTimeout,
      signal: checkSignal(options.signal, operation, serviceId),
      acceptStatus: [404],
      permissionHint: READ_HINT,
    });
    if (response.status === 404) return null;
    return parseAgentService(response, operation, serviceId);
  }

  /**
   * Sets a TTL check's status and output (`PUT /v1/agent/check/update/<id>`), resetting its TTL timer.
   * @throws ServiceNotRegisteredError when the agent does not know the check, or it is not a TTL check
   */
  async updateCheck(
    checkId: string,
    status: CheckStatus,
    output = '',
    options: AgentCallOptions = {},
  ): Promise<void> {
    const operation = 'agent.check.update';
    requireId(checkId, 'checkId', operation);
    checkOptions(options, operation, checkId);
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
      throw new InvalidArgumentError(
        `${describeTarget(operation, checkId)}: status must be 'passing', 'warning' or 'critical'`,
        { operation, key: checkId },
      );
    }
    if (typeof output !== 'string') {
      throw new InvalidArgumentError(`${describeTarget(operation, checkId)}: output must be a string`, {
        operation,
        key: checkId,
      });
    }
    await this.#ttl(operation, checkId, `/v1/agent/check/update/${enc(checkId)}`, '', options, {
      Status: status,
      Output: output,
    });
  }

  /** Marks a TTL check passing, with `note` as its output (`PUT /v1/agent/check/pass/<id>`). */
  pass(checkId: string, note?: string, options?: AgentCallOptions): Promise<void> {
    return this.#verb('pass', checkId, note, options);
  }

  /** Marks a TTL check warning, with `note` as its output (`PUT /v1/agent/check/warn/<id>`). */
  warn(checkId: string, note?: string, options?: AgentCallOptions): Promise<void> {
    return this.#verb('warn', checkId, note, options);
  }

  /** Marks a TTL check critical, with `note` as its output (`PUT /v1/agent/check/fail/<id>`). */
  fail(checkId: string, note?: string, options?: AgentCallOptions): Promise<void> {
    return this.#verb('fail', checkId, note, options);
  }

  /**
   * Turns a service's maintenance mode on or off. While on, the instance is left out of `?passing` answers
   * (consul-semantics §S5.1); enabling twice changes nothing.
   * @throws ServiceNotRegisteredError when the agent does not know the service
   */
  async maintenance(serviceId: string, enable: boolean, options: MaintenanceOptions = {}): Promise<void> {
    const operation = 'agent.service.maintenance';
    requireId(serviceId, 'serviceId', operation);
    checkOptions(options, operation, serviceId);
    if (typeof enable !== 'boolean') {
      throw new InvalidArgumentError(`${describeTarget(operation, serviceId)}: enable must be a boolean`, {
        operation,
        key: serviceId,
      });
    }
    const search = new URLSearchParams({ enable: String(enable) });
    if (options.reason !== undefined) search.append('reason', options.reason);
    const response = await this.#put(
      operation,
      serviceId,
      `/v1/agent/service/maintenance/${enc(serviceId)}`,
      {
        query: search.toString(),
        signal: checkSignal(options.signal, operation, serviceId),
        timeoutMs: checkTimeout(options.timeout, operation, serviceId),
        hint: 'the token needs service:write on this service',
        accept404: true,
      },
    );
    if (response.status === 404) throw notRegistered(operation, serviceId, response);
  }

  /** Reads the agent's datacenter, node name and version (`GET /v1/agent/self`). */
  async self(options: AgentCallOptions = {}): Promise<AgentSelf> {
    const operation = 'agent.self';
    checkOptions(options, operation, undefined);
    const response = await this.#transport.request({
      operation,
      key: undefined,
      method: 'GET',
      path: '/v1/agent/self',
      query: '',
      index: 0,
      timeoutMs: checkTimeout(options.timeout, operation, undefined) ?? this.#config.requestTimeout,
      signal: checkSignal(options.signal, operation, undefined),
      permissionHint: SELF_HINT,
    });
    const parsed = parseJson(response, operation, undefined);
    const config = isObject(parsed) ? parsed.Config : undefined;
    if (!isObject(config) || typeof config.Datacenter !== 'string' || typeof config.NodeName !== 'string') {
      throw malformedAgent(
        operation,
        undefined,
        'expected an object with Config.Datacenter and Config.NodeName',
        response,
      );
    }
    return {
      datacenter: config.Datacenter,
      nodeName: config.NodeName,
      version: typeof config.Version === 'string' ? config.Version : undefined,
    };
  }

  #verb(
    verb: 'pass' | 'warn' | 'fail',
    checkId: string,
    note: string | undefined,
    options: AgentCallOptions = {},
  ): Promise<void> {
    const operation = `agent.check.${verb}`;
    requireId(checkId, 'checkId', operation);
    checkOptions(options, operation, checkId);
    if (note !== undefined && typeof note !== 'string') {
      throw new InvalidArgumentError(`${describeTarget(operation, checkId)}: note must be a string`, {
        operation,
        key: checkId,
      });
    }
    const query = note === undefined ? '' : new URLSearchParams({ note }).toString();
    return this.#ttl(operation, checkId, `/v1/agent/check/${verb}/${enc(checkId)}`, query, options);
  }

  /** A TTL update: 404 and the 500 `does not have associated TTL` become ServiceNotRegisteredError (consul-semantics §S2.5). */
  async #ttl(
    operation: string,
    checkId: string,
    path: string,
    query: string,
    options: AgentCallOptions,
    body?: unknown,
  ): Promise<void> {
    let response: TransportResponse;
    try {
      response = await this.#put(operation, checkId, path, {
        query,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: checkSignal(options.signal, operation, checkId),
        timeoutMs: checkTimeout(options.timeout, operation, checkId),
        hint: CHECK_HINT,
        accept404: true,
      });
    } catch (error) {
      if (error instanceof ServerError && error.message.includes('does not have associated TTL')) {
        throw new ServiceNotRegisteredError(
          `${describeTarget(operation, checkId)}: the check is no longer a TTL check on this agent (someone re-registered the service); register it again`,
          { operation, key: checkId, status: error.status, cause: error },
        );
      }
      throw error;
    }
    if (response.status === 404) throw notRegistered(operation, checkId, response);
  }

  #put(
    operation: string,
    key: string,
    path: string,
    request: {
      query: string;
      body?: string;
      signal: AbortSignal | undefined;
      hint: string;
      accept404?: boolean;
      timeoutMs?: number | undefined;
    },
  ): Promise<TransportResponse> {
    return this.#transport.request({
      operation,
      key,
      method: 'PUT',
      path,
      query: request.query,
      ...(request.body === undefined ? {} : { body: request.body, contentType: 'application/json' }),
      index: 0,
      timeoutMs: request.timeoutMs ?? this.#config.requestTimeout,
      signal: request.signal,
      acceptStatus: request.accept404 === true ? [404] : undefined,
      permissionHint: request.hint,
    });
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function requireId(value: unknown, name: string, operation: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(`${operation}: ${name} must be a non-empty string`, { operation });
  }
}

function notRegistered(
  operation: string,
  key: string,
  response: TransportResponse,
): ServiceNotRegisteredError {
  const text = response.body.toString('utf8').trim().slice(0, 200);
  return new ServiceNotRegisteredError(
    `${describeTarget(operation, key)}: 404 ${text === '' ? 'Not Found' : JSON.stringify(text)} (the agent does not know it: it restarted or the service was deregistered; register it again)`,
    { operation, key, status: 404 },
  );
}

function checkTimeout(value: unknown, operation: string, key: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0) || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(`${describeTarget(operation, key)}: timeout must be a number of ms > 0`, {
      operation,
      key,
    });
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformedAgent(
  operation: string,
  key: string | undefined,
  problem: string,
  response: TransportResponse,
): MalformedResponseError {
  return new MalformedResponseError(
    `${describeTarget(operation, key)}: malformed answer from Consul: ${problem}`,
    {
      operation,
      key,
      status: response.status,
    },
  );
}

/** `GET /v1/agent/service/<id>`'s AgentService, every field checked; missing optional ones get Consul's zero values. */
function parseAgentService(response: TransportResponse, operation: string, key: string): AgentService {
  const raw = parseJson(response, operation, key);
  const bad = (problem: string): never => {
    throw malformedAgent(operation, key, problem, response);
  };
  if (!isObject(raw)) return bad('expected a JSON object');
  const { ID: id, Service: service, Address: address = '', Port: port = 0 } = raw;
  if (typeof id !== 'string' || typeof service !== 'string') return bad('ID and Service must be strings');
  if (typeof address !== 'string') return bad('Address must be a string');
  if (typeof port !== 'number' || !Number.isInteger(port)) return bad('Port must be an integer');
  const tags = raw.Tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
    return bad('Tags must be an array of strings');
  }
  const meta = raw.Meta ?? {};
  if (!isObject(meta) || !Object.values(meta).every((value) => typeof value === 'string')) {
    return bad('Meta must be an object of strings');
  }
  const weights = raw.Weights ?? { Passing: 1, Warning: 1 };
  if (!isObject(weights) || typeof weights.Passing !== 'number' || typeof weights.Warning !== 'number') {
    return bad('Weights must be {Passing, Warning} numbers');
  }
  return {
    id,
    service,
    tags: tags as string[],
    meta: meta as Record<string, string>,
    address,
    port,
    weights: { passing: weights.Passing, warning: weights.Warning },
    datacenter: typeof raw.Datacenter === 'string' ? raw.Datacenter : undefined,
  };
}

/** The definition in Consul's field names, durations as Go strings (consul-semantics §S1.2: a number would be nanoseconds). */
function encodeService(definition: AgentServiceDefinition, operation: string): Record<string, unknown> {
  if (!isObject(definition)) {
    throw new InvalidArgumentError(`${operation}: the definition must be an object`, { operation });
  }
  const d = definition;
  if (typeof d.name !== 'string' || d.name === '') {
    throw new InvalidArgumentError(`${operation}: name must be a non-empty string`, { operation });
  }
  const body: Record<string, unknown> = { Name: d.name };
  if (d.id !== undefined) body.ID = d.id;
  if (d.tags !== undefined) body.Tags = d.tags;
  if (d.address !== undefined) body.Address = d.address;
  if (d.port !== undefined) body.Port = d.port;
  if (d.meta !== undefined) body.Meta = d.meta;
  if (d.weights !== undefined) body.Weights = { Passing: d.weights.passing, Warning: d.weights.warning };
  if (d.enableTagOverride !== undefined) body.EnableTagOverride = d.enableTagOverride;
  if (d.checks !== undefined) body.Checks = d.checks.map((check) => encodeCheck(check, operation));
  return body;
}

function encodeCheck(check: AgentCheckDefinition, operation: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const duration = (value: AgentDuration | undefined, name: string): string | undefined =>
    value === undefined ? undefined : goDuration(parseDuration(value, name, operation));
  const fields: Array<[string, unknown]> = [
    ['CheckID', check.checkId],
    ['Name', check.name],
    ['Notes', check.notes],
    ['Status', check.status],
    ['TTL', duration(check.ttl, 'ttl')],
    ['HTTP', check.http],
    ['Method', check.method],
    ['Header', check.header],
    ['TLSSkipVerify', check.tlsSkipVerify],
    ['TCP', check.tcp],
    ['Interval', duration(check.interval, 'interval')],
    ['Timeout', duration(check.timeout, 'timeout')],
    [
      'DeregisterCriticalServiceAfter',
      duration(check.deregisterCriticalServiceAfter, 'deregisterCriticalServiceAfter'),
    ],
    ['SuccessBeforePassing', check.successBeforePassing],
    ['FailuresBeforeWarning', check.failuresBeforeWarning],
    ['FailuresBeforeCritical', check.failuresBeforeCritical],
  ];
  for (const [name, value] of fields) if (value !== undefined) out[name] = value;
  return out;
}
