/**
 * How a read or write carries out a fault that replaces its answer (`status`, `hang`, `reset`,
 * `malformed`), for the KV routes and the health and catalog reads alike.
 * @module
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RouteContext } from './consul-http.js';
import type { Fault } from './faults.js';
import { sendBody, sendText } from './http-io.js';

const DEFAULT_MALFORMED_BODY = '[{"Key":';

/** A normal answer's body and headers, for the faults that send part of it. */
export interface AnswerParts {
  readonly body: Buffer;
  readonly headers: OutgoingHttpHeaders;
}

/**
 * Carries out a fault that replaces the answer (`status`, `hang`, `reset`, `malformed`); returns false for
 * the faults that only alter a normal answer (`index`, `spurious`).
 */
export function actOnFault(
  ctx: RouteContext,
  res: ServerResponse,
  fault: Fault,
  normal: () => AnswerParts,
): boolean {
  switch (fault.kind) {
    case 'status':
      sendText(res, fault.status, fault.body ?? '');
      return true;
    case 'hang': {
      const held = { kind: 'hang' as const, end: () => ctx.held.delete(held) };
      ctx.held.add(held);
      res.once('close', held.end);
      return true;
    }
    case 'malformed': {
      const { headers } = normal();
      const body = fault.body ?? DEFAULT_MALFORMED_BODY;
      sendBody(res, 200, body, { ...headers, 'Content-Type': 'application/json' });
      return true;
    }
    case 'reset': {
      const { body, headers } = normal();
      const full = body.length >= 2 ? body : Buffer.from('[]');
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': full.length });
      // Headers and the first half of the body reach the client, then the connection is reset.
      res.write(full.subarray(0, Math.floor(full.length / 2)), () => res.socket?.resetAndDestroy());
      return true;
    }
    default:
      return false;
  }
}
