import diagnosticsChannel from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveClientConfig } from '../../../src/consul/config.js';
import { dispatcherOptions } from '../../../src/consul/transport.js';
import type { RequestFinishMessage, RequestStartMessage } from '../../../src/diagnostics.js';
import {
  AbortedError,
  AclDeniedError,
  BadRequestError,
  ClosedError,
  type ConsulError,
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
} from '../../../src/errors.js';
import {
  expectNoPiece,
  expectNoToken,
  type MockConsul,
  meta,
  mockConsul,
  rejection,
  TOKEN,
} from './mock-consul.js';

let mock: MockConsul;
afterEach(async () => {
  vi.useRealTimers();
  await mock.finish();
});

type Call = (m: MockConsul) => Promise<unknown>;
const calls: Record<string, [string, string, string, Call]> = {
  get: ['GET', '/v1/kv/config/app/db', 'kv.get config/app/db', (m) => m.client.kv.get('config/app/db')],
  list: ['GET', '/v1/kv/config/app/?recurse=', 'kv.list config/app/', (m) => m.client.kv.list('config/app/')],
  keys: ['GET', '/v1/kv/?keys=', 'kv.keys (all keys)', (m) => m.client.kv.keys('')],
  put: ['PUT', '/v1/kv/config/app/db', 'kv.put config/app/db', (m) => m.client.kv.put('config/app/db', 'v')],
  delete: [
    'DELETE',
    '/v1/kv/config/app/db',
    'kv.delete config/app/db',
    (m) => m.client.kv.delete('config/app/db'),
  ],
  txn: ['PUT', '/v1/txn', 'txn', (m) => m.client.kv.txn([{ verb: 'set', key: 'config/app/db', value: 'v' }])],
};

