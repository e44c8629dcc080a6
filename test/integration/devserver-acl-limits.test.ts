import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { httpGet, httpRequest, rawExchange } from '../helpers/http.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

describe('dev server ACLs (consul-semantics §1)', () => {
  it('answers a request without a token with 403 Permission denied and no index headers', async () => {
    const { address } = await start({ aclToken: 'root-token', seed: { k: 'v' } });
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await httpRequest(address, {
        method,
        path: '/v1/kv/k',
        body: method === 'PUT' ? 'x' : undefined,
      });
      expect([res.status, res.text, res.headers['x-consul-index']]).toEqual([
        403,
        'Permission denied',
        undefined,
      ]);
    }
  });

  it('answers an unknown token with 403 ACL not found', async () => {
    const { address } = await start({ aclToken: 'root-token' });
    const res = await httpGet(address, '/v1/kv/k', { 'X-Consul-Token': 'nope' });
    expect([res.status, res.text]).toEqual([403, 'ACL not found']);
  });

  it('accepts the token from X-Consul-Token, Authorization: Bearer or ?token=', async () => {
    const { address } = await start({ aclToken: 'root-token', seed: { k: 'v' } });
    const byHeader = await httpGet(address, '/v1/kv/k', { 'X-Consul-Token': 'root-token' });
    const byBearer = await httpGet(address, '/v1/kv/k', { Authorization: 'Bearer root-token' });
    const byQuery = await httpGet(address, '/v1/kv/k?token=root-token');
    expect([byHeader.status, byBearer.status, byQuery.status]).toEqual([200, 200, 200]);
  });

  it('takes ?token= before the header, as Consul does', async () => {
    const { address } = await start({ aclToken: 'root-token' });
    const res = await httpGet(address, '/v1/kv/k?token=wrong', { 'X-Consul-Token': 'root-token' });
    expect(res.text).toBe('ACL not found');
  });

  it("takes the first of two X-Consul-Token headers, as Go's Header.Get does, never the joined form", async () => {
    const { address } = await start({ aclToken: 'root-token', seed: { k: 'v' } });
    const raw = (first: string, second: string) =>
      rawExchange(
        address,
        `GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nX-Consul-Token: ${first}\r\nX-Consul-Token: ${second}\r\n` +
          'Connection: close\r\n\r\n',
      );
    const statusLine = (answer: string) => answer.slice(0, answer.indexOf('\r\n'));
    expect(statusLine(await raw('root-token', 'other'))).toBe('HTTP/1.1 200 OK');
    expect(statusLine(await raw('other', 'root-token'))).toBe('HTTP/1.1 403 Forbidden');
    // Node would join these into "root-token, root-token"; a server configured with that text as its
    // token must still see only the first header.
    await server?.close();
    const joined = await start({ aclToken: 'root-token, root-token', seed: { k: 'v' } });
    const answer = await rawExchange(
      joined.address,
      'GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nX-Consul-Token: root-token\r\nX-Consul-Token: root-token\r\n' +
        'Connection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\nACL not found$/);
  });

  it('checks request syntax before the token, like Consul', async () => {
    const { address } = await start({ aclToken: 'root-token' });
    expect((await httpGet(address, '/v1/kv/k?wait=5')).text).toBe('Invalid wait time');
    expect((await httpGet(address, '/v1/kv/')).text).toBe('Missing key name');
  });
});

/**
 * Sends a PUT's headers declaring `declared` body bytes and only the first byte of the body, and resolves
 * with the response head the server sends while the body is still incomplete.
 */
function halfSentPut(address: string, path: string, declared: number): Promise<string> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      socket.destroy();
      resolve(received.slice(0, received.indexOf('\r\n')));
    });
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${declared}\r\n\r\nx`);
  });
}

describe('dev server ACLs before request bodies (consul-semantics §1)', () => {
  it('answers a tokenless PUT with 403 before its body has arrived, for KV and txn', async () => {
    const { address } = await start({ aclToken: 'root-token' });
    const declared = 511 * 1024;
    // A bounded flood: every connection is answered without the server waiting for (or buffering) its body.
    const heads = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        halfSentPut(address, i % 2 === 0 ? `/v1/kv/flood/${i}` : '/v1/txn', declared),
      ),
    );
    expect(heads).toEqual(Array.from({ length: 20 }, () => 'HTTP/1.1 403 Forbidden'));
  });
});

describe('dev server per-client connection cap (consul-semantics §7)', () => {
  it("refuses a connection over the cap with go-connlimit's raw 429 and closes it", async () => {
    const dev = await start({ maxConnsPerClient: 1, seed: { k: 'v' } });
    const blocking = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1), { interval: 2 });
    const refused = await rawExchange(dev.address, 'GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(refused).toBe(
      'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
        'Your IP is issuing too many concurrent connections, please rate limit your calls\n',
    );
    expect(dev.stats()).toMatchObject({ connections: 1, connectionsTotal: 2, connectionsRejected: 1 });
    dev.kv.put('k', 'v2');
    expect((await blocking).status).toBe(200);
    await vi.waitFor(() => expect(dev.stats().connections).toBe(0), { interval: 2 });
    expect((await httpGet(dev.address, '/v1/kv/k')).status).toBe(200);
  });
});

describe('startDevServer options', () => {
  it('refuses bad options at start, naming the option', async () => {
    await expect(startDevServer({ port: -1 })).rejects.toThrow('startDevServer: option port must be');
    await expect(startDevServer({ aclToken: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(startDevServer({ seed: [{ key: '', value: '' }] })).rejects.toThrow(
      'invalid dev server seed',
    );
  });

  it('refuses an empty host instead of listening on every interface at http://:PORT', async () => {
    for (const host of ['', ' ']) {
      const refused = startDevServer({ port: 0, host });
      await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(refused).rejects.toThrow('startDevServer: option host must be a non-empty');
    }
  });

  it('loads both seed shapes: key -> value and the consul kv export array', async () => {
    const dev = await start({ seed: { text: 'plain', num: 5, obj: { a: 1 }, nil: null } });
    expect(['text', 'num', 'obj', 'nil'].map((key) => dev.kv.get(key)?.value?.toString())).toEqual([
      'plain',
      '5',
      '{"a":1}',
      'null',
    ]);
    await dev.close();
    const exported = await start({
      seed: [{ key: 'e', flags: 3, value: Buffer.from('hi').toString('base64') }],
    });
    expect(exported.kv.get('e')).toEqual({
      key: 'e',
      value: Buffer.from('hi'),
      flags: 3,
      createIndex: 2,
      modifyIndex: 2,
    });
  });

  it('reports its address and answers /v1/status/leader', async () => {
    const dev = await start();
    expect(dev.address).toBe(`http://127.0.0.1:${dev.port}`);
    expect((await httpGet(dev.address, '/v1/status/leader')).text).toBe('"127.0.0.1:8300"');
  });
});
