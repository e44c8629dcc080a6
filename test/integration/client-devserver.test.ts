/**
 * The Consul client against the embedded dev server over loopback: real HTTP, real blocking queries,
 * real ACL and size answers, and the dev server's fault injection.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/consul/client.js';
import type { ConsulClientOptions } from '../../src/consul/config.js';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import {
  AclDeniedError,
  BadRequestError,
  ClosedError,
  MalformedResponseError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  TransportError,
  ValueTooLargeError,
} from '../../src/errors.js';

const TOKEN = 'integration-secret-token-42';

let server: DevServer | undefined;
let client: ConsulClient | undefined;

async function setup(
  serverOptions: DevServerOptions = {},
  clientOptions: ConsulClientOptions = {},
): Promise<{ server: DevServer; client: ConsulClient }> {
  server = await startDevServer({ jitter: false, ...serverOptions });
  client = new ConsulClient({ env: {}, address: server.address, ...clientOptions });
  return { server, client };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

describe('KV round trip (consul-semantics §2)', () => {
  it('writes, reads, lists, folds and deletes keys', async () => {
    const { client: c } = await setup();
    expect(await c.kv.put('config/app/name', 'démo ✓')).toBe(true);
    expect(await c.kv.put('config/app/db/port', '5432', { flags: 7 })).toBe(true);
    expect(await c.kv.put('config/app/bin', new Uint8Array([0, 255, 10]))).toBe(true);
    expect(await c.kv.put('config/app/empty', '')).toBe(true);
    expect(await c.kv.put('config/apple', 'not in the folder')).toBe(true);

    const name = await c.kv.get('config/app/name');
    expect(name.entry?.text()).toBe('démo ✓');
    expect(name.index).toBe(name.entry?.modifyIndex);
    expect(name.knownLeader).toBe(true);

    const list = await c.kv.list('config/app/');
    expect(list.entries.map((e) => [e.key, e.value, e.flags])).toEqual([
      ['config/app/bin', Buffer.from([0, 255, 10]), 0],
      ['config/app/db/port', Buffer.from('5432'), 7],
      ['config/app/empty', null, 0],
      ['config/app/name', Buffer.from('démo ✓'), 0],
    ]);
    expect(list.index).toBe(Math.max(...list.entries.map((e) => e.modifyIndex)));

    expect((await c.kv.keys('config/', { separator: '/' })).keys).toEqual(['config/app/', 'config/apple']);
    expect((await c.kv.keys('config/app/')).keys).toEqual([
      'config/app/bin',
      'config/app/db/port',
      'config/app/empty',
      'config/app/name',
    ]);

    expect(await c.kv.delete('config/app/', { recurse: true })).toBe(true);
    expect((await c.kv.list('config/app/')).entries).toEqual([]);
    expect((await c.kv.get('config/apple')).entry?.text()).toBe('not in the folder');
  });

  it('addresses keys with spaces, percent signs and non-ASCII characters', async () => {
    const { server: s, client: c } = await setup();
    const key = 'config/a b/100%/é?x=1&y#z';
    expect(await c.kv.put(key, 'odd')).toBe(true);
    expect(s.kv.get(key)?.value?.toString()).toBe('odd');
    expect((await c.kv.get(key)).entry?.key).toBe(key);
  });

  it('answers a missing key with entry null and the whole-KV index (consul-semantics §3)', async () => {
    const { server: s, client: c } = await setup({ seed: { 'other/key': 'x' } });
    const result = await c.kv.get('config/missing');
    expect(result).toEqual({ entry: null, index: s.kv.index(), knownLeader: true, lastContact: 0, bytes: 0 });
    expect((await c.kv.list('config/')).entries).toEqual([]);
  });

  it('applies check-and-set on put and delete', async () => {
    const { client: c } = await setup();
    expect(await c.kv.put('k', 'one', { cas: 0 })).toBe(true);
    expect(await c.kv.put('k', 'two', { cas: 0 })).toBe(false);
    const { entry } = await c.kv.get('k');
    expect(await c.kv.put('k', 'two', { cas: entry?.modifyIndex ?? -1 })).toBe(true);
    expect(await c.kv.delete('k', { cas: entry?.modifyIndex ?? -1 })).toBe(false);
    const current = (await c.kv.get('k')).entry;
    expect(await c.kv.delete('k', { cas: current?.modifyIndex ?? -1 })).toBe(true);
    expect((await c.kv.get('k')).entry).toBeNull();
  });
});

describe('transactions (consul-semantics §6)', () => {
  it('commits a transaction and returns its results', async () => {
    const { client: c } = await setup({ seed: { 'config/c': 'three' } });
    const result = await c.kv.txn([
      { verb: 'set', key: 'config/a', value: 'one' },
      { verb: 'get', key: 'config/c' },
      { verb: 'delete', key: 'config/none' },
    ]);
    expect(result.ok).toBe(true);
    if (result.ok)
      expect(result.results.map((e) => [e.key, e.text()])).toEqual([
        ['config/a', null],
        ['config/c', 'three'],
      ]);
    expect((await c.kv.get('config/a')).entry?.text()).toBe('one');
  });

  it('rolls back and reports every failing operation (409)', async () => {
    const { client: c } = await setup({ seed: { 'config/c': 'three' } });
    const result = await c.kv.txn([
      { verb: 'set', key: 'config/a', value: 'one' },
      { verb: 'check-not-exists', key: 'config/c' },
      { verb: 'get', key: 'config/missing' },
    ]);
    expect(result).toEqual({
      ok: false,
      errors: [
        { opIndex: 1, what: 'key "config/c" exists' },
        { opIndex: 2, what: 'key "config/missing" doesn\'t exist' },
      ],
    });
    expect((await c.kv.get('config/a')).entry).toBeNull();
  });
});

describe('blocking queries (consul-semantics §4)', () => {
  it('holds a blocking read until a write and returns the new index', async () => {
    const { server: s, client: c } = await setup({ seed: { 'config/app/a': '1' } });
    const first = await c.kv.list('config/app/');
    const blocked = c.kv.list('config/app/', { index: first.index, wait: '30s' });
    while (s.stats().blockingHeld === 0) await new Promise((resolve) => setImmediate(resolve));
    const written = s.kv.put('config/app/b', '2');
    const next = await blocked;
    expect(next.index).toBe(written);
    expect(next.entries.map((e) => e.key)).toEqual(['config/app/a', 'config/app/b']);
  });

  it('keeps blocking on a missing key and wakes when it appears', async () => {
    const { server: s, client: c } = await setup();
    const first = await c.kv.get('config/flag');
    const blocked = c.kv.get('config/flag', { index: first.index, wait: '30s' });
    while (s.stats().blockingHeld === 0) await new Promise((resolve) => setImmediate(resolve));
    const written = s.kv.put('config/flag', 'on');
    const next = await blocked;
    expect([next.index, next.entry?.text()]).toEqual([written, 'on']);
  });

  it('returns the unchanged result when the wait ends without a change', async () => {
    const { client: c } = await setup({ seed: { 'config/app/a': '1' } });
    const first = await c.kv.list('config/app/');
    const again = await c.kv.list('config/app/', { index: first.index, wait: '50ms' });
    expect(again.index).toBe(first.index);
    expect(again.entries.map((e) => e.text())).toEqual(['1']);
  });
});

describe('errors from a real server', () => {
  it('maps a 403 to AclDeniedError and sends the token only as a header', async () => {
    const { server: s } = await setup({ aclToken: TOKEN, seed: { 'config/a': 'x' } });
    const anonymous = await rejection(client!.kv.get('config/a'));
    expect(anonymous).toBeInstanceOf(AclDeniedError);
    expect(anonymous).toMatchObject({ status: 403, key: 'config/a' });
    expect(anonymous.message).toBe(
      'kv.get config/a: 403 Permission denied (the token needs key:read on this key)',
    );

    await client?.close();
    client = new ConsulClient({ env: { CONSUL_HTTP_ADDR: s.address, CONSUL_HTTP_TOKEN: 'wrong-token' } });
    const wrong = await rejection(client.kv.list('config/'));
    expect(wrong).toBeInstanceOf(AclDeniedError);
    expect(wrong.message).toBe(
      'kv.list config/: 403 ACL not found (Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)',
    );

    await client.close();
    client = new ConsulClient({ env: { CONSUL_HTTP_ADDR: s.address, CONSUL_HTTP_TOKEN: TOKEN } });
    expect((await client.kv.get('config/a')).entry?.text()).toBe('x');
    expect(inspect([anonymous, wrong], { depth: 10 })).not.toContain(TOKEN);
  });

  it('maps the server 413 to ValueTooLargeError', async () => {
    const { client: c } = await setup({ kvMaxValueSize: 16 });
    const error = await rejection(c.kv.put('config/big', 'x'.repeat(17)));
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect(error).toMatchObject({ status: 413, key: 'config/big', operation: 'kv.put' });
  });

  it('maps the CE answer to a namespace to BadRequestError with a hint', async () => {
    const { client: c } = await setup({}, { namespace: 'team-a' });
    const error = await rejection(c.kv.get('config/a'));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.message).toBe(
      'kv.get config/a: 400 Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature (namespaces and partitions need Consul Enterprise; unset the namespace/partition options or CONSUL_NAMESPACE/CONSUL_PARTITION)',
    );
  });

  it('maps injected 500 "No cluster leader" and 429 answers', async () => {
    const { server: s, client: c } = await setup();
    s.faults.inject({ fault: { kind: 'status', status: 500, body: 'No cluster leader' } });
    s.faults.inject({
      fault: { kind: 'status', status: 429, body: 'rate limit exceeded, try a different server' },
    });
    const noLeader = await rejection(c.kv.get('config/a'));
    expect(noLeader).toBeInstanceOf(ServerError);
    expect(noLeader).toMatchObject({ code: 'CONSUL_NO_LEADER', status: 500, retryable: true });
    const limited = await rejection(c.kv.list('config/'));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited.message).toBe(
      'kv.list config/: 429 rate limit exceeded, try a different server (Consul is limiting this client; retry with backoff and keep fewer connections open)',
    );
  });

  it('maps a broken body to MalformedResponseError and a missing index to 0', async () => {
    const { server: s, client: c } = await setup({ seed: { 'config/a': 'x' } });
    s.faults.inject({ fault: { kind: 'malformed' } });
    s.faults.inject({ fault: { kind: 'index', index: 'missing' } });
    const error = await rejection(c.kv.list('config/'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.cause).toBeInstanceOf(SyntaxError);
    const result = await c.kv.get('config/a');
    expect([result.index, result.entry?.text()]).toEqual([0, 'x']);
  });

  it('maps a reset connection to TransportError', async () => {
    const { server: s, client: c } = await setup({ seed: { 'config/a': 'x' } });
    s.faults.inject({ fault: { kind: 'reset' } });
    const error = await rejection(c.kv.list('config/'));
    expect(error).toBeInstanceOf(TransportError);
    expect(error.cause).toBeInstanceOf(Error);
    expect((await c.kv.get('config/a')).entry?.text()).toBe('x');
  });

  it('gives up on a hanging server after requestTimeout', async () => {
    const { server: s, client: c } = await setup({}, { requestTimeout: 100 });
    s.faults.inject({ fault: { kind: 'hang' } });
    const error = await rejection(c.kv.get('config/a'));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe(
      'kv.get config/a: got no answer from Consul within 100 ms (the agent may be overloaded or unreachable; raise requestTimeout for non-blocking requests)',
    );
  });

  it('fails with TransportError when nothing listens', async () => {
    const { server: s } = await setup();
    const address = s.address;
    await s.close();
    const c = new ConsulClient({ env: {}, address });
    try {
      const error = await rejection(c.kv.get('config/a'));
      expect(error).toBeInstanceOf(TransportError);
      expect(error.message).toMatch(
        /^kv\.get config\/a: cannot reach Consul at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
      );
    } finally {
      await c.close();
    }
  });
});

describe('close', () => {
  it('ends a held blocking query at once and releases its connection', async () => {
    const { server: s, client: c } = await setup({ seed: { 'config/a': 'x' } });
    const { index } = await c.kv.list('config/');
    const blocked = rejection(c.kv.list('config/', { index, wait: '5m' }));
    while (s.stats().blockingHeld === 0) await new Promise((resolve) => setImmediate(resolve));
    await c.close();
    expect(await blocked).toBeInstanceOf(ClosedError);
    while (s.stats().connections > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(s.stats()).toMatchObject({ connections: 0, blockingHeld: 0 });
  });
});