describe('status → typed error (contract error table)', () => {
  const cases: Array<
    [keyof typeof calls, number, string, new (...args: never[]) => ConsulError, string, string, boolean]
  > = [
    [
      'list',
      403,
      'Permission denied',
      AclDeniedError,
      'CONSUL_ACL_DENIED',
      '403 Permission denied (the token needs key:read on this prefix, and key:list when acl_enable_key_list_policy is on)',
      false,
    ],
    [
      'get',
      403,
      'ACL not found',
      AclDeniedError,
      'CONSUL_ACL_DENIED',
      '403 ACL not found (Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)',
      false,
    ],
    [
      'put',
      403,
      "Permission denied: token with AccessorID 'abc' lacks permission 'key:write' on \"config/app/db\"",
      AclDeniedError,
      'CONSUL_ACL_DENIED',
      "403 Permission denied: token with AccessorID 'abc' lacks permission 'key:write' on \"config/app/db\" (the token needs key:write on this key)",
      false,
    ],
    [
      'txn',
      403,
      'Permission denied',
      AclDeniedError,
      'CONSUL_ACL_DENIED',
      '403 Permission denied (the token needs key:write (key:read for reads) on every key the transaction touches)',
      false,
    ],
    [
      'get',
      429,
      'Your IP is issuing too many concurrent connections, please rate limit your calls\n',
      RateLimitedError,
      'CONSUL_RATE_LIMITED',
      '429 Your IP is issuing too many concurrent connections, please rate limit your calls (Consul is limiting this client; retry with backoff and keep fewer connections open)',
      true,
    ],
    [
      'list',
      500,
      'No cluster leader',
      ServerError,
      'CONSUL_NO_LEADER',
      '500 No cluster leader (the Consul cluster has no leader; retry later)',
      true,
    ],
    [
      'delete',
      500,
      'rpc error: something broke',
      ServerError,
      'CONSUL_SERVER_ERROR',
      '500 rpc error: something broke (Consul server error; reads may be retried)',
      true,
    ],
    [
      'get',
      503,
      'rate limit exceeded, try again later',
      ServerError,
      'CONSUL_SERVER_ERROR',
      '503 rate limit exceeded, try again later (Consul server error; reads may be retried)',
      true,
    ],
    [
      'put',
      413,
      'Request body(524289 bytes) too large, max size: 524288 bytes. See https://developer.hashicorp.com/docs.',
      ValueTooLargeError,
      'CONSUL_VALUE_TOO_LARGE',
      "413 Request body(524289 bytes) too large, max size: 524288 bytes. See https://developer.hashicorp.com/docs. (the request is over Consul's kv_max_value_size / txn_max_req_len; store less per key)",
      false,
    ],
    [
      'txn',
      413,
      'Transaction contains too many operations (129 > 128)',
      TxnTooLargeError,
      'CONSUL_TXN_TOO_LARGE',
      '413 Transaction contains too many operations (129 > 128) (split the transaction; Consul accepts at most 128 operations)',
      false,
    ],
    [
      'get',
      400,
      'Invalid wait time',
      BadRequestError,
      'CONSUL_BAD_REQUEST',
      '400 Invalid wait time (Consul refused the request)',
      false,
    ],
    [
      'keys',
      400,
      'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature',
      BadRequestError,
      'CONSUL_BAD_REQUEST',
      '400 Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature (namespaces and partitions need Consul Enterprise; unset the namespace/partition options or CONSUL_NAMESPACE/CONSUL_PARTITION)',
      false,
    ],
    [
      'get',
      400,
      '',
      BadRequestError,
      'CONSUL_BAD_REQUEST',
      '400 Bad Request (Consul refused the request)',
      false,
    ],
    [
      'delete',
      405,
      'method DELETE not allowed',
      BadRequestError,
      'CONSUL_BAD_REQUEST',
      '405 method DELETE not allowed (Consul refused the request)',
      false,
    ],
    [
      'get',
      301,
      '',
      BadRequestError,
      'CONSUL_BAD_REQUEST',
      '301 Moved Permanently (unexpected status from Consul)',
      false,
    ],
  ];

  it.each(cases)('maps %s %d %j', async (name, status, body, ErrorClass, code, text, retryable) => {
    mock = mockConsul();
    const [method, path, target, call] = calls[name]!;
    mock.pool.intercept({ path, method }).reply(status, body);
    const error = await rejection(call(mock));
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({
      code,
      status,
      retryable,
      operation: target.split(' ')[0],
      key: name === 'txn' ? undefined : name === 'keys' ? '' : target.split(' ')[1],
    });
    expect(error.cause).toBeUndefined();
    expect(error.message).toBe(`${target}: ${text}`);
    expectNoToken(error);
  });

  it('maps 401 and 407 to auth errors whose hints name the credentials and the proxy, not a bad request', async () => {
    mock = mockConsul({ auth: `deploy:${TOKEN}` });
    mock.pool.intercept({ path: '/v1/kv/config/app/db', method: 'GET' }).reply(401, 'Unauthorized');
    mock.pool.intercept({ path: '/v1/kv/config/app/db', method: 'GET' }).reply(407, '');
    const unauthorized = await rejection(mock.client.kv.get('config/app/db'));
    expect(unauthorized).toBeInstanceOf(UnauthorizedError);
    expect(unauthorized).toMatchObject({ code: 'CONSUL_UNAUTHORIZED', status: 401, retryable: false });
    expect(unauthorized.message).toBe(
      'kv.get config/app/db: 401 Unauthorized (Consul or a proxy in front of it refused the credentials; check the auth option or CONSUL_HTTP_AUTH)',
    );
    const proxy = await rejection(mock.client.kv.get('config/app/db'));
    expect(proxy).toBeInstanceOf(ProxyAuthRequiredError);
    expect(proxy).toMatchObject({ code: 'CONSUL_PROXY_AUTH_REQUIRED', status: 407, retryable: false });
    expect(proxy.message).toBe(
      'kv.get config/app/db: 407 Proxy Authentication Required (a proxy between this client and Consul wants its own credentials; check the proxy settings, or point the address at the agent directly)',
    );
    expectNoToken(unauthorized);
    expectNoToken(proxy);
  });

  it('maps 500 "No path to datacenter" to UnknownDatacenterError naming the datacenter', async () => {
    mock = mockConsul({ datacenter: 'dc9' });
    mock.pool.intercept({ path: '/v1/kv/a?dc=dc9', method: 'GET' }).reply(500, 'No path to datacenter');
    const error = await rejection(mock.client.kv.get('a'));
    expect(error).toBeInstanceOf(UnknownDatacenterError);
    expect(error).toMatchObject({
      code: 'CONSUL_UNKNOWN_DATACENTER',
      status: 500,
      retryable: false,
      key: 'a',
    });
    expect(error.message).toBe(
      "kv.get a: 500 No path to datacenter (Consul does not know the datacenter 'dc9'; check the datacenter option)",
    );
  });

  it('removes the token from a Consul error body before quoting it', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/a', method: 'GET' })
      .reply(403, `Permission denied: token ${TOKEN} is bad`);
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      'kv.get a: 403 Permission denied: token [redacted] is bad (the token needs key:read on this key)',
    );
    expectNoToken(error);
  });

  it('redacts a token that straddles the 300-character cut (redact before cutting)', async () => {
    mock = mockConsul();
    const head = 'x'.repeat(280);
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(500, `${head}${TOKEN} and more`);
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      `kv.get a: 500 ${head}[redacted] and more (Consul server error; reads may be retried)`,
    );
    expectNoPiece(error.message, TOKEN);
  });

  it('redacts a token wrapped over two lines, which folding would join back', async () => {
    mock = mockConsul();
    const wrapped = `${TOKEN.slice(0, 15)}\n    ${TOKEN.slice(15)}`;
    mock.pool
      .intercept({ path: '/v1/kv/a', method: 'GET' })
      .reply(403, `Permission denied: token ${wrapped} is bad`);
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      'kv.get a: 403 Permission denied: token [redacted] is bad (the token needs key:read on this key)',
    );
    expectNoPiece(error.message, TOKEN);
  });

  it('redacts basic-auth and bearer credentials a proxy echoes from the request headers', async () => {
    const password = 'hunter2-proxy-pass';
    mock = mockConsul({ auth: `deploy:${password}` });
    const basic = Buffer.from(`deploy:${password}`).toString('base64');
    mock.pool
      .intercept({ path: '/v1/kv/a', method: 'GET' })
      .reply(400, `bad request; headers: authorization=Basic ${basic}, x-forwarded=Bearer abc.def-ghi`);
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      'kv.get a: 400 bad request; headers: authorization=Basic [redacted], x-forwarded=Bearer [redacted] (Consul refused the request)',
    );
    expectNoPiece(error.message, basic);
    expectNoPiece(error.message, password);
  });

  it('escapes terminal control characters and bidi overrides from a quoted body', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/a', method: 'GET' })
      .reply(500, 'boom\u001b]0;pwned\u0007\u001b[2J\u009b31m\u007f\u202eevil\u2066');
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      'kv.get a: 500 boom\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u007f\\u202eevil\\u2066 (Consul server error; reads may be retried)',
    );
    expect(error.message).not.toMatch(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
  });

  it('cuts a long error body short', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(500, 'x'.repeat(1000));
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.message).toBe(
      `kv.get a: 500 ${'x'.repeat(300)}… (Consul server error; reads may be retried)`,
    );
  });

  it('maps a socket error to TransportError keeping it as the cause', async () => {
    mock = mockConsul();
    const socketError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8500'), {
      code: 'ECONNREFUSED',
    });
    mock.pool.intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' }).replyWithError(socketError);
    const error = await rejection(mock.client.kv.list('config/'));
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({
      code: 'CONSUL_TRANSPORT',
      status: undefined,
      retryable: true,
      key: 'config/',
    });
    expect(error.cause).toBe(socketError);
    expect(error.message).toBe(
      'kv.list config/: cannot reach Consul at http://127.0.0.1:8500: connect ECONNREFUSED 127.0.0.1:8500 (is the agent running? check the address option or CONSUL_HTTP_ADDR)',
    );
    expectNoToken(error);
  });

  it('maps an undici headers timeout to TimeoutError', async () => {
    mock = mockConsul();
    const undiciError = Object.assign(new Error('Headers Timeout Error'), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).replyWithError(undiciError);
    const error = await rejection(mock.client.kv.get('a'));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.cause).toBe(undiciError);
  });
});

