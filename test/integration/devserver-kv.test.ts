import { afterEach, describe, expect, it } from 'vitest';
import { INVALID_UTF8_TEXT } from '../../src/devserver/routes.js';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { httpGet, httpPut, httpRequest, type RawResponse, rawExchange } from '../helpers/http.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

function readMeta(res: RawResponse) {
  return {
    index: res.headers['x-consul-index'],
    knownLeader: res.headers['x-consul-knownleader'],
    lastContact: res.headers['x-consul-lastcontact'],
  };
}

const TEXT = 'text/plain; charset=utf-8';

describe('dev server routing (consul-semantics §1)', () => {
  it('answers other methods on /v1/kv/ with 405 and the Allow header', async () => {
    const { address } = await start();
    const res = await httpRequest(address, { method: 'POST', path: '/v1/kv/a' });
    expect(res.status).toBe(405);
    expect(res.text).toBe('method POST not allowed');
    expect(res.headers.allow).toBe('OPTIONS,GET,PUT,DELETE');
    expect(res.headers['content-type']).toBe(TEXT);
  });

  it('answers OPTIONS on /v1/kv/ with an empty 200 and the Allow header', async () => {
    const { address } = await start();
    const res = await httpRequest(address, { method: 'OPTIONS', path: '/v1/kv/a' });
    expect([res.status, res.text, res.headers.allow]).toEqual([200, '', 'OPTIONS,GET,PUT,DELETE']);
  });

  it('redirects /v1/kv to /v1/kv/ with 301, keeping the query', async () => {
    const { address } = await start();
    const res = await httpGet(address, '/v1/kv?recurse');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/v1/kv/?recurse');
    expect(res.text).toBe('<a href="/v1/kv/?recurse">Moved Permanently</a>.\n\n');
  });

  it.each([
    ['/v1/kv/a//b?keys', '/v1/kv/a/b?keys'],
    ['/v1/kv/a/./b', '/v1/kv/a/b'],
    ['/v1/kv/a/../b', '/v1/kv/b'],
    ['/v1/kv/a%2F%2Fb', '/v1/kv/a/b'],
    ['/v1/kv//a', '/v1/kv/a'],
  ])('redirects the unclean path %s to %s', async (path, location) => {
    const { address } = await start();
    const res = await httpRequest(address, { method: 'PUT', path, body: 'x' });
    expect([res.status, res.headers.location, res.text]).toEqual([301, location, '']);
    expect(server?.kv.index()).toBe(1);
  });

  it('uses the decoded path as the key', async () => {
    const { address, kv } = await start();
    await httpPut(address, '/v1/kv/a%2Fb', 'slash');
    await httpPut(address, '/v1/kv/100%25', 'percent');
    await httpPut(address, '/v1/kv/sp%20ace+plus', 'space');
    expect(kv.get('a/b')?.value?.toString()).toBe('slash');
    expect(kv.get('100%')?.value?.toString()).toBe('percent');
    expect(kv.get('sp ace+plus')?.value?.toString()).toBe('space');
    const keys = await httpGet(address, '/v1/kv/?keys');
    expect(JSON.parse(keys.text)).toEqual(['100%', 'a/b', 'sp ace+plus']);
  });

  it('refuses a key whose percent-decoded bytes are not UTF-8 instead of merging it into U+FFFD', async () => {
    const { address, kv } = await start();
    for (const bad of ['%FF', '%FE', '%C0%80', '%ED%A0%80', '%E2%98']) {
      const res = await httpPut(address, `/v1/kv/u/${bad}`, bad);
      expect([res.status, res.text]).toEqual([400, INVALID_UTF8_TEXT]);
    }
    expect([kv.index(), kv.get('u/\uFFFD')]).toEqual([1, undefined]);
    // Valid multi-byte keys stay distinct.
    await httpPut(address, '/v1/kv/u/%C3%A9', 'e-acute');
    await httpPut(address, '/v1/kv/u/%E2%98%83', 'snowman');
    const keys = await httpGet(address, '/v1/kv/u/?keys');
    expect(JSON.parse(keys.text)).toEqual(['u/é', 'u/☃']);
  });

  it('answers a path with a non-printable character with an empty 400', async () => {
    const { address } = await start();
    const res = await httpGet(address, '/v1/kv/a%09b');
    expect([res.status, res.text, res.headers['content-type']]).toEqual([400, '', undefined]);
  });

  it('tests flag parameters by presence, so recurse=false still recurses', async () => {
    const { address, kv } = await start();
    kv.put('p/a', '1');
    kv.put('p/b', '2');
    const res = await httpGet(address, '/v1/kv/p/?recurse=false');
    expect(JSON.parse(res.text).map((entry: { Key: string }) => entry.Key)).toEqual(['p/a', 'p/b']);
  });

  it("answers any Transfer-Encoding but a single chunked with Go's raw 501 and stores nothing", async () => {
    const { address, kv } = await start();
    const put = (encodings: string[]) =>
      rawExchange(
        address,
        `PUT /v1/kv/te HTTP/1.1\r\nHost: x\r\n${encodings.map((te) => `Transfer-Encoding: ${te}\r\n`).join('')}` +
          'Connection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n',
      );
    const notImplemented =
      'HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n' +
      'Unsupported transfer encoding';
    expect(await put(['gzip, chunked'])).toBe(notImplemented);
    // Node's parser refuses a repeated Transfer-Encoding itself, before the handler (Go: 501 as above).
    expect(await put(['chunked', 'chunked'])).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(kv.get('te')).toBeUndefined();
    expect(await put([' Chunked'])).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(kv.get('te')?.value?.toString()).toBe('x');
  });

  it('answers an unknown path with 404', async () => {
    const { address } = await start();
    expect((await httpGet(address, '/v1/event/list')).status).toBe(404);
  });
});

