/**
 * Writing responses and reading bodies the way Consul's Go HTTP server does: plain-text error bodies
 * without a trailing newline (consul-semantics §1), empty bodies with `Content-Length: 0`, bounded request bodies.
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Content type Go sniffs for a plain-text error body. */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** Sends a complete response; an empty body gets no Content-Type, as in Go. */
export function sendBody(
  res: ServerResponse,
  status: number,
  body: Buffer | string,
  headers: OutgoingHttpHeaders = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...headers, 'Content-Length': bytes.length });
  res.end(bytes);
}

/** Sends a plain-text body (Consul's error texts). */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  sendBody(res, status, text, text === '' ? headers : { 'Content-Type': TEXT_CONTENT_TYPE, ...headers });
}

/** A request body read with a size bound. */
export type BoundedBody = { kind: 'body'; body: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

/**
 * Reads the request body up to `limitBytes`. Past the limit it stops collecting and drains the rest, so
 * the 413 can be read by the client and the connection stays usable (a chunked body has no Content-Length
 * to check up front — the CVE-2025-11374 case of consul-semantics §2).
 */
export function readBodyBounded(req: IncomingMessage, limitBytes: number): Promise<BoundedBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BoundedBody) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        finish({ kind: 'too-large' });
        req.resume(); // drain and discard the rest
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish({ kind: 'body', body: Buffer.concat(chunks, size) });
    const onClose = () => finish({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
