/**
 * The `/v1/agent/*` endpoints: service and check registration, TTL updates, maintenance, the agent's
 * local reads with hash-based blocking, local health and `self` (consul-semantics §S1, §S2, §S4.4, §S5).
 * @module
 */
import { registerDecoded } from './agent-api.js';
import { type HealthCheck, NODE_NAME, SERF_CHECK_ID, WAIT_AGENT } from './catalog.js';
import {
  blockingTimeoutMs,
  DATACENTER,
  parseCommonParams,
  refuseMethod,
  requestToken,
} from './consul-http.js';
import { type AnswerParts, actOnFault } from './fault-answer.js';
import { AGENT_SERVICE_FIELDS, HEALTH_CHECK_FIELDS } from './filter.js';
import { readBodyBounded, sendBody, sendText } from './http-io.js';
import {
  decodeCheckRegistration,
  decodeCheckUpdate,
  decodeServiceRegistration,
} from './service-definition.js';
import {
  applyFilter,
  authorizeWrite,
  checkFilter,
  holdUntil,
  parseGoBool,
  readAccess,
  type ServiceContext,
  type ServiceRequest,
  sendJson,
} from './service-http.js';
import { agentServiceJson, contentHash, healthCheckJson } from './service-json.js';

const MAX_BODY_BYTES = 1 << 20;
const EMPTY = Buffer.alloc(0);

const unknownService = (id: string) =>
  `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`;
const unknownCheck = (id: string) =>
  `Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`;

/** Routes one `/v1/agent/` request. */
export async function handleAgent(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const { rest } = request;
  const put = (handler: () => void | Promise<void>) =>
    needMethod(request, 'PUT') && !agentFault(ctx, request) ? handler() : undefined;
  const get = (handler: () => void | Promise<void>) =>
    needMethod(request, 'GET') && !agentFault(ctx, request) ? handler() : undefined;
  if (rest === 'service/register') return put(() => registerService(ctx, request));
  if (rest.startsWith('service/deregister/')) {
    return put(() => deregisterService(ctx, request, rest.slice('service/deregister/'.length)));
  }
  if (rest.startsWith('service/maintenance/')) {
    return put(() => serviceMaintenance(ctx, request, rest.slice('service/maintenance/'.length)));
  }
  if (rest === 'maintenance') return put(() => nodeMaintenance(ctx, request));
  if (rest === 'services') return get(() => listServices(ctx, request));
  if (rest.startsWith('service/')) return get(() => readService(ctx, request, rest.slice('service/'.length)));
  if (rest === 'checks') return get(() => listChecks(ctx, request));
  if (rest === 'check/register') return put(() => registerCheck(ctx, request));
  if (rest.startsWith('check/deregister/')) {
    return put(() => deregisterCheck(ctx, request, rest.slice('check/deregister/'.length)));
  }
  for (const [verb, status] of [
    ['pass', 'passing'],
    ['warn', 'warning'],
    ['fail', 'critical'],
  ] as const) {
    if (rest.startsWith(`check/${verb}/`)) {
      const id = rest.slice(`check/${verb}/`.length);
      return put(() => ttlUpdate(ctx, request, id, status, request.query.get('note')));
    }
  }
  if (rest.startsWith('check/update/'))
    return put(() => checkUpdate(ctx, request, rest.slice('check/update/'.length)));
  if (rest.startsWith('health/service/id/')) {
    return get(() => healthById(ctx, request, rest.slice('health/service/id/'.length)));
  }
  if (rest.startsWith('health/service/name/')) {
    return get(() => healthByName(ctx, request, rest.slice('health/service/name/'.length)));
  }
  if (rest === 'self') return get(() => self(ctx, request));
  sendBody(request.res, 404, EMPTY);
}

/** What `reset` and `malformed` faults send part of on an agent request: an empty write, or an empty object. */
function agentAnswerParts(method: string): AnswerParts {
  return method === 'PUT'
    ? { body: EMPTY, headers: {} }
    : { body: Buffer.from('{}'), headers: { 'Content-Type': 'application/json' } };
}

/**
 * A fault rule matching this agent request (its method, `match.path` its URL path) replaces its answer;
 * returns true when one did. `index` and `spurious` do not apply (agent answers carry no index). A request
 * the ACL check will refuse meets no fault, as for KV.
 */
function agentFault(ctx: ServiceContext, request: ServiceRequest): boolean {
  const required = ctx.route.settings.aclToken;
  if (required !== undefined && requestToken(request.req, request.query) !== required) return false;
  const fault = ctx.route.faults.take({ method: request.method, path: request.path, blocking: false });
  if (fault === undefined) return false;
  return actOnFault(ctx.route, request.res, fault, () => agentAnswerParts(request.method));
}

