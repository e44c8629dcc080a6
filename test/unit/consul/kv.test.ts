import { afterEach, describe, expect, it } from 'vitest';
import { MAX_VALUE_BYTES } from '../../../src/consul/kv-args.js';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import { MAX_TXN_OPERATIONS, type TxnOp } from '../../../src/consul/txn.js';
import {
  InvalidArgumentError,
  MalformedResponseError,
  TxnTooLargeError,
  ValueTooLargeError,
} from '../../../src/errors.js';
import { expectNoToken, type MockConsul, meta, mockConsul, rejection, TOKEN } from './mock-consul.js';

let mock: MockConsul;
afterEach(async () => {
  await mock.finish();
});

const entry = (
  key: string,
  value: string | null,
  modifyIndex: number,
  extra: Record<string, unknown> = {},
) => ({
  LockIndex: 0,
  Key: key,
  Flags: 0,
  Value: value === null ? null : Buffer.from(value).toString('base64'),
  CreateIndex: modifyIndex,
  ModifyIndex: modifyIndex,
  ...extra,
});

describe('key encoding (consul-semantics §1)', () => {
  it('percent-encodes each segment and keeps the slashes', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/app/a%20b/c%25d/%C3%A9%3F%23%26%2B', method: 'GET' })
      .reply(404, '', { headers: meta(3) });
    await mock.client.kv.get('app/a b/c%d/é?#&+');
    expect(mock.requests()).toEqual(['GET /v1/kv/app/a%20b/c%25d/%C3%A9%3F%23%26%2B']);
  });

  it('writes paths and query values exactly as encodeURIComponent and URLSearchParams do, safe text or not', async () => {
    mock = mockConsul();
    const texts = ['plain', 'a-b_c.d~e', 'sp ace', 'a+b', 'x&y=z', 'é', "!*'()", '%41', 'a/b'];
    for (const _ of texts) {
      mock.pool.intercept({ path: () => true, method: 'GET' }).reply(200, [], { headers: meta(3) });
    }
    for (const text of texts) await mock.client.kv.keys(`p/${text}/`, { separator: text });
    expect(mock.requests()).toEqual(
      texts.map((text) => {
        const path = `p/${text}/`.split('/').map(encodeURIComponent).join('/');
        const query = new URLSearchParams([
          ['keys', ''],
          ['separator', text],
        ]).toString();
        return `GET /v1/kv/${path}?${query}`;
      }),
    );
  });

  it('keeps a trailing slash of a folder prefix and allows the empty prefix for lists', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/config/app/?recurse=', method: 'GET' })
      .reply(404, '', { headers: meta(3) });
    mock.pool.intercept({ path: '/v1/kv/?recurse=', method: 'GET' }).reply(404, '', { headers: meta(3) });
    mock.pool.intercept({ path: '/v1/kv/?keys=', method: 'GET' }).reply(200, [], { headers: meta(3) });
    await mock.client.kv.list('config/app/');
    await mock.client.kv.list('');
    await mock.client.kv.keys('');
    expect(mock.requests()).toEqual([
      'GET /v1/kv/config/app/?recurse=',
      'GET /v1/kv/?recurse=',
      'GET /v1/kv/?keys=',
    ]);
  });

  const invalidKeys: Array<[string, string]> = [
    ['/config/app', "the key must not begin with '/'"],
    ['config//app', "the key must not contain '//' (Consul redirects such paths)"],
    ['config/./app', "the key must not contain '.' or '..' segments"],
    ['config/..', "the key must not contain '.' or '..' segments"],
    ['..', "the key must not contain '.' or '..' segments"],
    ['config/a\nb', 'the key contains non-printable characters'],
    ['config/\u0000', 'the key contains non-printable characters'],
    ['config/\u00a0nbsp', 'the key contains non-printable characters'],
    ['config/\ud800', 'the key contains non-printable characters'],
  ];

  it.each(invalidKeys)('refuses %j before any request', async (key, problem) => {
    mock = mockConsul();
    const kv = mock.client.kv;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['kv.get', () => kv.get(key)],
      ['kv.list', () => kv.list(key)],
      ['kv.keys', () => kv.keys(key)],
      ['kv.put', () => kv.put(key, 'v')],
      ['kv.delete', () => kv.delete(key, { recurse: true })],
      ['txn', () => kv.txn([{ verb: 'get', key }])],
    ];
    for (const [operation, attempt] of attempts) {
      const error = await rejection(attempt());
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'CONSUL_INVALID_ARGUMENT', operation, key });
      expect(error.message).toBe(`${operation} ${JSON.stringify(key)}: ${problem}`);
    }
    expect(mock.requests()).toEqual([]);
  });

  it('refuses the empty key where a single key is meant', async () => {
    mock = mockConsul();
    const kv = mock.client.kv;
    for (const [operation, attempt] of [
      ['kv.get', () => kv.get('')],
      ['kv.put', () => kv.put('', 'v')],
      ['kv.delete', () => kv.delete('')],
      ['txn', () => kv.txn([{ verb: 'set', key: '', value: 'v' }])],
    ] as Array<[string, () => Promise<unknown>]>) {
      const error = await rejection(attempt());
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toBe(`${operation} "": the key must not be empty`);
    }
    expect(mock.requests()).toEqual([]);
  });
});

