/**
 * HTTP to one Consul agent over undici: one dispatcher per client (keep-alive, TLS/mTLS, `connections`,
 * HTTP/2, unix sockets), client-side timeouts, a response size limit, and the mapping of every failure to a
 * typed error from src/errors.ts. Knows nothing about KV semantics beyond status codes.
 * @module
 */
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher } from 'undici';
import {
  type RequestFinishMessage,
  type RequestStartMessage,
  requestFinishChannel,
  requestStartChannel,
} from '../diagnostics.js';
import {
  AbortedError,
  AclDeniedError,
  BadRequestError,
  ClosedError,
  ConsulError,
  type ErrorDetails,
  errorText,
  NoLeaderError,
  ProxyAuthRequiredError,
  RateLimitedError,
  ResponseTooLargeError,
  ServerError,
  TimeoutError,
  TransportError,
  TxnTooLargeError,
  UnauthorizedError,
  UnknownDatacenterError,
  ValueTooLargeError,
} from '../errors.js';
import type { ResolvedClientConfig } from './config.js';
import { MAX_TIMER_MS } from './duration.js';

/** One request to Consul, as the KV layer describes it. */
export interface TransportRequest {
  /** `'kv.get'`, `'kv.list'`, … — named in every error. */
  operation: string;
  /** The key or prefix concerned, named in every error. */
  key: string | undefined;
  method: 'GET' | 'PUT' | 'DELETE';
  /** Encoded path starting with `/v1/`, without the address's path prefix. */
  path: string;
  /** Encoded query string without `?`, or `''`. */
  query: string;
  /** Request body, for PUT. */
  body?: Buffer | string | undefined;
  /** `Content-Type` of the body. */
  contentType?: string | undefined;
  /** Blocking index sent (0 when not blocking); reported on the diagnostics channels. */
  index: number;
  /** Client-side timeout in ms, covering headers and the whole body. */
  timeoutMs: number;
  /** Caller's signal; when it fires the request ends with AbortedError. */
  signal?: AbortSignal | undefined;
  /** Statuses besides 2xx that are answers rather than errors (404 on reads, 409 on txn). */
  acceptStatus?: readonly number[] | undefined;
  /** Extra words for a 403 message: what the token needs. */
  permissionHint?: string | undefined;
}

/** An answer with a 2xx or accepted status and its whole body. */
export interface TransportResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Status and headers of an answer, once they arrived. */
interface ResponseHead {
  status: number | undefined;
  headers: TransportResponse['headers'] | undefined;
}

/** One request's abort: who ended it (timeout, close, the caller's signal) and the exchange it stops. */
class RequestAbort {
  aborted = false;
  reason: unknown;
  /** Ends the exchange in flight; set while one is. */
  onAbort: ((reason: unknown) => void) | undefined;
  /** The request's promise, which `close()` waits for. */
  done: Promise<unknown> | undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.onAbort?.(reason);
  }
}

const RESOLVED = Promise.resolve();

/** The requests in flight under each caller's signal; see {@link followSignal}. */
const requestsBySignal = new WeakMap<AbortSignal, Set<RequestAbort>>();

/**
 * Puts `request` under `signal`'s abort, and returns the set to leave when it ends. One listener per signal,
 * added the first time the signal is seen, rather than one added and removed per request: a watch loop
 * sends every request with the same signal, and an EventTarget listener costs an add and a remove each
 * time. The listener stays until the signal aborts (it is `once`) or is collected, and keeps only the set.
 * Forwarding by hand rather than with AbortSignal.any: each AbortSignal.any would register one more
 * dependent signal on the loop's, kept until a garbage collection clears it.
 */
function followSignal(signal: AbortSignal, request: RequestAbort): Set<RequestAbort> {
  let requests = requestsBySignal.get(signal);
  if (requests === undefined) {
    const followed = new Set<RequestAbort>();
    requests = followed;
    requestsBySignal.set(signal, followed);
    signal.addEventListener(
      'abort',
      () => {
        // Each abort ends its request, which leaves the set meanwhile: iterate a copy.
        for (const each of [...followed]) each.abort(signal.reason);
      },
      { once: true },
    );
  }
  requests.add(request);
  return requests;
}

/** Why the transport aborted a request itself; lets the error mapping tell timeout and close from the caller's abort. */
class InternalAbort extends Error {
  constructor(readonly kind: 'timeout' | 'closed') {
    super(kind === 'timeout' ? 'client-side timeout' : 'client closed');
    this.name = 'InternalAbort';
  }
}