/** consul-semantics §S1.1: each route has one method; `OPTIONS` and others get Consul's answers. */
function needMethod(request: ServiceRequest, method: 'GET' | 'PUT'): boolean {
  if (request.method === method) return true;
  refuseMethod(request.req, request.res, `OPTIONS,${method}`);
  return false;
}

function tokenOf(request: ServiceRequest): string | undefined {
  return parseCommonParams(request.req, request.res, request.query)?.token;
}

async function readBody(request: ServiceRequest): Promise<Buffer | undefined> {
  const read = await readBodyBounded(request.req, MAX_BODY_BYTES);
  if (read.kind === 'body') return read.body;
  if (read.kind === 'too-large') sendText(request.res, 413, 'Request body too large');
  return undefined;
}

/** consul-semantics §S1.2: `?replace-existing-checks` counts only when empty or exactly `true`. */
function replaceExistingChecks(request: ServiceRequest): boolean {
  if (!request.query.has('replace-existing-checks')) return false;
  const value = request.query.get('replace-existing-checks');
  return value === '' || value === 'true';
}

async function registerService(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  const body = await readBody(request);
  if (body === undefined) return;
  const decoded = decodeServiceRegistration(body);
  if (!decoded.ok) return sendText(request.res, decoded.status, decoded.text);
  const registration = decoded.value;
  if (!authorizeWrite(ctx, request.res, token, 'service:write', registration.name)) return;
  const existing = ctx.catalog.service(registration.id);
  if (existing !== undefined && !authorizeWrite(ctx, request.res, token, 'service:write', existing.name))
    return;
  registerDecoded(ctx.catalog, ctx.runner, registration, replaceExistingChecks(request));
  sendBody(request.res, 200, EMPTY);
}

async function deregisterService(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  // consul-semantics §S1.4: the 404 comes before the ACL check.
  const instance = ctx.catalog.service(id);
  if (instance === undefined) return sendText(request.res, 404, unknownService(id));
  if (!authorizeWrite(ctx, request.res, token, 'service:write', instance.name)) return;
  ctx.catalog.deregisterService(id);
  sendBody(request.res, 200, EMPTY);
}

/** consul-semantics §S5.1: enable must be present and a Go bool. */
function enableParam(request: ServiceRequest): boolean | undefined {
  if (!request.query.has('enable')) {
    sendText(request.res, 400, 'Missing value for enable');
    return undefined;
  }
  const raw = request.query.get('enable');
  const enable = parseGoBool(raw);
  if (enable === undefined) sendText(request.res, 400, `Invalid value for enable: ${JSON.stringify(raw)}`);
  return enable;
}

async function serviceMaintenance(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  if (id === '') return sendText(request.res, 400, 'Missing service ID');
  const enable = enableParam(request);
  if (enable === undefined) return;
  const instance = ctx.catalog.service(id);
  if (instance === undefined) return sendText(request.res, 404, unknownService(id));
  if (!authorizeWrite(ctx, request.res, token, 'service:write', instance.name)) return;
  ctx.catalog.setServiceMaintenance(id, enable, request.query.get('reason'));
  sendBody(request.res, 200, EMPTY);
}

async function nodeMaintenance(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  const enable = enableParam(request);
  if (enable === undefined) return;
  if (!authorizeWrite(ctx, request.res, token, 'node:write', NODE_NAME)) return;
  ctx.catalog.setNodeMaintenance(enable, request.query.get('reason'));
  sendBody(request.res, 200, EMPTY);
}

/** The agent's own checks: everything but the server-managed serfHealth. */
function agentChecks(ctx: ServiceContext): HealthCheck[] {
  return ctx.catalog.checks().filter((check) => check.checkId !== SERF_CHECK_ID);
}

async function listServices(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const params = parseCommonParams(request.req, request.res, request.query);
  if (params === undefined) return;
  const access = readAccess(ctx, request.res, params.token);
  if (access === undefined) return;
  // consul-semantics §S4.5: the filter runs over the AgentService values.
  if (!checkFilter(request, AGENT_SERVICE_FIELDS)) return;
  const services = access ? ctx.catalog.services().map((instance) => agentServiceJson(instance)) : [];
  const body: Record<string, unknown> = {};
  for (const json of applyFilter(request.query.get('filter'), services, AGENT_SERVICE_FIELDS)) {
    body[json.ID as string] = json;
  }
  sendJson(request.res, body, params.pretty);
}

