/**
 * A tiny raw HTTP client for tests of the dev server: sends exactly the path given (no normalising, no
 * keep-alive between tests), and returns status, headers and the body bytes. Deliberately independent of
 * src/consul, so the dev server's tests cannot share a bug with the client.
 */
import { type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';

/** A complete answer. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as UTF-8 text. */
  text: string;
}

/** What to send. */
export interface RawRequest {
  method?: string;
  /** Path and query exactly as they go on the request line, e.g. `/v1/kv/a%2Fb?recurse`. */
  path: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  /** Send the body with chunked transfer encoding instead of Content-Length. */
  chunked?: boolean;
  signal?: AbortSignal;
}

/** Sends one request on a fresh connection and reads the whole answer. */
export function httpRequest(address: string, options: RawRequest): Promise<RawResponse> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    if (body !== undefined && !options.chunked) headers['Content-Length'] = body.length;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers,
        agent: false,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: bytes,
            text: bytes.toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined && options.chunked) {
      // Two chunks, so the server really sees a chunked stream.
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else {
      req.end(body);
    }
  });
}

/** Shorthand for a GET. */
export function httpGet(
  address: string,
  path: string,
  headers?: Record<string, string>,
): Promise<RawResponse> {
  return httpRequest(address, { path, headers });
}

/** Shorthand for a PUT with a body. */
export function httpPut(address: string, path: string, body: string | Buffer = ''): Promise<RawResponse> {
  return httpRequest(address, { method: 'PUT', path, body });
}

/** Writes raw bytes on a new TCP connection and resolves with everything read until the server closes it. */
export function rawExchange(address: string, data: string): Promise<string> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(data);
  });
}