describe('dev server reads (consul-semantics §2, §3)', () => {
  it('answers a single key with one entry in Go field order and the read headers', async () => {
    const { address } = await start();
    const put = await httpPut(address, '/v1/kv/app/name?flags=42', 'demo');
    expect([put.status, put.text, put.headers['content-type']]).toEqual([200, 'true', 'application/json']);
    const res = await httpGet(address, '/v1/kv/app/name');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(readMeta(res)).toEqual({ index: '2', knownLeader: 'true', lastContact: '0' });
    expect(res.text).toBe(
      '[{"LockIndex":0,"Key":"app/name","Flags":42,"Value":"ZGVtbw==","CreateIndex":2,"ModifyIndex":2}]',
    );
  });

  it('sends no index headers on writes', async () => {
    const { address } = await start();
    const put = await httpPut(address, '/v1/kv/a', '1');
    const del = await httpRequest(address, { method: 'DELETE', path: '/v1/kv/a' });
    for (const res of [put, del]) {
      expect(readMeta(res)).toEqual({ index: undefined, knownLeader: undefined, lastContact: undefined });
    }
  });

  it('answers a missing key with an empty 404 carrying the whole-KV index and the read headers', async () => {
    const { address, kv } = await start();
    const empty = await httpGet(address, '/v1/kv/missing');
    expect([empty.status, empty.text]).toEqual([404, '']);
    // consul-semantics §3: index 0 is never sent; an empty store reports 1.
    expect(readMeta(empty)).toEqual({ index: '1', knownLeader: 'true', lastContact: '0' });
    kv.put('a', '1');
    kv.put('b', '2');
    expect((await httpGet(address, '/v1/kv/missing')).headers['x-consul-index']).toBe('3');
  });

  it('refuses a GET, PUT or DELETE without a key name', async () => {
    const { address } = await start();
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await httpRequest(address, { method, path: '/v1/kv/' });
      expect([res.status, res.text, res.headers['content-type']]).toEqual([400, 'Missing key name', TEXT]);
    }
  });

  it('answers ?raw with the bytes and the raw headers, and ignores raw with recurse', async () => {
    const { address, kv } = await start();
    kv.put('bin', Buffer.from([0, 1, 2, 255]));
    const res = await httpGet(address, '/v1/kv/bin?raw');
    expect(res.status).toBe(200);
    expect([...res.body]).toEqual([0, 1, 2, 255]);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe('sandbox');
    expect(res.headers['x-consul-index']).toBe('2');
    const listed = await httpGet(address, '/v1/kv/bin?raw&recurse');
    expect(listed.headers['content-type']).toBe('application/json');
    const missing = await httpGet(address, '/v1/kv/nothing?raw');
    expect([missing.status, missing.headers['content-type']]).toEqual([404, undefined]);
  });

  it('shows "Value": null for a key written with an empty body', async () => {
    const { address } = await start();
    await httpPut(address, '/v1/kv/empty', '');
    expect(JSON.parse((await httpGet(address, '/v1/kv/empty')).text)[0].Value).toBeNull();
  });

  it('lists entries sorted by key for a raw prefix, and 404s an empty list even for the empty prefix', async () => {
    const { address, kv } = await start();
    expect((await httpGet(address, '/v1/kv/?recurse')).status).toBe(404);
    kv.put('app/b', '2');
    kv.put('apple', '3');
    kv.put('app/a', '1');
    kv.put('zebra', '4');
    const res = await httpGet(address, '/v1/kv/app?recurse');
    expect(JSON.parse(res.text).map((entry: { Key: string }) => entry.Key)).toEqual([
      'app/a',
      'app/b',
      'apple',
    ]);
    expect(res.headers['x-consul-index']).toBe('4');
    const none = await httpGet(address, '/v1/kv/nothing/?recurse');
    expect([none.status, none.headers['x-consul-index']]).toEqual([404, '5']);
  });

  it('lists keys with separator folding, the seperator alias, and separator winning over it', async () => {
    const { address, kv } = await start();
    for (const key of ['c/a', 'c/b/x', 'c/b/y', 'c-d/e']) kv.put(key, '1');
    const keys = async (query: string) => JSON.parse((await httpGet(address, `/v1/kv/c${query}`)).text);
    expect(await keys('?keys')).toEqual(['c-d/e', 'c/a', 'c/b/x', 'c/b/y']);
    expect(await keys('/?keys&separator=/')).toEqual(['c/a', 'c/b/']);
    expect(await keys('/?keys&seperator=/')).toEqual(['c/a', 'c/b/']);
    expect(await keys('?keys&separator=/&seperator=-')).toEqual(['c-d/', 'c/']);
    // keys wins over recurse
    expect(await keys('/?keys&recurse')).toEqual(['c/a', 'c/b/x', 'c/b/y']);
  });

  it('answers keys under an empty prefix with [] and under a missing prefix with 404', async () => {
    const { address } = await start();
    const root = await httpGet(address, '/v1/kv/?keys');
    expect([root.status, root.text, root.headers['x-consul-index']]).toEqual([200, '[]', '1']);
    const missing = await httpGet(address, '/v1/kv/nothing/?keys');
    expect([missing.status, missing.text, missing.headers['x-consul-index']]).toEqual([404, '', '1']);
  });

  it('indents with ?pretty and ends with a newline', async () => {
    const { address, kv } = await start();
    kv.put('k', 'v');
    expect((await httpGet(address, '/v1/kv/?keys&pretty')).text).toBe('[\n    "k"\n]\n');
    expect((await httpPut(address, '/v1/kv/k?pretty', 'w')).text).toBe('true\n');
  });

  it('keeps a prefix index at the delete index through its tombstone', async () => {
    const { address, kv } = await start();
    kv.put('svc/a', '1'); // 2
    kv.put('svc/b', '2'); // 3
    kv.put('other', '3'); // 4
    await httpRequest(address, { method: 'DELETE', path: '/v1/kv/svc/b' }); // 5
    const list = await httpGet(address, '/v1/kv/svc/?recurse');
    expect(list.headers['x-consul-index']).toBe('5');
    await httpRequest(address, { method: 'DELETE', path: '/v1/kv/svc/?recurse' }); // 6
    const gone = await httpGet(address, '/v1/kv/svc/?recurse');
    expect([gone.status, gone.headers['x-consul-index']]).toEqual([404, '6']);
  });

  it('makes a prefix index go backwards once tombstones are reaped', async () => {
    let nowMs = 0;
    const { address, kv } = await start({ tombstoneTtlMs: 1_000, now: () => nowMs });
    kv.put('svc/a', '1'); // 2
    kv.put('svc/b', '2'); // 3
    kv.delete('svc/b'); // 4
    expect((await httpGet(address, '/v1/kv/svc/?recurse')).headers['x-consul-index']).toBe('4');
    nowMs = 1_000;
    expect((await httpGet(address, '/v1/kv/svc/?recurse')).headers['x-consul-index']).toBe('2');
  });
});

