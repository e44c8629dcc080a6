/**
 * The `/v1/catalog/*` reads and `/v1/status/*`, blocking on the catalog's table and service indexes
 * (consul-semantics §S3.2, §S4.3).
 * @module
 */
import { WAIT_NODES, WAIT_SERVICES } from './catalog.js';
import { DATACENTER, refuseMethod } from './consul-http.js';
import { CATALOG_SERVICE_FIELDS, NODE_FIELDS } from './filter.js';
import { sendBody, sendText } from './http-io.js';
import {
  applyFilter,
  checkRead,
  type ServiceContext,
  type ServiceRequest,
  sendJson,
  serveCatalogRead,
} from './service-http.js';
import { nodeJson, serviceNodeJson } from './service-json.js';

/** Routes one `/v1/catalog/` request. */
export async function handleCatalog(
  ctx: ServiceContext,
  request: ServiceRequest,
  tags: readonly string[],
): Promise<void> {
  if (request.method !== 'GET') return refuseMethod(request.req, request.res, 'OPTIONS,GET');
  const { rest } = request;
  if (rest === 'services') return catalogServices(ctx, request);
  if (rest.startsWith('service/')) return catalogService(ctx, request, rest.slice('service/'.length), tags);
  if (rest === 'nodes') return catalogNodes(ctx, request);
  if (rest === 'datacenters') return sendJson(request.res, [DATACENTER], request.query.has('pretty'));
  sendBody(request.res, 404, Buffer.alloc(0));
}

/** Routes one `/v1/status/` request: the dev server is its own leader (consul-semantics §S6.2). */
export async function handleStatus(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  if (request.method !== 'GET') return refuseMethod(request.req, request.res, 'OPTIONS,GET');
  const pretty = request.query.has('pretty');
  if (request.rest === 'leader')
    return sendJson(request.res, ctx.catalog.hasLeader ? '127.0.0.1:8300' : '', pretty);
  if (request.rest === 'peers') return sendJson(request.res, ['127.0.0.1:8300'], pretty);
  sendBody(request.res, 404, Buffer.alloc(0));
}

async function catalogServices(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  // consul-semantics §S4.5: the filter runs over the ServiceNodes, before they are grouped by name.
  const read = checkRead(ctx, request, CATALOG_SERVICE_FIELDS);
  if (read === undefined) return;
  const { params, access, filter, fault } = read;
  serveCatalogRead(ctx, request.res, params, {
    kind: 'catalog',
    fault,
    keys: [WAIT_SERVICES],
    evaluate: () => {
      // consul-semantics §S4.3: name → the union of its instances' tags.
      const tagsByName = new Map<string, Set<string>>();
      const nodes = access
        ? ctx.catalog.services().map((instance) => serviceNodeJson(ctx.catalog, instance))
        : [];
      for (const node of applyFilter(filter, nodes, CATALOG_SERVICE_FIELDS)) {
        const name = node.ServiceName as string;
        const set = tagsByName.get(name) ?? new Set<string>();
        for (const tag of node.ServiceTags as string[]) set.add(tag);
        tagsByName.set(name, set);
      }
      const value: Record<string, string[]> = {};
      for (const name of [...tagsByName.keys()].sort())
        value[name] = [...(tagsByName.get(name) ?? [])].sort();
      return { index: ctx.catalog.servicesTableIndex, value };
    },
  });
}

async function catalogService(
  ctx: ServiceContext,
  request: ServiceRequest,
  name: string,
  tags: readonly string[],
): Promise<void> {
  if (name === '') return sendText(request.res, 400, 'Missing service name');
  const read = checkRead(ctx, request, CATALOG_SERVICE_FIELDS);
  if (read === undefined) return;
  const { params, access, filter, fault } = read;
  const { catalog } = ctx;
  serveCatalogRead(ctx, request.res, params, {
    kind: 'catalog',
    fault,
    keys: catalog.serviceWaitKeys(name),
    cacheKey: JSON.stringify(['catalog/service', name, tags, filter, access]),
    evaluate: () => {
      const instances = access ? catalog.instancesTagged(name, tags) : [];
      const value = applyFilter(
        filter,
        instances.map((instance) => serviceNodeJson(catalog, instance)),
        CATALOG_SERVICE_FIELDS,
      );
      return { index: catalog.serviceIndexOf(name), value };
    },
  });
}

async function catalogNodes(ctx: ServiceContext, request: ServiceRequest): Promise<void> {
  const read = checkRead(ctx, request, NODE_FIELDS);
  if (read === undefined) return;
  const { params, access, filter, fault } = read;
  serveCatalogRead(ctx, request.res, params, {
    kind: 'catalog',
    fault,
    keys: [WAIT_NODES],
    evaluate: () => ({
      index: ctx.catalog.nodesTableIndex,
      value: applyFilter(filter, access ? [nodeJson(ctx.catalog)] : [], NODE_FIELDS),
    }),
  });
}
