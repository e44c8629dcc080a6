/**
 * An HTTP health endpoint over a registration: `200` while the instance should get traffic, `503` while it
 * is unhealthy, draining or closed, with a small JSON body. Framework-free: `healthResponse()` gives status
 * and body (for Express, Fastify…), `healthHandler()` answers a node:http request with them.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CheckStatus } from '../consul/agent.js';
import type { RegistrationState, ServiceRegistration } from './registration.js';

/** The JSON body of the health endpoint. */
export interface HealthBody {
  /** The app's health, or `'draining'` once `close()` started, `'closed'` after it. */
  status: CheckStatus | 'draining' | 'closed';
  /** The service ID. */
  id: string;
  /** The registration's state. */
  registration: RegistrationState;
  /** The health function's output, when it gave one. */
  output?: string;
}

/** What the endpoint answers. */
export interface HealthResponse {
  /** 200 for passing and warning, 503 for critical, draining and closed. */
  statusCode: 200 | 503;
  body: HealthBody;
}

/**
 * Evaluates the registration's health now (its health function, bounded by TTL/3) and says what to answer.
 * A load balancer or a Consul HTTP check pointed at it stops sending traffic while it answers 503.
 */
export async function healthResponse(registration: ServiceRegistration): Promise<HealthResponse> {
  const state = registration.state;
  if (state === 'closing' || state === 'closed') {
    const status = state === 'closing' ? 'draining' : 'closed';
    return { statusCode: 503, body: { status, id: registration.id, registration: state } };
  }
  const report = await registration.evaluateHealth();
  const body: HealthBody = { status: report.status, id: registration.id, registration: registration.state };
  if (report.output !== '') body.output = report.output;
  return { statusCode: report.status === 'critical' ? 503 : 200, body };
}

/**
 * A node:http request handler answering {@link healthResponse} as JSON, never cached. Mount it on a path:
 * `if (req.url === '/health') return handler(req, res)`.
 */
export function healthHandler(
  registration: ServiceRegistration,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (_request, response) => {
    void healthResponse(registration).then(({ statusCode, body }) => {
      const text = JSON.stringify(body);
      response.writeHead(statusCode, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      response.end(text);
    });
  };
}
