/**
 * One run of an HTTP or TCP check, with the status and the Output text Consul's agent writes for it
 * (consul-semantics §S2.3).
 * @module
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckSpec, CheckStatus } from './service-definition.js';

/** What one run found. */
export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
}

/** consul-semantics §S2.3: 10s when the definition sets no Timeout. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** consul-semantics §S2.3: the agent keeps the last 4096 bytes of a body by default. */
export const DEFAULT_OUTPUT_MAX_SIZE = 4096;
const MAX_REDIRECTS = 10;
const HTTP_TIMEOUT_TEXT = 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)';

/** What a probe whose target never answers finds once its Timeout runs out (the `check-hang` fault). */
export function hungProbeResult(spec: CheckSpec): ProbeResult {
  if (spec.type === 'tcp') return { status: 'critical', output: `dial tcp ${spec.tcp}: i/o timeout` };
  const method = spec.method === '' ? 'GET' : spec.method.toUpperCase();
  return { status: 'critical', output: `${goOp(method)} ${JSON.stringify(spec.http)}: ${HTTP_TIMEOUT_TEXT}` };
}

/** The probe's Timeout, or the default. */
export function timeoutOf(spec: CheckSpec): number {
  return spec.timeoutMs > 0 ? spec.timeoutMs : DEFAULT_PROBE_TIMEOUT_MS;
}

/** Go's `dial tcp <addr>: …` texts for the common socket errors. */
function dialErrorText(address: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${address}: connect: connection refused`;
    case 'ETIMEDOUT':
      return `dial tcp ${address}: i/o timeout`;
    case 'ENOTFOUND':
      return `dial tcp: lookup ${address.replace(/:\d+$/, '')}: no such host`;
    default:
      return `dial tcp ${address}: ${error.message}`;
  }
}

/** `Get`, `Post`…: Go's url.Error names the method this way. */
function goOp(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
}

/** consul-semantics §S2.3: 2xx passing, 429 warning, anything else critical. */
export function statusForCode(code: number): CheckStatus {
  if (code >= 200 && code <= 299) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

/** Runs an HTTP check once. */
export async function probeHttp(spec: CheckSpec): Promise<ProbeResult> {
  const method = spec.method === '' ? 'GET' : spec.method.toUpperCase();
  const maxSize = spec.outputMaxSize > 0 ? spec.outputMaxSize : DEFAULT_OUTPUT_MAX_SIZE;
  const deadline = AbortSignal.timeout(timeoutOf(spec));
  let url = spec.http;
  for (let hop = 0; ; hop++) {
    let response: IncomingMessage;
    try {
      response = await send(method, url, spec, deadline);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      const parsed = URL.canParse(url) ? new URL(url) : undefined;
      const address =
        parsed === undefined
          ? url
          : `${parsed.hostname}:${parsed.port || (parsed.protocol === 'https:' ? 443 : 80)}`;
      const why = deadline.aborted
        ? HTTP_TIMEOUT_TEXT
        : err.code?.startsWith('E') === true
          ? dialErrorText(address, err)
          : err.message;
      return { status: 'critical', output: `${goOp(method)} ${JSON.stringify(url)}: ${why}` };
    }
    const code = response.statusCode ?? 0;
    const location = response.headers.location;
    if (
      !spec.disableRedirects &&
      code >= 300 &&
      code < 400 &&
      location !== undefined &&
      hop < MAX_REDIRECTS
    ) {
      response.resume();
      url = new URL(location, url).toString();
      continue;
    }
    const body = await lastBytes(response, maxSize);
    return {
      status: statusForCode(code),
      output: `HTTP ${method} ${url}: ${code} ${response.statusMessage ?? ''} Output: ${body}`,
    };
  }
}

function send(method: string, url: string, spec: CheckSpec, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {
      'User-Agent': 'Consul Health Check',
      Accept: 'text/plain, text/*, */*',
      Connection: 'close',
    };
    for (const [name, values] of Object.entries(spec.header)) headers[name] = [...values];
    const options = {
      method,
      headers,
      signal,
      agent: false as const,
      rejectUnauthorized: !spec.tlsSkipVerify,
    };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, resolve);
    req.on('error', reject);
    req.end(spec.body === '' ? undefined : spec.body);
  });
}

/** Reads a body keeping only its last `maxSize` bytes (Consul's ring buffer). */
async function lastBytes(response: IncomingMessage, maxSize: number): Promise<string> {
  let kept = Buffer.alloc(0);
  try {
    for await (const chunk of response) {
      kept = Buffer.concat([kept, chunk as Buffer]);
      if (kept.length > maxSize) kept = kept.subarray(kept.length - maxSize);
    }
  } catch {
    // A body cut short still reports what arrived.
  }
  return kept.toString('utf8');
}

/** Runs a TCP check once: connect, then close. */
export function probeTcp(spec: CheckSpec): Promise<ProbeResult> {
  const address = spec.tcp;
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(hungProbeResult(spec)), timeoutOf(spec));
    socket.once('connect', () => done({ status: 'passing', output: `TCP connect ${address}: Success` }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ status: 'critical', output: dialErrorText(address, error) }),
    );
  });
}