async function listChecks(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const params = parseCommonParams(request.req, request.res, request.query);
  if (params === undefined) return;
  const access = readAccess(ctx, request.res, params.token);
  if (access === undefined) return;
  // consul-semantics §S4.5: the filter runs over the HealthCheck values.
  if (!checkFilter(request, HEALTH_CHECK_FIELDS)) return;
  const checks = access ? agentChecks(ctx).map((check) => healthCheckJson(check, false)) : [];
  const body: Record<string, unknown> = {};
  for (const json of applyFilter(request.query.get('filter'), checks, HEALTH_CHECK_FIELDS)) {
    body[json.CheckID as string] = json;
  }
  sendJson(request.res, body, params.pretty);
}

/** consul-semantics §S4.4: one service with `X-Consul-ContentHash`; `?hash=` blocks until the content differs. */
async function readService(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  const params = parseCommonParams(request.req, request.res, request.query);
  if (params === undefined) return;
  const access = readAccess(ctx, request.res, params.token);
  if (access === undefined) return;
  const current = () => {
    const instance = access ? ctx.catalog.service(id) : undefined;
    if (instance === undefined) return undefined;
    const json = agentServiceJson(instance);
    const hash = contentHash(json);
    return { hash, json: { ...json, ContentHash: hash } };
  };
  const send = (found: ReturnType<typeof current>) => {
    if (found === undefined) return sendText(request.res, 404, `unknown service ID: ${id}`);
    sendJson(request.res, found.json, params.pretty, 200, { 'X-Consul-ContentHash': found.hash });
  };
  const first = current();
  const wanted = request.query.get('hash');
  if (wanted === '' || first === undefined || first.hash !== wanted) return send(first);
  holdUntil(ctx, request.res, {
    kind: 'agent',
    keys: [WAIT_AGENT],
    timeoutMs: blockingTimeoutMs(ctx.route.settings, params.waitMs),
    check: () => {
      const now = current();
      return now?.hash === wanted ? undefined : { now };
    },
    send: (found) => send(found === undefined ? current() : found.now),
  });
}

async function registerCheck(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  const body = await readBody(request);
  if (body === undefined) return;
  const decoded = decodeCheckRegistration(body);
  if (!decoded.ok) return sendText(request.res, decoded.status, decoded.text);
  const { serviceId, ...spec } = decoded.value;
  const service = serviceId === '' ? undefined : ctx.catalog.service(serviceId);
  // consul-semantics §S9.3: a ServiceID not on this agent is a 404 (agent/agent_endpoint.go AgentRegisterCheck).
  if (serviceId !== '' && service === undefined) {
    return sendText(request.res, 404, `ServiceID ${JSON.stringify(serviceId)} does not exist`);
  }
  const allowed =
    service === undefined
      ? authorizeWrite(ctx, request.res, token, 'node:write', NODE_NAME)
      : authorizeWrite(ctx, request.res, token, 'service:write', service.name);
  if (!allowed) return;
  ctx.runner.start(ctx.catalog.registerCheck(spec, serviceId));
  sendBody(request.res, 200, EMPTY);
}

/** consul-semantics §S6.1: a service's check needs service:write on it, a node check node:write. */
function authorizeCheck(
  ctx: ServiceContext,
  request: ServiceRequest,
  token: string,
  check: HealthCheck,
): boolean {
  if (check.serviceId === '') return authorizeWrite(ctx, request.res, token, 'node:write', NODE_NAME);
  return authorizeWrite(ctx, request.res, token, 'service:write', check.serviceName);
}

async function deregisterCheck(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  const check = ctx.catalog.check(id);
  if (check === undefined || id === SERF_CHECK_ID) return sendText(request.res, 404, unknownCheck(id));
  if (!authorizeCheck(ctx, request, token, check)) return;
  ctx.catalog.deregisterCheck(id);
  sendBody(request.res, 200, EMPTY);
}

async function ttlUpdate(
  ctx: ServiceContext,
  request: ServiceRequest,
  id: string,
  status: 'passing' | 'warning' | 'critical',
  output: string,
): Promise<void> {
  const token = tokenOf(request);
  if (token === undefined) return;
  const check = ctx.catalog.check(id);
  // consul-semantics §S2.5: 404 for an unknown ID (before the ACL check), 500 for a check without a TTL.
  if (check === undefined || id === SERF_CHECK_ID) return sendText(request.res, 404, unknownCheck(id));
  if (!authorizeCheck(ctx, request, token, check)) return;
  if (check.type !== 'ttl')
    return sendText(request.res, 500, `CheckID ${JSON.stringify(id)} does not have associated TTL`);
  ctx.runner.updateTtl(id, status, output);
  sendBody(request.res, 200, EMPTY);
}