describe('dev server writes (consul-semantics §2)', () => {
  it('stores ?flags= as an exact uint64 and renders its exact digits', async () => {
    const { address } = await start();
    expect((await httpPut(address, '/v1/kv/f?flags=9007199254740993', 'v')).status).toBe(200);
    expect((await httpGet(address, '/v1/kv/f')).text).toContain('"Flags":9007199254740993,');
    expect((await httpPut(address, '/v1/kv/f?flags=18446744073709551615', 'v')).status).toBe(200);
    expect((await httpGet(address, '/v1/kv/f')).text).toContain('"Flags":18446744073709551615,');
    server?.kv.put('g', 'v', 2n ** 64n - 2n);
    expect((await httpGet(address, '/v1/kv/g')).text).toContain('"Flags":18446744073709551614,');
    expect(() => server?.kv.put('g', 'v', 2n ** 64n)).toThrow('flags must be an integer from 0 to 2^64-1');
    const over = await httpPut(address, '/v1/kv/f?flags=18446744073709551616', 'v');
    expect([over.status, over.text]).toEqual([
      500,
      'strconv.ParseUint: parsing "18446744073709551616": value out of range',
    ]);
  });

  it('leaves the index alone when the same value is PUT again', async () => {
    const { address, kv } = await start();
    await httpPut(address, '/v1/kv/k', 'same');
    const again = await httpPut(address, '/v1/kv/k', 'same');
    expect(again.text).toBe('true');
    expect(kv.index()).toBe(2);
    expect(kv.get('k')).toMatchObject({ createIndex: 2, modifyIndex: 2 });
  });

  it('applies CAS rules over HTTP', async () => {
    const { address } = await start();
    expect((await httpPut(address, '/v1/kv/k?cas=0', '1')).text).toBe('true');
    expect((await httpPut(address, '/v1/kv/k?cas=0', '2')).text).toBe('false');
    expect((await httpPut(address, '/v1/kv/k?cas=9', '2')).text).toBe('false');
    expect((await httpPut(address, '/v1/kv/k?cas=2', '2')).text).toBe('true');
    const del = (query: string) => httpRequest(address, { method: 'DELETE', path: `/v1/kv/k${query}` });
    expect((await del('?cas=0')).text).toBe('false');
    expect((await del('?cas=3')).text).toBe('true');
    expect((await del('?cas=3')).text).toBe('true');
  });

  it('answers true for deleting a missing key and empties the store with DELETE ?recurse on the root', async () => {
    const { address, kv } = await start();
    kv.put('a', '1');
    kv.put('b/c', '2');
    expect((await httpRequest(address, { method: 'DELETE', path: '/v1/kv/missing' })).text).toBe('true');
    expect((await httpRequest(address, { method: 'DELETE', path: '/v1/kv/?recurse' })).text).toBe('true');
    expect((await httpGet(address, '/v1/kv/?keys')).text).toBe('[]');
  });

  it('refuses conflicting flags with the sorted, encoded query', async () => {
    const { address } = await start();
    const put = await httpPut(address, '/v1/kv/k?release=s+1&cas=5', 'x');
    expect([put.status, put.text]).toEqual([400, 'Conflicting flags: cas=5&release=s+1\n']);
    const del = await httpRequest(address, { method: 'DELETE', path: '/v1/kv/k?recurse&cas=1' });
    expect([del.status, del.text]).toEqual([400, 'Conflicting flags: cas=1&recurse=\n']);
  });

  it('answers unparseable flags or cas with 500 and the Go parse error', async () => {
    const { address } = await start();
    const flags = await httpPut(address, '/v1/kv/k?flags=abc', 'x');
    expect([flags.status, flags.text]).toEqual([500, 'strconv.ParseUint: parsing "abc": invalid syntax']);
    const cas = await httpPut(address, '/v1/kv/k?cas=', 'x');
    expect([cas.status, cas.text]).toEqual([500, 'strconv.ParseUint: parsing "": invalid syntax']);
    const del = await httpRequest(address, { method: 'DELETE', path: '/v1/kv/k?cas=-1' });
    expect([del.status, del.text]).toEqual([500, 'strconv.ParseUint: parsing "-1": invalid syntax']);
  });

  it('keeps uint64 flags exactly', async () => {
    const { address } = await start();
    await httpPut(address, '/v1/kv/k?flags=18446744073709551615', 'x');
    expect((await httpGet(address, '/v1/kv/k')).text).toContain('"Flags":18446744073709551615,');
  });

  it('refuses a value over kv_max_value_size by Content-Length, and a chunked one while reading', async () => {
    const { address, kv } = await start({ kvMaxValueSize: 16 });
    const declared = await httpPut(address, '/v1/kv/big', 'x'.repeat(17));
    expect([declared.status, declared.text]).toEqual([
      413,
      'Request body(17 bytes) too large, max size: 16 bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.',
    ]);
    const chunked = await httpRequest(address, {
      method: 'PUT',
      path: '/v1/kv/big',
      body: 'y'.repeat(40),
      chunked: true,
    });
    expect([chunked.status, chunked.text]).toEqual([
      413,
      'Request body too large, max size: 16 bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.',
    ]);
    const fits = await httpRequest(address, {
      method: 'PUT',
      path: '/v1/kv/ok',
      body: 'z'.repeat(16),
      chunked: true,
    });
    expect(fits.text).toBe('true');
    expect(kv.get('big')).toBeUndefined();
  });

  it('uses 512 KiB as the default value limit', async () => {
    const { address } = await start();
    const res = await httpPut(address, '/v1/kv/big', Buffer.alloc(524_289, 0x61));
    expect(res.text).toBe(
      'Request body(524289 bytes) too large, max size: 524288 bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.',
    );
    expect((await httpPut(address, '/v1/kv/big', Buffer.alloc(524_288, 0x61))).text).toBe('true');
  });

  it('answers ?acquire with an unknown session with a 500 and ?release of a missing key with false (consul-semantics §L5)', async () => {
    const { address } = await start();
    const acquire = await httpPut(address, '/v1/kv/lock?acquire=abc', 'x');
    expect([acquire.status, acquire.text]).toEqual([500, 'raft apply failed: invalid session "abc"']);
    const release = await httpPut(address, '/v1/kv/lock?release=abc', 'x');
    expect([release.status, release.text]).toEqual([200, 'false']);
  });
});