describe('read parameters (consul-semantics §1)', () => {
  it('sends dc, consistency, index, wait, ns and partition in that order', async () => {
    mock = mockConsul({ datacenter: 'dc2', namespace: 'team-a', partition: 'part-1' });
    mock.pool
      .intercept({ path: /^\/v1\/kv\/a/, method: 'GET' })
      .reply(404, '', { headers: meta(50) })
      .times(2);
    await mock.client.kv.get('a', { index: 42, wait: '55s', consistency: 'stale' });
    await mock.client.kv.list('a/', { consistency: 'consistent' });
    expect(mock.requests()).toEqual([
      'GET /v1/kv/a?dc=dc2&stale=&index=42&wait=55000ms&ns=team-a&partition=part-1',
      'GET /v1/kv/a/?dc=dc2&recurse=&consistent=&ns=team-a&partition=part-1',
    ]);
  });

  it('sends no dc, ns or partition when none is configured (consul-semantics §1.5: CE answers 400 to them)', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(404, '', { headers: meta(5) });
    await mock.client.kv.get('a', { consistency: 'default' });
    expect(mock.requests()).toEqual(['GET /v1/kv/a']);
  });

  it('sends index only when above 0 and wait in ms (a sub-ms wait as 1ms, 0 not at all)', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: /^\/v1\/kv\/k/, method: 'GET' })
      .reply(404, '', { headers: meta(5) })
      .times(5);
    await mock.client.kv.get('k', { index: 0, wait: '5m' });
    await mock.client.kv.get('k', { index: 7, wait: 1500 });
    await mock.client.kv.get('k', { index: 7, wait: 0.4 });
    await mock.client.kv.get('k', { index: 7, wait: 0 });
    await mock.client.kv.get('k', { index: 7, wait: '1h' });
    expect(mock.requests()).toEqual([
      'GET /v1/kv/k?wait=300000ms',
      'GET /v1/kv/k?index=7&wait=1500ms',
      'GET /v1/kv/k?index=7&wait=1ms',
      'GET /v1/kv/k?index=7',
      'GET /v1/kv/k?index=7&wait=3600000ms',
    ]);
  });

  it('sends keys with a URL-encoded separator', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/config/?keys=&separator=%2F', method: 'GET' })
      .reply(200, ['config/a', 'config/b/'], { headers: meta(9) });
    const result = await mock.client.kv.keys('config/', { separator: '/' });
    expect(result).toEqual({
      keys: ['config/a', 'config/b/'],
      index: 9,
      knownLeader: true,
      lastContact: 0,
      bytes: 24,
    });
    expect(mock.requests()).toEqual(['GET /v1/kv/config/?keys=&separator=%2F']);
  });

  it.each([
    [{ index: -1 }, 'kv.get k: index must be a non-negative integer; got -1'],
    [{ index: 1.5 }, 'kv.get k: index must be a non-negative integer; got 1.5'],
    [{ index: '3' }, 'kv.get k: index must be a non-negative integer; got 3'],
    [{ consistency: 'eventual' }, "kv.get k: consistency must be 'default', 'stale' or 'consistent'"],
    [
      { wait: '10' },
      "kv.get: wait must be a non-negative number of milliseconds or a Go duration such as '55s', '5m' or '1500ms'; got '10'",
    ],
    [{ signal: {} }, 'kv.get k: signal must be an AbortSignal'],
  ])('refuses the read options %j before any request', async (options, message) => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.get('k', options as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(message);
    expect(mock.requests()).toEqual([]);
  });

  it('sends the token only in the X-Consul-Token header', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(404, '', { headers: meta(5) });
    await mock.client.kv.get('a');
    expect(mock.headers()).toEqual([{ 'user-agent': 'consul-hotreload', 'x-consul-token': TOKEN }]);
    expect(mock.requests().join()).not.toContain(TOKEN);
  });

  it('sends basic auth when configured', async () => {
    mock = mockConsul({ token: undefined, auth: 'admin:pw' });
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(404, '', { headers: meta(5) });
    await mock.client.kv.get('a');
    expect(mock.headers()).toEqual([
      {
        'user-agent': 'consul-hotreload',
        authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}`,
      },
    ]);
  });
});

describe('reading entries (consul-semantics §2, §3)', () => {
  it('returns one entry with its metadata and decodes its value on access', async () => {
    mock = mockConsul();
    const body = [
      entry('config/db', '{"port":5432}', 12, { CreateIndex: 4, Flags: 42, LockIndex: 1, Session: 'sess-1' }),
    ];
    mock.pool.intercept({ path: '/v1/kv/config/db', method: 'GET' }).reply(200, body, {
      headers: { 'x-consul-index': '12', 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '15' },
    });
    const result = await mock.client.kv.get('config/db');
    expect(result).toEqual({
      entry: new KVEntry({
        key: 'config/db',
        flags: 42,
        createIndex: 4,
        modifyIndex: 12,
        lockIndex: 1,
        session: 'sess-1',
        value: Buffer.from('{"port":5432}').toString('base64'),
      }),
      index: 12,
      knownLeader: true,
      lastContact: 15,
      bytes: JSON.stringify(body).length,
    });
    expect(result.entry?.value).toEqual(Buffer.from('{"port":5432}'));
    expect(result.entry?.text()).toBe('{"port":5432}');
    // Not cached: entries live on in watch snapshots, so each access decodes a fresh Buffer.
    expect(result.entry?.value).not.toBe(result.entry?.value);
    expect(result.entry?.value).toEqual(result.entry?.value);
  });

  it('treats 404 as an absent key and keeps its index (consul-semantics §3)', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/missing', method: 'GET' }).reply(404, '', { headers: meta(77) });
    expect(await mock.client.kv.get('missing')).toEqual({
      entry: null,
      index: 77,
      knownLeader: true,
      lastContact: 0,
      bytes: 0,
    });
  });

  it('lists entries in order, accepting null values, absent sessions and unknown fields', async () => {
    mock = mockConsul();
    const body = [
      entry('config/a', 'one', 5),
      entry('config/b', null, 6, { Namespace: 'default', Partition: 'default', Extra: { x: 1 } }),
      { Key: 'config/c', Value: 'dHdv', CreateIndex: 7, ModifyIndex: 8 },
    ];
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
      .reply(200, body, { headers: meta(8) });
    const result = await mock.client.kv.list('config/');
    expect(
      result.entries.map((e) => [
        e.key,
        e.text(),
        e.flags,
        e.createIndex,
        e.modifyIndex,
        e.lockIndex,
        e.session,
      ]),
    ).toEqual([
      ['config/a', 'one', 0, 5, 5, 0, undefined],
      ['config/b', null, 0, 6, 6, 0, undefined],
      ['config/c', 'two', 0, 7, 8, 0, undefined],
    ]);
    expect(result.index).toBe(8);
  });

  it('answers 404 on a list with no entries and the index', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/none/?recurse=', method: 'GET' })
      .reply(404, '', { headers: meta(31) });
    mock.pool.intercept({ path: '/v1/kv/none/?keys=', method: 'GET' }).reply(404, '', { headers: meta(31) });
    expect(await mock.client.kv.list('none/')).toEqual({
      entries: [],
      index: 31,
      knownLeader: true,
      lastContact: 0,
      bytes: 0,
    });
    expect(await mock.client.kv.keys('none/')).toEqual({
      keys: [],
      index: 31,
      knownLeader: true,
      lastContact: 0,
      bytes: 0,
    });
  });

  it.each([
    [undefined, 0],
    ['abc', 0],
    ['-1', 0],
    ['1.5', 0],
    ['', 0],
    ['99999999999999999999', 0],
    ['0', 0],
    ['1', 1],
    ['18446744073', 18446744073],
  ])('reads X-Consul-Index %j as %d, without clamping', async (header, index) => {
    mock = mockConsul();
    const headers: Record<string, string> = { 'x-consul-knownleader': 'false', 'x-consul-lastcontact': 'x' };
    if (header !== undefined) headers['x-consul-index'] = header;
    mock.pool.intercept({ path: '/v1/kv/k', method: 'GET' }).reply(404, '', { headers });
    expect(await mock.client.kv.get('k')).toEqual({
      entry: null,
      index,
      knownLeader: false,
      lastContact: 0,
      bytes: 0,
    });
  });

  const malformedBodies: Array<[string, string]> = [
    ['[{"Key":', 'the body is not JSON'],
    ['{"Key":"a"}', 'expected a JSON array of entries'],
    ['[7]', 'entry 0 is not an object'],
    ['[{"Value":null,"CreateIndex":1,"ModifyIndex":1}]', 'entry 0 has no string Key'],
    [
      '[{"Key":"config/a","CreateIndex":1,"ModifyIndex":"2"}]',
      'entry 0 ("config/a"): ModifyIndex is not a non-negative integer',
    ],
    [
      '[{"Key":"config/a","CreateIndex":1.5,"ModifyIndex":2}]',
      'entry 0 ("config/a"): CreateIndex is not a non-negative integer',
    ],
    [
      '[{"Key":"config/a","CreateIndex":1,"ModifyIndex":2,"Flags":-1}]',
      'entry 0 ("config/a"): Flags is not a non-negative integer',
    ],
    [
      '[{"Key":"config/a","CreateIndex":1,"ModifyIndex":2,"Value":5}]',
      'entry 0 ("config/a"): Value is not a base64 string or null',
    ],
    [
      '[{"Key":"config/a","CreateIndex":1,"ModifyIndex":2,"Session":false}]',
      'entry 0 ("config/a"): Session is not a string',
    ],
  ];

  it.each(malformedBodies)('refuses the list body %s with MalformedResponseError', async (body, problem) => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
      .reply(200, body, { headers: meta(3) });
    const error = await rejection(mock.client.kv.list('config/'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error).toMatchObject({
      code: 'CONSUL_MALFORMED_RESPONSE',
      operation: 'kv.list',
      key: 'config/',
      status: 200,
    });
    expect(error.message).toBe(`kv.list config/: malformed response from Consul: ${problem}`);
    expectNoToken(error);
  });

  it('keeps the JSON SyntaxError as the cause of a non-JSON body', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/a', method: 'GET' }).reply(200, 'not json', { headers: meta(3) });
    const error = await rejection(mock.client.kv.get('a'));
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('refuses a keys body that is not an array of strings', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/kv/p/?keys=', method: 'GET' })
      .reply(200, '["a",1]', { headers: meta(3) });
    const error = await rejection(mock.client.kv.keys('p/'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe(
      'kv.keys p/: malformed response from Consul: expected a JSON array of key strings',
    );
  });

  it('refuses a whole answer holding a value that is not base64, naming the entry (its index is never adopted)', async () => {
    mock = mockConsul();
    for (const [bad, why] of [
      ['b2s', 'length not a multiple of 4'],
      ['b2s*', 'a character outside the alphabet'],
    ] as const) {
      const body = [
        entry('config/good', 'ok', 3),
        { Key: 'config/bad', Value: bad, CreateIndex: 3, ModifyIndex: 3 },
      ];
      mock.pool
        .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
        .reply(200, body, { headers: meta(3) });
      const error = await mock.client.kv.list('config/').catch((e: unknown) => e);
      expect(error, why).toBeInstanceOf(MalformedResponseError);
      expect((error as Error).message).toBe(
        'kv.list config/: malformed response from Consul: entry 1 ("config/bad"): Value is not valid base64',
      );
    }
  });

  it('reports bad base64 of an entry built by hand when its value is read, naming the key', () => {
    const bad = new KVEntry({
      key: 'config/bad',
      value: 'b2s*',
      flags: 0,
      createIndex: 3,
      modifyIndex: 3,
      lockIndex: 0,
      session: undefined,
    });
    expect(() => bad.text()).toThrow(
      'kv.decode config/bad: the value is not valid base64 (Consul sends standard padded base64); the entry cannot be decoded',
    );
  });
});

describe('KVEntry.from', () => {
  it('builds an entry from a plain value, an empty value becoming null', () => {
    const e = KVEntry.from({ key: 'k', value: 'hé', modifyIndex: 3 });
    expect([e.key, e.rawValue, e.text(), e.flags, e.createIndex, e.modifyIndex]).toEqual([
      'k',
      'aMOp',
      'hé',
      0,
      0,
      3,
    ]);
    expect(KVEntry.from({ key: 'k', value: '' }).value).toBeNull();
    expect(KVEntry.from({ key: 'k', value: new Uint8Array([1, 2]) }).value).toEqual(Buffer.from([1, 2]));
  });
});

describe('put (consul-semantics §2)', () => {
  it("sends the raw bytes with flags and cas and returns Consul's answer", async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/config/a', method: 'PUT' }).reply(200, 'true');
    mock.pool.intercept({ path: '/v1/kv/config/a?flags=7&cas=0', method: 'PUT' }).reply(200, 'false');
    mock.pool.intercept({ path: '/v1/kv/config/b?cas=12', method: 'PUT' }).reply(200, 'true\n');
    expect(await mock.client.kv.put('config/a', 'hello')).toBe(true);
    expect(await mock.client.kv.put('config/a', 'x', { flags: 7, cas: 0 })).toBe(false);
    expect(await mock.client.kv.put('config/b', new Uint8Array([0xff, 0x00]), { cas: 12 })).toBe(true);
    expect(mock.requests()).toEqual([
      'PUT /v1/kv/config/a',
      'PUT /v1/kv/config/a?flags=7&cas=0',
      'PUT /v1/kv/config/b?cas=12',
    ]);
    expect(mock.bodies()).toEqual([Buffer.from('hello'), Buffer.from('x'), Buffer.from([0xff, 0x00])]);
    expect(mock.headers()[0]).toEqual({
      'user-agent': 'consul-hotreload',
      'x-consul-token': TOKEN,
      'content-type': 'application/octet-stream',
    });
  });

  it('accepts a value of exactly 512 KiB and refuses one byte more before sending', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/big', method: 'PUT' }).reply(200, 'true');
    expect(await mock.client.kv.put('big', Buffer.alloc(MAX_VALUE_BYTES, 97))).toBe(true);
    const error = await rejection(mock.client.kv.put('big', Buffer.alloc(MAX_VALUE_BYTES + 1)));
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect(error).toMatchObject({
      code: 'CONSUL_VALUE_TOO_LARGE',
      operation: 'kv.put',
      key: 'big',
      status: undefined,
    });
    expect(error.message).toBe(
      "kv.put big: value is 524289 bytes, over Consul's 524288-byte kv_max_value_size; store less per key",
    );
    expect(mock.requests()).toEqual(['PUT /v1/kv/big']);
  });

  it.each([
    [{ flags: -1 }, 'kv.put k: flags must be a non-negative integer; got -1'],
    [{ cas: 2.5 }, 'kv.put k: cas must be a non-negative integer; got 2.5'],
  ])('refuses %j before sending', async (options, message) => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.put('k', 'v', options));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(message);
  });

  it('refuses a value that is neither a string nor bytes', async () => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.put('k', 5 as never));
    expect(error.message).toBe('kv.put k: value must be a string or Uint8Array');
  });

  it('refuses an answer other than true or false', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/k', method: 'PUT' }).reply(200, 'ok');
    const error = await rejection(mock.client.kv.put('k', 'v'));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe("kv.put k: malformed response from Consul: expected 'true' or 'false'");
  });
});

describe('delete (consul-semantics §2)', () => {
  it('deletes one key, a prefix, the whole store, or with cas', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/kv/config/a', method: 'DELETE' }).reply(200, 'true');
    mock.pool.intercept({ path: '/v1/kv/config/?recurse=', method: 'DELETE' }).reply(200, 'true');
    mock.pool.intercept({ path: '/v1/kv/?recurse=', method: 'DELETE' }).reply(200, 'true');
    mock.pool.intercept({ path: '/v1/kv/config/b?cas=9', method: 'DELETE' }).reply(200, 'false');
    expect(await mock.client.kv.delete('config/a')).toBe(true);
    expect(await mock.client.kv.delete('config/', { recurse: true })).toBe(true);
    expect(await mock.client.kv.delete('', { recurse: true })).toBe(true);
    expect(await mock.client.kv.delete('config/b', { cas: 9 })).toBe(false);
    expect(mock.requests()).toEqual([
      'DELETE /v1/kv/config/a',
      'DELETE /v1/kv/config/?recurse=',
      'DELETE /v1/kv/?recurse=',
      'DELETE /v1/kv/config/b?cas=9',
    ]);
  });

  it('refuses recurse with cas before sending (Consul: Conflicting flags)', async () => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.delete('config/', { recurse: true, cas: 3 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe('kv.delete config/: cas cannot be combined with recurse');
    expect(mock.requests()).toEqual([]);
  });
});

describe('txn (consul-semantics §6)', () => {
  it('sends KV operations with base64 values and returns the committed results', async () => {
    mock = mockConsul({ datacenter: 'dc1' });
    const ops: TxnOp[] = [
      { verb: 'set', key: 'config/a', value: 'one', flags: 3 },
      { verb: 'cas', key: 'config/b', value: new Uint8Array([1]), index: 10 },
      { verb: 'get', key: 'config/c' },
      { verb: 'delete-tree', key: '' },
      { verb: 'lock', key: 'config/l', value: 'x', session: 'sess-1' },
    ];
    const expectedBody = JSON.stringify([
      { KV: { Verb: 'set', Key: 'config/a', Value: 'b25l', Flags: 3 } },
      { KV: { Verb: 'cas', Key: 'config/b', Value: 'AQ==', Index: 10 } },
      { KV: { Verb: 'get', Key: 'config/c' } },
      { KV: { Verb: 'delete-tree', Key: '' } },
      { KV: { Verb: 'lock', Key: 'config/l', Value: 'eA==', Session: 'sess-1' } },
    ]);
    mock.pool.intercept({ path: '/v1/txn?dc=dc1', method: 'PUT' }).reply(200, {
      Results: [
        { KV: entry('config/a', null, 20) },
        { KV: entry('config/b', null, 20) },
        { KV: entry('config/c', 'three', 4) },
      ],
      Errors: null,
    });
    const result = await mock.client.kv.txn(ops);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.results.map((e) => [e.key, e.modifyIndex, e.text()])).toEqual([
      ['config/a', 20, null],
      ['config/b', 20, null],
      ['config/c', 4, 'three'],
    ]);
    expect(mock.bodies()).toEqual([Buffer.from(expectedBody)]);
    expect(mock.headers()[0]?.['content-type']).toBe('application/json');
  });

  it('returns every failing operation of a rolled-back transaction (409)', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/txn', method: 'PUT' }).reply(409, {
      Results: null,
      Errors: [
        { OpIndex: 0, What: 'failed to set key "config/a", index is stale' },
        { OpIndex: 2, What: 'key "config/c" doesn\'t exist' },
      ],
    });
    expect(await mock.client.kv.txn([{ verb: 'cas', key: 'config/a', value: 'v', index: 1 }])).toEqual({
      ok: false,
      errors: [
        { opIndex: 0, what: 'failed to set key "config/a", index is stale' },
        { opIndex: 2, what: 'key "config/c" doesn\'t exist' },
      ],
    });
  });

  it('returns no results for a transaction of deletes (Results null)', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/txn', method: 'PUT' }).reply(200, { Results: null, Errors: null });
    expect(await mock.client.kv.txn([{ verb: 'delete', key: 'a' }])).toEqual({ ok: true, results: [] });
  });

  it('refuses more than 128 operations with TxnTooLargeError before sending', async () => {
    mock = mockConsul();
    const ops = Array.from(
      { length: MAX_TXN_OPERATIONS + 1 },
      (_, i): TxnOp => ({ verb: 'get', key: `k${i}` }),
    );
    const error = await rejection(mock.client.kv.txn(ops));
    expect(error).toBeInstanceOf(TxnTooLargeError);
    expect(error).toMatchObject({ code: 'CONSUL_TXN_TOO_LARGE', operation: 'txn' });
    expect(error.message).toBe("txn: 129 operations, over Consul's limit of 128; split the transaction");
    expect(mock.requests()).toEqual([]);
  });

  it('refuses a body over 512 KiB or one value over 512 KiB before sending', async () => {
    mock = mockConsul();
    const half = 'x'.repeat(200_000);
    const body = await rejection(
      mock.client.kv.txn([
        { verb: 'set', key: 'a', value: half },
        { verb: 'set', key: 'b', value: half },
      ]),
    );
    expect(body).toBeInstanceOf(ValueTooLargeError);
    expect(body.message).toBe(
      "txn: request body is 533423 bytes, over Consul's 524288-byte txn_max_req_len; split the transaction",
    );
    const value = await rejection(
      mock.client.kv.txn([{ verb: 'set', key: 'a', value: Buffer.alloc(MAX_VALUE_BYTES + 1) }]),
    );
    expect(value).toBeInstanceOf(ValueTooLargeError);
    expect(value).toMatchObject({ key: 'a' });
    expect(value.message).toBe("txn a: value is 524289 bytes, over Consul's 524288-byte kv_max_value_size");
    expect(mock.requests()).toEqual([]);
  });

  it.each([
    [[], 'txn: ops must be a non-empty array of operations'],
    [[{ verb: 'upsert', key: 'a' }], 'txn: operation 0 has unknown verb "upsert"'],
    [[null], 'txn: operation 0 must be an object'],
    [[{ verb: 'set', key: 'a', flags: -2 }], 'txn a: flags must be a non-negative integer; got -2'],
    [[{ verb: 'set', key: 'a', value: 1 }], 'txn a: value must be a string or Uint8Array'],
  ])('refuses the operations %j', async (ops, message) => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.txn(ops as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(message);
  });

  it('refuses a 409 without an Errors array as malformed', async () => {
    mock = mockConsul();
    mock.pool.intercept({ path: '/v1/txn', method: 'PUT' }).reply(409, { Results: null, Errors: null });
    const error = await rejection(mock.client.kv.txn([{ verb: 'get', key: 'a' }]));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe('txn: malformed response from Consul: a 409 answer without an Errors array');
  });
});

describe('uint64 Flags', () => {
  const MAX_UINT64 = 18_446_744_073_709_551_615n;

  it('reads Flags above 2^53-1 exactly and writes them back unchanged', async () => {
    mock = mockConsul();
    const trap = 'config/x"Flags":12345678901234567890';
    const body = `[${JSON.stringify(entry('config/a', 'v', 5)).replace('"Flags":0', '"Flags":18446744073709551615')},${JSON.stringify(entry(trap, null, 6, { Flags: 9_007_199_254_740_991 }))}]`;
    mock.pool
      .intercept({ path: '/v1/kv/config/?recurse=', method: 'GET' })
      .reply(200, body, { headers: meta(6) });
    mock.pool
      .intercept({ path: '/v1/kv/config/a?flags=18446744073709551615', method: 'PUT' })
      .reply(200, 'true');
    const { entries } = await mock.client.kv.list('config/');
    const [a, b] = entries;
    expect([a?.flagsBigInt, a?.flags, b?.key, b?.flagsBigInt, b?.flags]).toEqual([
      MAX_UINT64,
      2 ** 64,
      trap,
      9_007_199_254_740_991n,
      9_007_199_254_740_991,
    ]);
    expect(await mock.client.kv.put('config/a', 'v', { flags: a?.flagsBigInt })).toBe(true);
  });

  it('sends bigint flags in a transaction as a JSON number and reads exact Flags from its results', async () => {
    mock = mockConsul();
    mock.pool
      .intercept({ path: '/v1/txn', method: 'PUT' })
      .reply(
        200,
        `{"Results":[{"KV":${JSON.stringify(entry('config/a', null, 9)).replace('"Flags":0', '"Flags":18446744073709551614')}}],"Errors":null}`,
      );
    const result = await mock.client.kv.txn([
      { verb: 'set', key: 'config/a', value: 'v', flags: MAX_UINT64 - 1n, index: 3 },
    ]);
    expect(mock.bodies()).toEqual([
      Buffer.from(
        '[{"KV":{"Verb":"set","Key":"config/a","Value":"dg==","Flags":18446744073709551614,"Index":3}}]',
      ),
    ]);
    expect(result.ok && result.results[0]?.flagsBigInt).toBe(MAX_UINT64 - 1n);
  });

  it.each([
    [
      MAX_UINT64 + 1n,
      'kv.put k: flags must be an integer from 0 to 18446744073709551615; got 18446744073709551616',
    ],
    [-1n, 'kv.put k: flags must be an integer from 0 to 18446744073709551615; got -1'],
    [
      2 ** 64,
      'kv.put k: flags 18446744073709552000 is above 2^53-1, where a number loses precision; pass it as a bigint (entry.flagsBigInt)',
    ],
  ])('refuses flags %s before sending', async (flags, message) => {
    mock = mockConsul();
    const error = await rejection(mock.client.kv.put('k', 'v', { flags }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'CONSUL_INVALID_ARGUMENT', key: 'k' });
    expect(error.message).toBe(message);
    expect(mock.requests()).toEqual([]);
  });

  it('keeps flags exact through KVEntry.from', () => {
    expect(KVEntry.from({ key: 'a', value: null, flags: MAX_UINT64 }).flagsBigInt).toBe(MAX_UINT64);
    expect(KVEntry.from({ key: 'a', value: null, flags: 7 }).flagsBigInt).toBe(7n);
  });
});
