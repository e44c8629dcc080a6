/**
 * The `/v1/health/*` reads, blocking on the catalog index Consul returns for each (consul-semantics §S3.2, §S4.1).
 * @module
 */
import { type HealthCheck, NODE_NAME, WAIT_CHECKS } from './catalog.js';
import { refuseMethod } from './consul-http.js';
import { HEALTH_CHECK_FIELDS, HEALTH_SERVICE_FIELDS } from './filter.js';
import { sendBody, sendText } from './http-io.js';
import {
  applyFilter,
  checkRead,
  parseGoBool,
  type ServiceContext,
  type ServiceRequest,
  serveCatalogRead,
} from './service-http.js';
import { healthCheckJson, healthEntryJson } from './service-json.js';

/** Routes one `/v1/health/` request. */
export async function handleHealth(
  ctx: ServiceContext,
  request: ServiceRequest,
  tags: readonly string[],
): Promise<void> {
  if (request.method !== 'GET') return refuseMethod(request.req, request.res, 'OPTIONS,GET');
  const { rest } = request;
  if (rest.startsWith('service/')) return healthService(ctx, request, rest.slice('service/'.length), tags);
  if (rest.startsWith('checks/')) return healthChecks(ctx, request, rest.slice('checks/'.length));
  if (rest.startsWith('state/')) return healthState(ctx, request, rest.slice('state/'.length));
  if (rest.startsWith('node/')) return healthNode(ctx, request, rest.slice('node/'.length));
  sendBody(request.res, 404, Buffer.alloc(0));
}

async function healthService(
  ctx: ServiceContext,
  request: ServiceRequest,
  name: string,
  tags: readonly string[],
): Promise<void> {
  if (name === '') return sendText(request.res, 400, 'Missing service name');
  let passing = false;
  if (request.query.has('passing')) {
    const raw = request.query.get('passing');
    const parsed = raw === '' ? true : parseGoBool(raw);
    if (parsed === undefined) return sendText(request.res, 400, 'Invalid value for ?passing');
    passing = parsed;
  }
  const read = checkRead(ctx, request, HEALTH_SERVICE_FIELDS);
  if (read === undefined) return;
  const { params, access, filter, fault } = read;
  const { catalog } = ctx;
  serveCatalogRead(ctx, request.res, params, {
    kind: 'health',
    fault,
    keys: catalog.serviceWaitKeys(name),
    cacheKey: JSON.stringify(['health/service', name, tags, passing, filter, access]),
    evaluate: () => {
      // consul-semantics §S4.1: ?passing and ?filter apply after the wait, so the index is the unfiltered one.
      let instances = access ? catalog.instancesTagged(name, tags) : [];
      if (passing) {
        instances = instances.filter((instance) =>
          catalog.checksForInstance(instance.id).every((check) => check.status === 'passing'),
        );
      }
      const entries = instances.map((instance) => healthEntryJson(catalog, instance));
      return {
        index: catalog.serviceIndexOf(name),
        value: applyFilter(filter, entries, HEALTH_SERVICE_FIELDS),
      };
    },
  });
}

async function healthChecks(ctx: ServiceContext, request: ServiceRequest, name: string): Promise<void> {
  if (name === '') return sendText(request.res, 400, 'Missing service name');
  const lower = name.toLowerCase();
  serveChecks(ctx, request, (check) => check.serviceName.toLowerCase() === lower);
}

async function healthState(ctx: ServiceContext, request: ServiceRequest, state: string): Promise<void> {
  if (state === '') return sendText(request.res, 400, 'Missing check state');
  serveChecks(ctx, request, (check) => state === 'any' || check.status === state);
}

async function healthNode(ctx: ServiceContext, request: ServiceRequest, node: string): Promise<void> {
  if (node === '') return sendText(request.res, 400, 'Missing node name');
  serveChecks(ctx, request, () => node === NODE_NAME);
}

/** A blocking read of the checks `select` keeps, on the checks table index (consul-semantics §S3.2). */
function serveChecks(
  ctx: ServiceContext,
  request: ServiceRequest,
  select: (check: HealthCheck) => boolean,
): void {
  const read = checkRead(ctx, request, HEALTH_CHECK_FIELDS);
  if (read === undefined) return;
  const { params, access, filter, fault } = read;
  serveCatalogRead(ctx, request.res, params, {
    kind: 'health',
    fault,
    keys: [WAIT_CHECKS],
    evaluate: () => {
      const checks = access ? ctx.catalog.checks().filter(select) : [];
      const value = applyFilter(
        filter,
        checks.map((check) => healthCheckJson(check, true)),
        HEALTH_CHECK_FIELDS,
      );
      return { index: ctx.catalog.checksTableIndex, value };
    },
  });
}