describe('dev server request parameters (consul-semantics §1)', () => {
  it('refuses a wait without a unit and a bad index, and ignores empty values', async () => {
    const { address, kv } = await start();
    kv.put('k', 'v');
    const wait = await httpGet(address, '/v1/kv/k?index=1&wait=10');
    expect([wait.status, wait.text, wait.headers['content-type']]).toEqual([400, 'Invalid wait time', TEXT]);
    for (const index of ['-1', 'abc', '18446744073709551616']) {
      const res = await httpGet(address, `/v1/kv/k?index=${index}`);
      expect([res.status, res.text]).toEqual([400, 'Invalid index']);
    }
    const empty = await httpGet(address, '/v1/kv/k?index=&wait=');
    expect(empty.status).toBe(200);
    const writeWithBadIndex = await httpPut(address, '/v1/kv/k?index=x', 'v');
    expect([writeWithBadIndex.status, writeWithBadIndex.text]).toEqual([400, 'Invalid index']);
  });

  it('accepts Go durations with units for wait', async () => {
    const { address, kv } = await start();
    kv.put('k', 'v');
    for (const wait of ['1h', '1500ms', '1m30s', '0', '-5s']) {
      expect((await httpGet(address, `/v1/kv/k?index=1&wait=${wait}`)).status).toBe(200);
    }
  });

  it('refuses conflicting consistency modes', async () => {
    const { address } = await start();
    const stale = await httpGet(address, '/v1/kv/k?stale&consistent');
    expect([stale.status, stale.text]).toEqual([
      400,
      'Cannot specify ?stale with ?consistent, conflicting semantics.',
    ]);
    const maxStale = await httpGet(address, '/v1/kv/k?max_stale=5s&consistent');
    expect(maxStale.text).toBe('Cannot specify ?stale with ?consistent, conflicting semantics.');
    const cached = await httpGet(address, '/v1/kv/k?cached&consistent');
    expect([cached.status, cached.text]).toEqual([
      400,
      'Cannot specify ?cached with ?consistent, conflicting semantics.',
    ]);
    const bad = await httpGet(address, '/v1/kv/k?max_stale=soon');
    expect([bad.status, bad.text]).toEqual([400, 'Invalid max_stale value "soon"']);
    expect((await httpGet(address, '/v1/kv/k?stale')).status).toBe(404);
  });

  it('refuses namespaces and partitions like Consul CE', async () => {
    const { address } = await start();
    const cases: Array<[string, Record<string, string>, string]> = [
      ['?ns=team', {}, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature'],
      [
        '?partition=p',
        {},
        'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature',
      ],
      [
        '',
        { 'X-Consul-Namespace': 'team' },
        'Invalid header: "X-Consul-Namespace" - Namespaces are a Consul Enterprise feature',
      ],
      [
        '',
        { 'X-Consul-Partition': 'p' },
        'Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature',
      ],
    ];
    for (const [query, headers, text] of cases) {
      const res = await httpGet(address, `/v1/kv/k${query}`, headers);
      expect([res.status, res.text]).toEqual([400, text]);
    }
    expect((await httpGet(address, '/v1/kv/k?ns=')).status).toBe(404);
  });

  it('answers an unknown datacenter with 500 No path to datacenter and serves dc1', async () => {
    const { address } = await start();
    const other = await httpGet(address, '/v1/kv/k?dc=dc2');
    expect([other.status, other.text, other.headers['x-consul-index']]).toEqual([
      500,
      'No path to datacenter',
      undefined,
    ]);
    const write = await httpPut(address, '/v1/kv/k?dc=dc2', 'x');
    expect([write.status, write.text]).toEqual([500, 'No path to datacenter']);
    expect((await httpGet(address, '/v1/kv/k?dc=dc1')).status).toBe(404);
  });
});