/**
 * Sends requests to one agent and turns every failure into a typed {@link ConsulError}.
 *
 * Owns its dispatcher unless one was injected; `close()` aborts what is in flight and, for an owned
 * dispatcher, destroys its sockets.
 */
export class Transport {
  readonly #config: ResolvedClientConfig;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #headers: Record<string, string>;
  readonly #secrets: string[];
  /** Requests in flight (until their promise is about to settle): aborted and awaited by `close()`. */
  readonly #controllers = new Set<RequestAbort>();
  #closing: Promise<void> | undefined;
  /** Answers ended so far; numbers the socket-return turns. See {@link Transport.#awaitSocketReturn}. */
  #answers = 0;
  /** True from the end of an answer until one event-loop turn after the latest one. */
  #socketReturning = false;
  /** Requests waiting for the turn of the answer numbered `after` (the latest when they came), in order. */
  #socketWaiters: Array<{ after: number; release: () => void }> = [];
  /** Timeout timers of answered requests, cleared in the socket-return turn (or by close()). */
  #settledTimers: Array<ReturnType<typeof setTimeout>> = [];

  constructor(config: ResolvedClientConfig) {
    this.#config = config;
    this.#ownsDispatcher = config.dispatcher === undefined;
    this.#dispatcher = config.dispatcher ?? createDispatcher(config);
    this.#headers = { 'user-agent': 'consul-hotreload' };
    this.#secrets = [];
    if (config.token !== undefined) {
      // The token travels only in this header: never in the URL (`?token=` is deprecated, consul-semantics §1, and URLs get logged).
      this.#headers['x-consul-token'] = config.token;
      this.#secrets.push(config.token);
    }
    if (config.auth !== undefined) {
      const credentials = `${config.auth.username}:${config.auth.password}`;
      this.#headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
      // A proxy may echo the header back in its error body (redacted there by errorText).
      this.#secrets.push(this.#headers.authorization.slice('Basic '.length));
      if (config.auth.password !== '') this.#secrets.push(config.auth.password);
    }
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Sends one request and reads its whole body (up to `maxResponseBytes`).
   * @returns the answer, when its status is 2xx or in `acceptStatus`
   * @throws ConsulError subclasses for every other outcome; see the contract's error table
   */
  request(request: TransportRequest): Promise<TransportResponse> {
    const details: ErrorDetails = { operation: request.operation, key: request.key };
    if (this.#closing !== undefined) {
      return Promise.reject(new ClosedError(`${describe(request)}: the client was closed`, details));
    }
    if (request.signal?.aborted) {
      return Promise.reject(
        new AbortedError(`${describe(request)}: aborted by the caller's signal`, {
          ...details,
          cause: request.signal.reason,
        }),
      );
    }
    // A plain object rather than an AbortController: nothing outside listens, and an AbortSignal's
    // listeners cost an EventTarget add and remove on every request. It leaves `#controllers` in the
    // request's last synchronous step, so close() waits on exactly the requests not yet settled.
    const controller = new RequestAbort();
    this.#controllers.add(controller);
    const done = this.#send(request, controller);
    controller.done = done;
    return done;
  }

  /**
   * Not an async function: the answer is checked, the request cleaned up and the promise settled in the turn
   * the last chunk arrives, so the caller resumes one promise hop after undici's last callback.
   */
  #send(request: TransportRequest, controller: RequestAbort): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      const timer = setTimeout(() => controller.abort(new InternalAbort('timeout')), request.timeoutMs);
      const underSignal = request.signal === undefined ? undefined : followSignal(request.signal, controller);
      const path = `${this.#config.pathPrefix}${request.path}${request.query === '' ? '' : `?${request.query}`}`;
      const startMessage: RequestStartMessage = {
        operation: request.operation,
        method: request.method,
        path,
        index: request.index,
      };
      if (requestStartChannel.hasSubscribers) requestStartChannel.publish(startMessage);
      const started = performance.now();
      // Filled by the exchange as soon as the headers arrive, so errors after them still name the status.
      const seen: ResponseHead = { status: undefined, headers: undefined };
      /**
       * Runs once, just before the promise settles. An answer's timer is cleared in the socket-return turn
       * instead (see #awaitSocketReturn): clearing it here would delay the answer for nothing.
       */
      const finish = (bytes: number, failure: Error | undefined): void => {
        if (failure !== undefined) clearTimeout(timer);
        underSignal?.delete(controller);
        this.#controllers.delete(controller);
        if (requestFinishChannel.hasSubscribers) {
          const message: RequestFinishMessage = {
            ...startMessage,
            status: seen.status,
            resultIndex: headerIndex(seen.headers),
            bytes,
            durationMs: performance.now() - started,
            error: failure,
          };
          requestFinishChannel.publish(message);
        }
      };
      const failed = (error: unknown, bytes: number): void => {
        const failure = this.#mapError(error, request, controller, seen.status);
        finish(bytes, failure);
        reject(failure);
      };
      const answered = (response: TransportResponse): void => {
        const { status, body } = response;
        try {
          this.#awaitSocketReturn(timer);
          if ((status >= 200 && status < 300) || request.acceptStatus?.includes(status)) {
            finish(body.length, undefined);
            resolve(response);
            return;
          }
          failed(this.#statusError(request, status, body), body.length);
        } catch (error) {
          // Never leaves the promise pending, whatever went wrong above.
          failed(error, body.length);
        }
      };
      const headerValues =
        request.contentType === undefined
          ? this.#headers
          : { ...this.#headers, 'content-type': request.contentType };
      // undici's own timeouts stay as a backstop behind ours (its 300 s default would cut blocking queries).
      const backstopMs = Math.min(request.timeoutMs + 1000, MAX_TIMER_MS);
      const dispatch = (): void =>
        this.#exchange(
          {
            origin: this.#config.origin,
            path,
            method: request.method,
            headers: headerValues,
            body: request.body,
            headersTimeout: backstopMs,
            bodyTimeout: backstopMs,
          },
          request,
          controller,
          seen,
          answered,
          (error) => failed(error, 0),
        );
      if (this.#socketReturning) this.#socketWaiters.push({ after: this.#answers, release: dispatch });
      else dispatch();
    });
  }

