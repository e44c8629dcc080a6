/**
 * The client over real loopback sockets: TLS with a CA, server name and verification switches, mutual TLS,
 * HTTP/2, a unix socket, and close() tearing down sockets. Certificates are made with openssl at test time.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../../src/consul/client.js';
import { ClosedError, TransportError } from '../../../src/errors.js';

let dir: string;
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for DNS:consul.test only, and a client certificate, all signed by the CA. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test-ca');
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:consul.test\n');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=consul.test');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'server.ext',
  );
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=test-client');
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.pem',
    '-days',
    '1',
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'consul-sockets-test-'));
  makeCertificates();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENTRY = [
  {
    Key: 'config/a',
    Value: Buffer.from('hello').toString('base64'),
    Flags: 0,
    LockIndex: 0,
    CreateIndex: 5,
    ModifyIndex: 5,
  },
];

interface Seen {
  path: string | undefined;
  token: string | string[] | undefined;
  httpVersion: string;
  clientCN: string | undefined;
}

const seen: Seen[] = [];
const sockets = new Set<Socket>();
let server: Server | http2.Http2SecureServer | undefined;
let client: ConsulClient | undefined;

function handler(
  req: IncomingMessage | http2.Http2ServerRequest,
  res: ServerResponse | http2.Http2ServerResponse,
): void {
  const socket = req.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  seen.push({
    path: req.url,
    token: req.headers['x-consul-token'],
    httpVersion: req.httpVersion,
    clientCN: peer?.subject?.CN as string | undefined,
  });
  if (req.url?.includes('hang')) return;
  res.writeHead(200, {
    'content-type': 'application/json',
    'x-consul-index': '5',
    'x-consul-knownleader': 'true',
  });
  res.end(JSON.stringify(ENTRY));
}

async function listen(s: Server | http2.Http2SecureServer, where: number | string): Promise<number> {
  server = s;
  s.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  if (typeof where === 'string') s.listen(where);
  else s.listen(where, '127.0.0.1');
  await once(s, 'listening');
  return typeof where === 'string' ? 0 : (s.address() as AddressInfo).port;
}

function tlsServer(mutual = false): https.Server {
  return https.createServer(
    {
      key: readFileSync(file('server.key')),
      cert: readFileSync(file('server.pem')),
      ca: readFileSync(file('ca.pem')),
      requestCert: mutual,
      rejectUnauthorized: mutual,
    },
    handler,
  );
}

afterEach(async () => {
  await client?.close();
  client = undefined;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  if (server?.listening) {
    server.close();
    await once(server, 'close');
  }
  server = undefined;
  seen.length = 0;
});

describe('TLS', () => {
  it('verifies the server with CONSUL_CACERT and CONSUL_TLS_SERVER_NAME (port stripped)', async () => {
    const port = await listen(tlsServer(), 0);
    client = new ConsulClient({
      env: {
        CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`,
        CONSUL_CACERT: file('ca.pem'),
        CONSUL_TLS_SERVER_NAME: `consul.test:${port}`,
        CONSUL_HTTP_TOKEN: 'tls-token',
      },
    });
    const result = await client.kv.get('config/a');
    expect(result.entry?.text()).toBe('hello');
    expect(seen).toEqual([
      { path: '/v1/kv/config/a', token: 'tls-token', httpVersion: '1.1', clientCN: undefined },
    ]);
  });

  it('refuses a server whose certificate does not match the server name', async () => {
    const port = await listen(tlsServer(), 0);
    client = new ConsulClient({
      env: { CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`, CONSUL_CACERT: file('ca.pem') },
    });
    const error = await client.kv.get('config/a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).cause).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(seen).toEqual([]);
  });

  it('refuses a server signed by an unknown CA', async () => {
    const port = await listen(tlsServer(), 0);
    client = new ConsulClient({
      env: { CONSUL_HTTP_ADDR: `127.0.0.1:${port}`, CONSUL_HTTP_SSL: 'true' },
      tls: { servername: 'consul.test' },
    });
    const error = await client.kv.get('config/a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).cause).toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  });

  it('accepts any certificate with CONSUL_HTTP_SSL_VERIFY=false', async () => {
    const port = await listen(tlsServer(), 0);
    client = new ConsulClient({
      env: { CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`, CONSUL_HTTP_SSL_VERIFY: 'false' },
    });
    expect((await client.kv.get('config/a')).index).toBe(5);
  });

  it('presents the client certificate from CONSUL_CLIENT_CERT / CONSUL_CLIENT_KEY (mutual TLS)', async () => {
    const port = await listen(tlsServer(true), 0);
    client = new ConsulClient({
      env: {
        CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`,
        CONSUL_CACERT: file('ca.pem'),
        CONSUL_TLS_SERVER_NAME: 'consul.test',
        CONSUL_CLIENT_CERT: file('client.pem'),
        CONSUL_CLIENT_KEY: file('client.key'),
      },
    });
    expect((await client.kv.get('config/a')).entry?.key).toBe('config/a');
    expect(seen.map((s) => s.clientCN)).toEqual(['test-client']);
  });

  it('fails with TransportError when mutual TLS is required and no client certificate is given', async () => {
    const port = await listen(tlsServer(true), 0);
    client = new ConsulClient({
      env: {
        CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`,
        CONSUL_CACERT: file('ca.pem'),
        CONSUL_TLS_SERVER_NAME: 'consul.test',
      },
    });
    const error = await client.kv.get('config/a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(seen).toEqual([]);
  });

  it('speaks HTTP/2 over TLS when allowH2 is set', async () => {
    const h2 = http2.createSecureServer(
      { key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')), allowHTTP1: true },
      handler,
    );
    const port = await listen(h2, 0);
    client = new ConsulClient({
      env: {},
      address: `https://127.0.0.1:${port}`,
      allowH2: true,
      tls: { ca: readFileSync(file('ca.pem')), servername: 'consul.test' },
    });
    expect((await client.kv.list('config/')).entries.map((e) => e.key)).toEqual(['config/a']);
    expect(seen.map((s) => [s.path, s.httpVersion])).toEqual([['/v1/kv/config/?recurse=', '2.0']]);
  });
});

describe('unix socket and close', () => {
  it('talks to an agent on a unix socket (unix:///path)', async () => {
    const path = file('consul.sock');
    await listen(http.createServer(handler), path);
    client = new ConsulClient({
      env: { CONSUL_HTTP_ADDR: `unix://${path}`, CONSUL_HTTP_TOKEN: 'unix-token' },
    });
    expect((await client.kv.get('config/a')).entry?.text()).toBe('hello');
    expect(seen).toEqual([
      { path: '/v1/kv/config/a', token: 'unix-token', httpVersion: '1.1', clientCN: undefined },
    ]);
  });

  it('reuses one keep-alive socket and closes it on close()', async () => {
    const port = await listen(http.createServer(handler), 0);
    client = new ConsulClient({ env: {}, address: `127.0.0.1:${port}` });
    await client.kv.get('config/a');
    await client.kv.get('config/a');
    expect(sockets.size).toBe(1);
    const [socket] = sockets;
    const closed = once(socket as Socket, 'close');
    await client.close();
    await closed;
    expect(sockets.size).toBe(0);
  });

  it('ends a blocking query at once with ClosedError on close()', async () => {
    const port = await listen(http.createServer(handler), 0);
    client = new ConsulClient({ env: {}, address: `127.0.0.1:${port}` });
    const pending = client.kv.get('hang', { index: 10, wait: '5m' }).catch((e: unknown) => e);
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    const error = await pending;
    expect(error).toBeInstanceOf(ClosedError);
    expect(seen.map((s) => s.path)).toEqual(['/v1/kv/hang?index=10&wait=300000ms']);
  });
});