describe('response size limit', () => {
  it('refuses a body whose Content-Length is over maxResponseBytes', async () => {
    mock = mockConsul({ maxResponseBytes: 64 });
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
      .reply(200, 'x'.repeat(65), { headers: { ...meta(3), 'content-length': '65' } });
    const error = await rejection(mock.client.kv.list('config/'));
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error).toMatchObject({
      code: 'CONSUL_RESPONSE_TOO_LARGE',
      status: 200,
      key: 'config/',
      operation: 'kv.list',
    });
    expect(error.message).toBe(
      'kv.list config/: response body over maxResponseBytes (64 bytes); raise maxResponseBytes or read a smaller prefix',
    );
  });

  it('counts the bytes of a body without Content-Length while streaming', async () => {
    mock = mockConsul({ maxResponseBytes: 64 });
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
      .reply(200, 'x'.repeat(65), { headers: meta(3) });
    const error = await rejection(mock.client.kv.list('config/'));
    expect(error).toBeInstanceOf(ResponseTooLargeError);
  });

  it('accepts a body of exactly maxResponseBytes', async () => {
    mock = mockConsul({ maxResponseBytes: 24 });
    mock.pool
      .intercept({ path: '/v1/kv/p/?keys=', method: 'GET' })
      .reply(200, '["config/a","config/b/"]', { headers: meta(3) });
    expect((await mock.client.kv.keys('p/')).bytes).toBe(24);
  });
});

