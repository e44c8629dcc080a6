/**
 * Server protection (consul-semantics §7): header, request-body and keep-alive timeouts, the per-client connection cap,
 * and that none of them cuts a blocking query's answer. Timeouts are injected short; every wait is on an
 * event (a socket closing), never a sleep.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { httpGet } from '../helpers/http.js';

let server: DevServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

/** Opens a raw connection, writes `data`, and records everything the server sends until it closes. */
function openRaw(address: string, data: string): { socket: Socket; closed: Promise<string> } {
  const url = new URL(address);
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => received);
  socket.write(data);
  return { socket, closed };
}

const statusLine = (answer: string) => answer.slice(0, answer.indexOf('\r\n'));

describe('dev server timeouts (consul-semantics §7)', () => {
  it('closes connections that never finish their headers (slowloris) with 408', async () => {
    const dev = await start({ headersTimeoutMs: 50, requestTimeoutMs: 1_000 });
    const slow = Array.from({ length: 50 }, () =>
      openRaw(dev.address, 'GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n'),
    );
    const answers = await Promise.all(slow.map((conn) => conn.closed));
    expect(answers.map(statusLine)).toEqual(answers.map(() => 'HTTP/1.1 408 Request Timeout'));
    await vi.waitFor(() => expect(dev.stats().connections).toBe(0), { interval: 2 });
    expect((await httpGet(dev.address, '/v1/status/leader')).status).toBe(200);
  });

  it('closes a connection whose body arrives too slowly, without storing anything', async () => {
    const dev = await start({ headersTimeoutMs: 50, requestTimeoutMs: 100 });
    const slow = Array.from({ length: 20 }, (_, i) =>
      openRaw(dev.address, `PUT /v1/kv/slow/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 524288\r\n\r\nx`),
    );
    const answers = await Promise.all(slow.map((conn) => conn.closed));
    expect(answers.map(statusLine)).toEqual(answers.map(() => 'HTTP/1.1 408 Request Timeout'));
    expect(dev.kv.index()).toBe(1);
  });

  it('closes a kept-alive connection left idle after a request', async () => {
    const dev = await start({ keepAliveTimeoutMs: 50 });
    const conn = openRaw(dev.address, 'GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = await conn.closed;
    expect(statusLine(answer)).toBe('HTTP/1.1 200 OK');
    expect(answer).toContain('Keep-Alive: timeout=0');
  });

  it('never cuts a blocking query, however short the request timeouts', async () => {
    const dev = await start({
      headersTimeoutMs: 20,
      requestTimeoutMs: 40,
      keepAliveTimeoutMs: 40,
      seed: { k: 'v' },
    });
    const blocking = httpGet(dev.address, '/v1/kv/k?index=2&wait=10m');
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1), { interval: 2 });
    // A half-sent request opened after the blocking one is timed out: the timeouts have run past the
    // blocking query's start, and it is still held.
    const slow = openRaw(dev.address, 'GET /v1/kv/k HTTP/1.1\r\n');
    expect(statusLine(await slow.closed)).toBe('HTTP/1.1 408 Request Timeout');
    expect(dev.stats().blockingHeld).toBe(1);
    dev.kv.put('k', 'v2');
    expect((await blocking).status).toBe(200);
  });

  it('refuses timeouts that are not positive integers, and headers longer than the request', async () => {
    await expect(startDevServer({ headersTimeoutMs: 0 })).rejects.toThrow('option headersTimeoutMs must be');
    await expect(startDevServer({ requestTimeoutMs: 1.5 })).rejects.toThrow(
      'option requestTimeoutMs must be',
    );
    await expect(startDevServer({ keepAliveTimeoutMs: -1 })).rejects.toThrow(
      'option keepAliveTimeoutMs must be',
    );
    await expect(startDevServer({ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 })).rejects.toThrow(
      'at most requestTimeoutMs',
    );
  });
});

describe('dev server per-client connection cap default (consul-semantics §7)', () => {
  it("caps one client at Consul's default of 200 connections and answers the 201st with go-connlimit's 429", async () => {
    const dev = await start();
    const idle = Array.from({ length: 200 }, () => openRaw(dev.address, ''));
    await vi.waitFor(() => expect(dev.stats().connections).toBe(200), { interval: 5 });
    const refused = openRaw(dev.address, 'GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await refused.closed).toBe(
      'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
        'Your IP is issuing too many concurrent connections, please rate limit your calls\n',
    );
    expect(dev.stats()).toMatchObject({ connections: 200, connectionsRejected: 1 });
    idle[0]?.socket.destroy();
    await vi.waitFor(() => expect(dev.stats().connections).toBe(199), { interval: 2 });
    expect((await httpGet(dev.address, '/v1/status/leader')).status).toBe(200);
  });
});