async function checkUpdate(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  const body = await readBody(request);
  if (body === undefined) return;
  const decoded = decodeCheckUpdate(body);
  if (!decoded.ok) return sendText(request.res, decoded.status, decoded.text);
  return ttlUpdate(ctx, request, id, decoded.value.status as 'passing', decoded.value.output);
}

type Aggregated = 'passing' | 'warning' | 'critical' | 'maintenance';

/** consul-semantics §S4.4: maintenance > critical > warning > passing. */
function aggregate(checks: readonly HealthCheck[]): Aggregated {
  if (checks.some((check) => check.type === 'maintenance')) return 'maintenance';
  if (checks.some((check) => check.status === 'critical')) return 'critical';
  if (checks.some((check) => check.status === 'warning')) return 'warning';
  return 'passing';
}

const HEALTH_CODE: Record<Aggregated, number> = {
  passing: 200,
  warning: 429,
  critical: 503,
  maintenance: 503,
};

function serviceHealth(ctx: ServiceContext, id: string) {
  const checks = agentChecks(ctx).filter((check) => check.serviceId === id || check.serviceId === '');
  const status = aggregate(checks);
  const instance = ctx.catalog.service(id);
  return {
    status,
    json: {
      AggregatedStatus: status,
      Service: instance === undefined ? null : agentServiceJson(instance),
      Checks: checks.map((check) => healthCheckJson(check, false)),
    },
  };
}

/** consul-semantics §S4.4: text when `Accept` starts with `text/plain`, else when `?format=text`. */
function wantsText(request: ServiceRequest): boolean {
  if ((request.req.headers.accept ?? '').startsWith('text/plain')) return true;
  return request.query.get('format') === 'text';
}

/** With ACLs on, local health needs `service:read` on the name; a denied read is a 403, not a filtered answer. */
function authorizeServiceRead(
  ctx: ServiceContext,
  request: ServiceRequest,
  name: string,
): boolean | undefined {
  const token = tokenOf(request);
  if (token === undefined) return undefined;
  return authorizeWrite(ctx, request.res, token, 'service:read', name);
}

async function healthById(ctx: ServiceContext, request: ServiceRequest, id: string): Promise<void> {
  if (id === '') return sendText(request.res, 400, 'Missing serviceID');
  const instance = ctx.catalog.service(id);
  if (instance === undefined) {
    const token = tokenOf(request);
    if (token === undefined || readAccess(ctx, request.res, token) === undefined) return;
    // agent/agent_endpoint.go AgentHealthServiceByID: the 404 carries a critical answer with no service.
    const reason = `ServiceId ${id} not found`;
    if (wantsText(request)) return sendText(request.res, 404, reason);
    const json = { AggregatedStatus: 'critical', Service: null, Checks: null };
    return sendJson(request.res, json, request.query.has('pretty'), 404);
  }
  if (authorizeServiceRead(ctx, request, instance.name) !== true) return;
  const health = serviceHealth(ctx, id);
  if (wantsText(request)) return sendText(request.res, HEALTH_CODE[health.status], health.status);
  sendJson(request.res, health.json, request.query.has('pretty'), HEALTH_CODE[health.status]);
}

async function healthByName(ctx: ServiceContext, request: ServiceRequest, name: string): Promise<void> {
  if (name === '') return sendText(request.res, 400, 'Missing service Name');
  if (authorizeServiceRead(ctx, request, name) !== true) return;
  const instances = ctx.catalog.instancesOf(name);
  // agent/agent_endpoint.go AgentHealthServiceByName: the worst instance decides; none found is a 404
  // with `[]` (or the text `ServiceName <name> Not Found`).
  let code = 404;
  let status: string = `ServiceName ${name} Not Found`;
  const all = instances.map((instance) => serviceHealth(ctx, instance.id));
  for (const health of all) {
    const instanceCode = HEALTH_CODE[health.status];
    if (code === 404 || code < instanceCode) {
      code = instanceCode;
      status = health.status;
    }
  }
  if (wantsText(request)) return sendText(request.res, code, status);
  sendJson(
    request.res,
    all.map((health) => health.json),
    request.query.has('pretty'),
    code,
  );
}

async function self(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  sendJson(
    request.res,
    {
      Config: {
        Datacenter: DATACENTER,
        NodeName: NODE_NAME,
        NodeID: ctx.catalog.nodeId,
        Server: true,
        Version: '1.21.0',
      },
      Member: { Name: NODE_NAME, Addr: '127.0.0.1', Port: 8301, Status: 1 },
      Meta: {},
    },
    request.query.has('pretty'),
  );
}