describe('timeouts (consul-semantics §4)', () => {
  it('gives up on a non-blocking request after requestTimeout with TimeoutError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul({ requestTimeout: 1000 });
    mock.pool
      .intercept({ path: '/v1/kv/a', method: 'GET' })
      .reply(404, '', { headers: meta(3) })
      .delay(5000);
    let settled = false;
    const result = rejection(mock.client.kv.get('a')).finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'CONSUL_TIMEOUT', retryable: true, key: 'a', status: undefined });
    expect(error.message).toBe(
      'kv.get a: got no answer from Consul within 1000 ms (the agent may be overloaded or unreachable; raise requestTimeout for non-blocking requests)',
    );
    expectNoToken(error);
  });

  it('gives a blocking read wait + wait/16 + 9 s before TimeoutError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul({ requestTimeout: 1000 });
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=&index=7&wait=16000ms', method: 'GET' })
      .reply(404, '', { headers: meta(7) })
      .delay(60_000);
    let settled = false;
    const result = rejection(mock.client.kv.list('config/', { index: 7, wait: '16s' })).finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(25_999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe(
      'kv.list config/: blocking query got no answer from Consul within 26000 ms (the agent may be overloaded or unreachable; raise requestTimeout for non-blocking requests)',
    );
  });

  it('leaves no timer behind after an error, nor after an answer once its socket-return turn is over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(200, [], { headers: meta(3) });
    mock.pool.intercept({ path: '/v1/kv/b', method: 'GET' }).reply(500, 'boom');
    await mock.client.kv.get('a');
    // Cleared in the turn after the answer, off the way to the caller.
    expect(vi.getTimerCount()).toBe(1);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(vi.getTimerCount()).toBe(0);
    await rejection(mock.client.kv.get('b'));
    expect(vi.getTimerCount()).toBe(0);
  });
  it("clears an answered request's timer on close(), before the socket-return turn", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(200, [], { headers: meta(3) });
    await mock.client.kv.get('a');
    expect(vi.getTimerCount()).toBe(1);
    await mock.client.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('abort', () => {
  it('fails at once with AbortedError for an already aborted signal, sending nothing', async () => {
    mock = mockConsul();
    const reason = new Error('shutting down');
    const error = await rejection(mock.client.kv.get('a', { signal: AbortSignal.abort(reason) }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ code: 'CONSUL_ABORTED', operation: 'kv.get', key: 'a', retryable: false });
    expect(error.cause).toBe(reason);
    expect(error.message).toBe("kv.get a: aborted by the caller's signal");
    expect(mock.requests()).toEqual([]);
  });

  it('ends a request in flight with AbortedError carrying the signal reason', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/a?index=3', method: 'GET' })
      .reply(404, '', { headers: meta(3) })
      .delay(10_000);
    const controller = new AbortController();
    const result = rejection(mock.client.kv.get('a', { index: 3, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(100);
    const reason = { why: 'test' };
    controller.abort(reason);
    const error = await result;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.cause).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports AbortedError even when the abort reason is itself a ConsulError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/a?index=3', method: 'GET' })
      .reply(404, '', { headers: meta(3) })
      .delay(10_000);
    const controller = new AbortController();
    const result = rejection(mock.client.kv.get('a', { index: 3, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(100);
    const reason = new ClosedError('watch closed', { operation: 'watch' });
    controller.abort(reason);
    const error = await result;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.cause).toBe(reason);
  });

  it('passes signals of put, delete and txn through', async () => {
    mock = mockConsul();
    const signal = AbortSignal.abort();
    for (const attempt of [
      mock.client.kv.put('a', 'v', { signal }),
      mock.client.kv.delete('a', { signal }),
      mock.client.kv.txn([{ verb: 'get', key: 'a' }], { signal }),
      mock.client.kv.keys('a', { signal }),
      mock.client.kv.list('a', { signal }),
    ]) {
      expect(await rejection(attempt)).toBeInstanceOf(AbortedError);
    }
    expect(mock.requests()).toEqual([]);
  });
});

describe('close', () => {
  it('ends requests in flight with ClosedError at once and refuses new ones', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/a?index=9', method: 'GET' })
      .reply(404, '', { headers: meta(9) })
      .delay(60_000);
    const inFlight = rejection(mock.client.kv.get('a', { index: 9 }));
    await vi.advanceTimersByTimeAsync(10);
    const first = mock.client.close();
    expect(mock.client.close()).toBe(first);
    await first;
    const error = await inFlight;
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toMatchObject({ code: 'CONSUL_CLOSED', operation: 'kv.get', key: 'a' });
    expect(error.message).toBe('kv.get a: the client was closed');
    expect(mock.client.closed).toBe(true);
    const later = await rejection(mock.client.kv.list('b/'));
    expect(later).toBeInstanceOf(ClosedError);
    expect(later.message).toBe('kv.list b/: the client was closed');
    expect(mock.requests()).toEqual(['GET /v1/kv/a?index=9']);
  });

  it('leaves an injected dispatcher open', async () => {
    mock = mockConsul();
    await mock.client[Symbol.asyncDispose]();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(404, '', { headers: meta(3) });
    const { ConsulClient } = await import('../../../src/consul/client.js');
    const second = new ConsulClient({ dispatcher: mock.agent, env: {} });
    expect((await second.kv.get('a')).index).toBe(3);
    await second.close();
  });
});

describe('diagnostics channels', () => {
  it('publishes start and finish without the token', async () => {
    mock = mockConsul({ address: 'http://127.0.0.1:8500/consul' });
    mock.pool
      .intercept({ path: '/consul/v1/kv/a?index=5', method: 'GET' })
      .reply(200, [], { headers: meta(9) });
    mock.pool.intercept({ path: '/consul/v1/kv/b', method: 'GET' }).reply(500, 'No cluster leader');
    const events: Array<[string, RequestStartMessage | RequestFinishMessage]> = [];
    const onStart = (message: unknown) => events.push(['start', message as RequestStartMessage]);
    const onFinish = (message: unknown) => events.push(['finish', message as RequestFinishMessage]);
    diagnosticsChannel.subscribe('consul-hotreload:request:start', onStart);
    diagnosticsChannel.subscribe('consul-hotreload:request:finish', onFinish);
    let failure: Error;
    try {
      await mock.client.kv.get('a', { index: 5 });
      failure = await rejection(mock.client.kv.get('b'));
    } finally {
      diagnosticsChannel.unsubscribe('consul-hotreload:request:start', onStart);
      diagnosticsChannel.unsubscribe('consul-hotreload:request:finish', onFinish);
    }
    const a = { operation: 'kv.get', method: 'GET', path: '/consul/v1/kv/a?index=5', index: 5 };
    const b = { operation: 'kv.get', method: 'GET', path: '/consul/v1/kv/b', index: 0 };
    expect(events).toEqual([
      ['start', a],
      [
        'finish',
        { ...a, status: 200, resultIndex: 9, bytes: 2, durationMs: expect.any(Number), error: undefined },
      ],
      ['start', b],
      [
        'finish',
        {
          ...b,
          status: 500,
          resultIndex: undefined,
          bytes: 17,
          durationMs: expect.any(Number),
          error: failure,
        },
      ],
    ]);
    expect(inspect(events, { depth: 10 })).not.toContain(TOKEN);
  });
});

describe('dispatcher options', () => {
  it('applies connections, TLS, servername and HTTP/2 over HTTPS', () => {
    const config = resolveClientConfig({
      env: {},
      address: 'https://consul:8501',
      connections: 8,
      allowH2: true,
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'consul.service:8501', verify: false },
    });
    expect(dispatcherOptions(config)).toEqual({
      connections: 8,
      allowH2: true,
      connect: {
        ca: ['CA'],
        cert: 'CERT',
        key: 'KEY',
        servername: 'consul.service',
        rejectUnauthorized: false,
      },
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  });

  it('uses no TLS and no HTTP/2 over HTTP, and the socket path of a unix address', () => {
    const config = resolveClientConfig({
      env: { CONSUL_HTTP_ADDR: 'unix:///tmp/consul.sock' },
      allowH2: true,
      tls: { ca: 'CA' },
    });
    expect(dispatcherOptions(config)).toEqual({
      connections: 64,
      allowH2: false,
      connect: { socketPath: '/tmp/consul.sock' },
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  });

  it('verifies certificates by default', () => {
    const config = resolveClientConfig({ env: { CONSUL_HTTP_SSL: 'true' } });
    expect(dispatcherOptions(config).connect).toEqual({ rejectUnauthorized: true });
  });
});