  /**
   * undici hands a keep-alive socket back to the pool one event-loop turn after the response ends. A watch
   * loop sends its next blocking query at once, so without waiting for that turn every loop would hold two
   * sockets, doubling our share of Consul's 200-connections-per-IP cap (consul-semantics §7). The wait delays the next
   * request only, never the delivery of this answer: a change reaches the watcher without an extra turn.
   */
  #awaitSocketReturn(timer: ReturnType<typeof setTimeout>): void {
    // The request's timeout timer goes with it: settled requests ignore their abort anyway.
    this.#settledTimers.push(timer);
    // Called from undici's last callback, which schedules the socket's return (a setImmediate) only once
    // that callback is over: ours is scheduled from a microtask so that it comes after undici's. That
    // microtask is a resolved promise's `then` rather than queueMicrotask, which wraps each callback in an
    // AsyncResource of its own; a request that has to wait gets a waiter entry, never a promise.
    this.#socketReturning = true;
    this.#answers++;
    void RESOLVED.then(this.#scheduleSocketReturn);
  }

  readonly #scheduleSocketReturn = (): void => {
    setImmediate(this.#socketReturned, this.#answers);
  };

  #clearSettledTimers(): void {
    const timers = this.#settledTimers;
    if (timers.length === 0) return;
    for (const timer of timers) clearTimeout(timer);
    timers.length = 0;
  }

  /** The turn after answer number `answer` ended: releases the requests that waited for it (or an earlier one). */
  readonly #socketReturned = (answer: number): void => {
    if (answer === this.#answers) this.#socketReturning = false;
    this.#clearSettledTimers();
    const waiters = this.#socketWaiters;
    let released = 0;
    while (released < waiters.length && waiters[released]!.after <= answer) waiters[released++]!.release();
    if (released > 0) waiters.splice(0, released);
  };

  /**
   * One exchange through the dispatcher, with a handler that gathers the body chunks straight into one
   * Buffer: no stream and no async iteration between the socket and the answer, so an answer is handed on
   * in the same turn as its last chunk. Calls `onAnswer` with the status, headers and whole body, or
   * `onFailure` with undici's error, the reason given to `abort`, or ResponseTooLargeError past
   * `maxResponseBytes`; exactly one of them, once.
   */
  #exchange(
    options: Dispatcher.DispatchOptions,
    request: TransportRequest,
    abort: RequestAbort,
    seen: ResponseHead,
    onAnswer: (response: TransportResponse) => void,
    onFailure: (error: unknown) => void,
  ): void {
    const limit = this.#config.maxResponseBytes;
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let status = 0;
    let headers: TransportResponse['headers'] = {};
    let chunks: Buffer[] = [];
    let total = 0;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      chunks = [];
      abort.onAbort = undefined;
      onFailure(error);
    };
    // Aborting ends the exchange at once; undici drops the socket rather than reading on.
    const stop = (error: unknown): void => {
      fail(error);
      controller?.abort(error instanceof Error ? error : new Error(String(error)));
    };
    const tooLarge = (): ResponseTooLargeError =>
      new ResponseTooLargeError(
        `${describe(request)}: response body over maxResponseBytes (${limit} bytes); raise maxResponseBytes or read a smaller prefix`,
        { operation: request.operation, key: request.key, status },
      );
    abort.onAbort = stop;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(started) {
        controller = started;
        if (settled) started.abort(new Error('request ended before it started'));
      },
      onResponseStart(_controller, statusCode, responseHeaders) {
        // 1xx informational answers come before the real one.
        if (statusCode < 200 || settled) return;
        status = statusCode;
        headers = responseHeaders;
        seen.status = statusCode;
        seen.headers = responseHeaders;
        if (Number(responseHeaders['content-length']) > limit) stop(tooLarge());
      },
      onResponseData(_controller, chunk) {
        if (settled) return;
        total += chunk.length;
        if (total > limit) stop(tooLarge());
        else chunks.push(chunk);
      },
      onResponseEnd() {
        if (settled) return;
        settled = true;
        abort.onAbort = undefined;
        const body =
          chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks as Uint8Array[], total);
        chunks = [];
        onAnswer({ status, headers, body });
      },
      onResponseError(_controller, error) {
        fail(error);
      },
    };
    // Aborted already (e.g. closed while waiting for the socket's return): still dispatched, as undici's
    // request() does, and ended by the handler before anything is written.
    if (abort.aborted) fail(abort.reason);
    try {
      this.#dispatcher.dispatch(options, handler);
    } catch (error) {
      fail(error);
    }
  }

  #statusError(request: TransportRequest, status: number, body: Buffer): ConsulError {
    const text = this.#quote(body);
    const shown = text === '' ? `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() : `${status} ${text}`;
    const details: ErrorDetails = { operation: request.operation, key: request.key, status };
    const message = (hint: string): string => `${describe(request)}: ${shown} (${hint})`;
    if (status === 403) {
      const hint = text.startsWith('ACL not found')
        ? 'Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE'
        : (request.permissionHint ?? 'the token lacks a permission this request needs');
      return new AclDeniedError(message(hint), details);
    }
    if (status === 401) {
      return new UnauthorizedError(
        message(
          'Consul or a proxy in front of it refused the credentials; check the auth option or CONSUL_HTTP_AUTH',
        ),
        details,
      );
    }
    if (status === 407) {
      return new ProxyAuthRequiredError(
        message(
          'a proxy between this client and Consul wants its own credentials; check the proxy settings, or point the address at the agent directly',
        ),
        details,
      );
    }
    if (status === 429) {
      return new RateLimitedError(
        message('Consul is limiting this client; retry with backoff and keep fewer connections open'),
        details,
      );
    }
    if (status === 413) {
      if (text.startsWith('Transaction contains too many operations')) {
        return new TxnTooLargeError(
          message('split the transaction; Consul accepts at most 128 operations'),
          details,
        );
      }
      return new ValueTooLargeError(
        message("the request is over Consul's kv_max_value_size / txn_max_req_len; store less per key"),
        details,
      );
    }
    if (status >= 500) {
      if (text.includes('No path to datacenter')) {
        const dc = this.#config.datacenter === undefined ? '' : ` '${this.#config.datacenter}'`;
        return new UnknownDatacenterError(
          message(`Consul does not know the datacenter${dc}; check the datacenter option`),
          details,
        );
      }
      if (text.includes('No cluster leader')) {
        return new NoLeaderError(message('the Consul cluster has no leader; retry later'), details);
      }
      return new ServerError(message('Consul server error; reads may be retried'), details);
    }
    if (status >= 400) {
      const hint = /Namespaces|Partitions are a Consul Enterprise feature/.test(text)
        ? 'namespaces and partitions need Consul Enterprise; unset the namespace/partition options or CONSUL_NAMESPACE/CONSUL_PARTITION'
        : 'Consul refused the request';
      return new BadRequestError(message(hint), details);
    }
    return new BadRequestError(message('unexpected status from Consul'), details);
  }

  /** A Consul error body as quotable text: secrets removed, folded, escaped, cut short. */
  #quote(body: Buffer): string {
    return errorText(body, { secrets: this.#secrets });
  }

  #mapError(
    error: unknown,
    request: TransportRequest,
    abort: RequestAbort,
    status: number | undefined,
  ): Error {
    const details: ErrorDetails = { operation: request.operation, key: request.key, status };
    // Our own errors (status, size) stand even if an abort came meanwhile; a caller's abort reason may itself
    // be a ConsulError, so compare with the reason rather than trusting the class.
    if (error instanceof ConsulError && error !== abort.reason) return error;
    if (abort.aborted) {
      const reason: unknown = abort.reason;
      if (reason instanceof InternalAbort && reason.kind === 'closed') {
        return new ClosedError(`${describe(request)}: the client was closed`, details);
      }
      if (reason instanceof InternalAbort) {
        return timeoutError(request, details);
      }
      return new AbortedError(`${describe(request)}: aborted by the caller's signal`, {
        ...details,
        cause: reason,
      });
    }
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return timeoutError(request, { ...details, cause: error });
    }
    if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') {
      // An injected dispatcher closed under us.
      return new ClosedError(`${describe(request)}: the dispatcher was closed`, { ...details, cause: error });
    }
    const reason = errorText(error, { secrets: this.#secrets });
    return new TransportError(
      `${describe(request)}: cannot reach Consul at ${this.#config.address}: ${reason} (is the agent running? check the address option or CONSUL_HTTP_ADDR)`,
      { ...details, cause: error },
    );
  }

  /**
   * Aborts every request in flight (they fail with ClosedError), waits for them to settle, then destroys
   * the owned dispatcher's sockets. Idempotent: a second call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const pending: Array<Promise<unknown> | undefined> = [];
    for (const controller of this.#controllers) {
      controller.abort(new InternalAbort('closed'));
      pending.push(controller.done);
    }
    await Promise.allSettled(pending);
    this.#clearSettledTimers();
    if (this.#ownsDispatcher) await this.#dispatcher.destroy();
  }
}

/**
 * The undici dispatcher for a resolved config: an Agent with keep-alive, `connections` sockets at most,
 * TLS/mTLS settings, HTTP/2 over TLS when allowed, and a unix socket when the address names one.
 */
export function createDispatcher(config: ResolvedClientConfig): Agent {
  return new Agent(dispatcherOptions(config));
}

/** The options {@link createDispatcher} gives undici; separate so tests can check what reaches `connect`. */
export function dispatcherOptions(config: ResolvedClientConfig): Agent.Options {
  const connect: NonNullable<Agent.Options['connect']> & Record<string, unknown> = {};
  if (config.socketPath !== undefined) connect.socketPath = config.socketPath;
  const https = config.scheme === 'https';
  if (https) {
    const { tls } = config;
    if (tls.ca !== undefined) connect.ca = tls.ca;
    if (tls.cert !== undefined) connect.cert = tls.cert;
    if (tls.key !== undefined) connect.key = tls.key;
    if (tls.servername !== undefined) connect.servername = tls.servername;
    connect.rejectUnauthorized = tls.verify;
  }
  return {
    connections: config.connections,
    allowH2: https && config.allowH2,
    connect,
    // Our own timers bound every request; undici's 300 s defaults would cut long blocking queries.
    headersTimeout: 0,
    bodyTimeout: 0,
  };
}

function timeoutError(request: TransportRequest, details: ErrorDetails): TimeoutError {
  const what = request.index > 0 ? 'blocking query got' : 'got';
  return new TimeoutError(
    `${describe(request)}: ${what} no answer from Consul within ${Math.round(request.timeoutMs)} ms (the agent may be overloaded or unreachable; raise requestTimeout for non-blocking requests)`,
    details,
  );
}

function describe(request: TransportRequest): string {
  return describeTarget(request.operation, request.key);
}

/** How messages name what failed: `kv.get config/app/db`, or `kv.list (all keys)` for the empty prefix. */
export function describeTarget(operation: string, key: string | undefined): string {
  if (key === undefined) return operation;
  return `${operation} ${key === '' ? '(all keys)' : key}`;
}

/** `X-Consul-Index` when it is a plain decimal, for the diagnostics payload. */
function headerIndex(headers: Record<string, string | string[] | undefined> | undefined): number | undefined {
  const value = headers?.['x-consul-index'];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
