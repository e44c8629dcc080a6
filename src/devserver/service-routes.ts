/**
 * Sends `/v1/agent/`, `/v1/catalog/`, `/v1/health/` and `/v1/status/` requests to their route files.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleAgent } from './agent-routes.js';
import { handleCatalog, handleStatus } from './catalog-routes.js';
import { type GoQuery, goUnescape } from './go-url.js';
import { handleHealth } from './health-routes.js';
import type { ServiceContext, ServiceRequest } from './service-http.js';

const AREAS = ['/v1/agent/', '/v1/catalog/', '/v1/health/', '/v1/status/'] as const;

/** Whether the path belongs to the service areas. */
export function isServicePath(path: string): boolean {
  return AREAS.some((area) => path.startsWith(area));
}

/** Every value of a repeatable parameter (`?tag=a&tag=b`), parsed like Go's `url.ParseQuery`. */
export function queryValues(rawQuery: string, name: string): string[] {
  const values: string[] = [];
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const equals = pair.indexOf('=');
    const key = goUnescape(equals < 0 ? pair : pair.slice(0, equals), true);
    const value = goUnescape(equals < 0 ? '' : pair.slice(equals + 1), true);
    if (key === name && value !== undefined) values.push(value);
  }
  return values;
}

/** Handles one request in the service areas. */
export async function handleServiceRequest(
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawQuery: string,
  query: GoQuery,
): Promise<void> {
  const area = AREAS.find((prefix) => path.startsWith(prefix)) ?? '';
  const request: ServiceRequest = {
    req,
    res,
    path,
    method: req.method ?? '',
    rest: path.slice(area.length),
    query,
  };
  const tags = queryValues(rawQuery, 'tag');
  switch (area) {
    case '/v1/agent/':
      return handleAgent(ctx, request);
    case '/v1/catalog/':
      return handleCatalog(ctx, request, tags);
    case '/v1/health/':
      return handleHealth(ctx, request, tags);
    default:
      return handleStatus(ctx, request);
  }
}
