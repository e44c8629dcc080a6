import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { httpRequest, type RawResponse } from '../helpers/http.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

function txn(address: string, ops: unknown, query = '', chunked = false): Promise<RawResponse> {
  const body = typeof ops === 'string' ? ops : JSON.stringify(ops);
  return httpRequest(address, { method: 'PUT', path: `/v1/txn${query}`, body, chunked });
}

describe('dev server transactions (consul-semantics §6)', () => {
  it('commits all ops atomically and answers 200 with Results and Errors null', async () => {
    const { address, kv } = await start();
    const res = await txn(address, [
      { KV: { Verb: 'set', Key: 'a', Value: b64('1'), Flags: 7 } },
      { KV: { Verb: 'get', Key: 'a' } },
      { KV: { Verb: 'delete', Key: 'nothing' } },
    ]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-consul-index']).toBeUndefined();
    expect(JSON.parse(res.text)).toEqual({
      Results: [
        { KV: { LockIndex: 0, Key: 'a', Flags: 7, Value: null, CreateIndex: 2, ModifyIndex: 2 } },
        { KV: { LockIndex: 0, Key: 'a', Flags: 7, Value: b64('1'), CreateIndex: 2, ModifyIndex: 2 } },
      ],
      Errors: null,
    });
    expect(kv.index()).toBe(2);
  });

  it('rolls back and answers 409 with every error and Results null', async () => {
    const { address, kv } = await start();
    kv.put('exists', 'x'); // 2
    const res = await txn(address, [
      { KV: { Verb: 'set', Key: 'new', Value: b64('v') } },
      { KV: { Verb: 'cas', Key: 'exists', Value: b64('y'), Index: 99 } },
      { KV: { Verb: 'check-not-exists', Key: 'exists' } },
    ]);
    expect(res.status).toBe(409);
    expect(res.text).toBe(
      '{"Results":null,"Errors":[{"OpIndex":1,"What":"failed to set key \\"exists\\", index is stale"},{"OpIndex":2,"What":"key \\"exists\\" exists"}]}',
    );
    expect(kv.get('new')).toBeUndefined();
    expect(kv.index()).toBe(2);
  });

  it('accepts field names in any case, as Go does', async () => {
    const { address, kv } = await start();
    const res = await txn(address, [{ kv: { verb: 'set', key: 'lower', value: b64('ok') } }]);
    expect(res.status).toBe(200);
    expect(kv.get('lower')?.value?.toString()).toBe('ok');
  });

  it('serves a read-only transaction through the read path', async () => {
    const { address, kv } = await start();
    kv.put('r', 'v');
    const res = await txn(address, [{ KV: { Verb: 'get', Key: 'r' } }]);
    expect(res.status).toBe(200);
    expect(res.headers['x-consul-knownleader']).toBe('true');
    expect(res.headers['x-consul-lastcontact']).toBe('0');
    expect(res.headers['x-consul-index']).toBeUndefined();
    expect(JSON.parse(res.text)).toEqual({
      Results: [
        { KV: { LockIndex: 0, Key: 'r', Flags: 0, Value: b64('v'), CreateIndex: 2, ModifyIndex: 2 } },
      ],
      Errors: null,
      Index: 0,
      LastContact: 0,
      KnownLeader: true,
      ConsistencyLevel: '',
      NotModified: false,
      Backend: 0,
      ResultsFilteredByACLs: false,
    });
    const conflict = await txn(address, [{ KV: { Verb: 'get', Key: 'r' } }], '?stale&consistent');
    expect([conflict.status, conflict.text]).toEqual([
      400,
      'Cannot specify ?stale with ?consistent, conflicting semantics.',
    ]);
  });

  it('ignores consistency parameters on a write transaction', async () => {
    const { address } = await start();
    const res = await txn(
      address,
      [{ KV: { Verb: 'set', Key: 'w', Value: b64('v') } }],
      '?stale&consistent&index=x',
    );
    expect(res.status).toBe(200);
  });

  it('refuses more than 128 operations with 413', async () => {
    const { address } = await start();
    const ops = Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: 'get', Key: `k${i}` } }));
    const res = await txn(address, ops);
    expect([res.status, res.text]).toEqual([413, 'Transaction contains too many operations (129 > 128)']);
    const limit = await txn(
      address,
      ops.slice(0, 128).map((_, i) => ({ KV: { Verb: 'get-or-empty', Key: `k${i}` } })),
    );
    expect(limit.status).toBe(200);
  });

  it('refuses a body over the larger of txn_max_req_len and kv_max_value_size', async () => {
    const { address } = await start({ txnMaxReqLen: 64, kvMaxValueSize: 32 });
    const big = JSON.stringify([{ KV: { Verb: 'set', Key: 'k', Value: b64('x'.repeat(60)) } }]);
    const declared = await txn(address, big);
    expect([declared.status, declared.text]).toEqual([
      413,
      `Request body(${big.length} bytes) too large, max size: 64 bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#txn_max_req_len.`,
    ]);
    const chunked = await txn(address, big, '', true);
    expect([chunked.status, chunked.text]).toEqual([
      413,
      'Request body too large, max size: 64 bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#txn_max_req_len.',
    ]);
  });

  it('refuses a single value over kv_max_value_size', async () => {
    const { address } = await start({ kvMaxValueSize: 8 });
    const res = await txn(address, [{ KV: { Verb: 'set', Key: 'big"key', Value: b64('123456789') } }]);
    expect([res.status, res.text]).toEqual([413, 'Value for key "big\\"key" is too large (9 > 8 bytes)']);
  });

  it('answers an undecodable body with 400 Failed to parse body', async () => {
    const { address } = await start();
    for (const body of ['{not json', '{"KV":{}}', '[{"KV":{"Value":"***"}}]', '[{"KV":{"Flags":"1"}}]']) {
      const res = await txn(address, body);
      expect(res.status).toBe(400);
      expect(res.text.startsWith('Failed to parse body: ')).toBe(true);
    }
  });

  it('stores uint64 Flags exactly and refuses 2^64, a sign or a fraction as Go decoding a uint64 does', async () => {
    const { address } = await start();
    const set = (key: string, flags: string) =>
      txn(address, `[{"KV":{"Verb":"set","Key":"${key}","Value":"${b64('v')}","Flags":${flags}}}]`);
    const exact = await set('f/a', '9007199254740993');
    expect(exact.status).toBe(200);
    expect(exact.text).toContain('"Flags":9007199254740993,');
    expect((await set('f/b', '18446744073709551615')).status).toBe(200);
    const got = await httpRequest(address, { path: '/v1/kv/f/?recurse' });
    expect(got.text.match(/"Flags":\d+/g)).toEqual([
      '"Flags":9007199254740993',
      '"Flags":18446744073709551615',
    ]);
    for (const bad of ['18446744073709551616', '-1', '1.5', '1e3']) {
      const res = await set('f/c', bad);
      expect([res.status, res.text]).toEqual([
        400,
        `Failed to parse body: json: cannot unmarshal number ${bad} into Go struct field KVTxnOp.KV.Flags of type uint64`,
      ]);
    }
    const index = await txn(
      address,
      '[{"KV":{"Verb":"check-index","Key":"f/a","Index":18446744073709551616}}]',
    );
    expect(index.text).toBe(
      'Failed to parse body: json: cannot unmarshal number 18446744073709551616 into Go struct field KVTxnOp.KV.Index of type uint64',
    );
    expect(server?.kv.get('f/c')).toBeUndefined();
  });

  it('reports an unknown verb and an empty key in the 409 body', async () => {
    const { address } = await start();
    const unknown = await txn(address, [{ KV: { Verb: 'explode', Key: 'k' } }]);
    expect([unknown.status, JSON.parse(unknown.text).Errors]).toEqual([
      409,
      [{ OpIndex: 0, What: 'unknown KV verb "explode"' }],
    ]);
    const empty = await txn(address, [{ KV: { Verb: 'set', Key: '' } }]);
    expect(JSON.parse(empty.text).Errors).toEqual([{ OpIndex: 0, What: 'Must provide key' }]);
  });

  it('runs the session verbs, failing them with Consul texts when no session holds the key (consul-semantics §L7)', async () => {
    const { address } = await start();
    const expected: Record<string, string> = {
      lock: 'invalid session "s"',
      unlock: 'failed to unlock key "k", lock isn\'t held, or is held by another session',
      'check-session': 'failed to check session, key "k" doesn\'t exist',
    };
    for (const [verb, what] of Object.entries(expected)) {
      const res = await txn(address, [{ KV: { Verb: verb, Key: 'k', Session: 's' } }]);
      // check-session alone is a read-only transaction, whose body also carries the query meta (consul-semantics §6.6).
      const { Results, Errors } = JSON.parse(res.text);
      expect([res.status, Results, Errors]).toEqual([409, null, [{ OpIndex: 0, What: what }]]);
    }
  });

  it('answers other methods with 405 and OPTIONS with 200', async () => {
    const { address } = await start();
    const get = await httpRequest(address, { path: '/v1/txn' });
    expect([get.status, get.text, get.headers.allow]).toEqual([405, 'method GET not allowed', 'OPTIONS,PUT']);
    const options = await httpRequest(address, { method: 'OPTIONS', path: '/v1/txn' });
    expect([options.status, options.headers.allow]).toEqual([200, 'OPTIONS,PUT']);
  });

  it('routes to the datacenter and checks the token before reading the body', async () => {
    const { address } = await start({ aclToken: 'secret' });
    const ops = [{ KV: { Verb: 'set', Key: 'k', Value: b64('v') } }];
    expect((await txn(address, ops, '?dc=far')).text).toBe('No path to datacenter');
    const denied = await txn(address, ops);
    expect([denied.status, denied.text]).toEqual([403, 'Permission denied']);
    // A denied request's body is never read, so even an undecodable one gets the 403.
    const deniedBad = await txn(address, '{bad', '');
    expect([deniedBad.status, deniedBad.text]).toEqual([403, 'Permission denied']);
    expect((await txn(address, '{bad', '?token=secret')).status).toBe(400);
    expect((await txn(address, ops, '?token=secret')).status).toBe(200);
  });
});
