import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import { httpGet, httpPut, httpRequest, type RawResponse } from '../helpers/http.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server on a clock the test moves. */
async function start(options: DevServerOptions = {}): Promise<DevServer & { advance(ms: number): void }> {
  let nowMs = 1_000_000;
  const started = await startDevServer({ port: 0, jitter: false, now: () => nowMs, ...options });
  server = started;
  return Object.assign(started, {
    advance: (ms: number) => {
      nowMs += ms;
    },
  });
}

async function create(address: string, body?: unknown): Promise<string> {
  const res = await httpPut(
    address,
    '/v1/session/create',
    body === undefined ? undefined : JSON.stringify(body),
  );
  expect(res.status).toBe(200);
  return (JSON.parse(res.text) as { ID: string }).ID;
}

function json(res: RawResponse): unknown {
  return JSON.parse(res.text);
}

const NODE = 'node-1';

describe('session create and reads (consul-semantics §L1–§L3)', () => {
  it('creates a session with Consul defaults and shows it in info, list and node with exact JSON', async () => {
    const { address } = await start();
    const id = await create(address);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const expected = `[{"ID":"${id}","Name":"","Node":"${NODE}","LockDelay":15000000000,"Behavior":"release","TTL":"","NodeChecks":["serfHealth"],"ServiceChecks":null,"CreateIndex":2,"ModifyIndex":2}]`;
    for (const path of [`/v1/session/info/${id}`, '/v1/session/list', `/v1/session/node/${NODE}`]) {
      const res = await httpGet(address, path);
      expect([res.status, res.text, res.headers['x-consul-index']]).toEqual([200, expected, '2']);
    }
    expect((await httpGet(address, '/v1/session/node/other')).text).toBe('[]');
    expect((await httpGet(address, '/v1/session/info/nope')).text).toBe('[]');
  });

  it('answers [] with index 1 before any session exists', async () => {
    const { address } = await start();
    const res = await httpGet(address, '/v1/session/list');
    expect([res.status, res.text, res.headers['x-consul-index']]).toEqual([200, '[]', '1']);
  });

  it('decodes the body case-insensitively: lock-delay forms, TTL, behaviour, no checks (consul-semantics §L1)', async () => {
    const { address } = await start();
    const id = await create(address, {
      name: 'web-lock',
      LockDelay: 5,
      behavior: 'delete',
      TTL: '30s',
      NodeChecks: [],
      Unknown: 1,
    });
    const [session] = json(await httpGet(address, `/v1/session/info/${id}`)) as Record<string, unknown>[];
    expect(session).toEqual({
      ID: id,
      Name: 'web-lock',
      Node: NODE,
      LockDelay: 5_000_000_000,
      Behavior: 'delete',
      TTL: '30s',
      NodeChecks: [],
      ServiceChecks: null,
      CreateIndex: 2,
      ModifyIndex: 2,
    });
    const delays: [unknown, number][] = [
      ['15000ms', 15_000_000_000],
      [2_000_000_000, 2_000_000_000],
      ['0s', 0],
    ];
    for (const [lockDelay, ns] of delays) {
      const other = await create(address, { LockDelay: lockDelay });
      const [read] = json(await httpGet(address, `/v1/session/info/${other}`)) as { LockDelay: number }[];
      expect(read?.LockDelay).toBe(ns);
    }
    // The legacy "Checks": [] also empties NodeChecks.
    const legacy = await create(address, { Checks: [] });
    const [read] = json(await httpGet(address, `/v1/session/info/${legacy}`)) as { NodeChecks: unknown }[];
    expect(read?.NodeChecks).toEqual([]);
  });

  it('refuses bad creates with Consul statuses and texts', async () => {
    const { address } = await start();
    const cases: [unknown, number, unknown][] = [
      [{ Behavior: 'keep' }, 500, "Invalid Behavior setting 'keep'"],
      [{ TTL: 'soon' }, 500, `Session TTL 'soon' invalid: time: invalid duration "soon"`],
      [{ TTL: '5s' }, 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"],
      [{ TTL: '25h' }, 500, "Invalid Session TTL '90000000000000', must be between [10s=24h0m0s]"],
      [{ Node: 'elsewhere' }, 500, 'Missing node registration'],
      [{ NodeChecks: ['serfHealth', 'service:web'] }, 500, "Missing check 'service:web' registration"],
      // consul-semantics §L9: Session.UnmarshalJSON's anonymous struct leaves the struct name empty.
      [
        { Name: 5 },
        400,
        'Request decode failed: json: cannot unmarshal number into Go struct field .Name of type string',
      ],
      [
        { TTL: true, Name: 5 },
        400,
        'Request decode failed: json: cannot unmarshal bool into Go struct field .TTL of type string',
      ],
      [
        { NodeChecks: ['serfHealth', 7] },
        400,
        'Request decode failed: json: cannot unmarshal number into Go struct field .NodeChecks of type string',
      ],
      [
        { ServiceChecks: [{ ID: 1 }] },
        400,
        'Request decode failed: json: cannot unmarshal number into Go struct field ServiceCheck.ServiceChecks.ID of type string',
      ],
      [{ LockDelay: 'soon', Name: 5 }, 400, expect.stringContaining('Go struct field .Name')],
      ['{"Name": "x",', 400, 'Request decode failed: unexpected EOF'],
      [
        '{Name}',
        400,
        "Request decode failed: invalid character 'N' looking for beginning of object key string",
      ],
    ];
    for (const [body, status, text] of cases) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await httpPut(address, '/v1/session/create', raw);
      expect([res.status, res.text]).toEqual([status, text]);
    }
    expect((await httpGet(address, '/v1/session/list')).text).toBe('[]');
  });

  it('renews with 200 and the session, 404 when unknown, and destroys with true even when unknown', async () => {
    const { address } = await start();
    const id = await create(address, { TTL: '10s' });
    const renewed = await httpPut(address, `/v1/session/renew/${id}`, '');
    expect(renewed.status).toBe(200);
    expect((json(renewed) as { ID: string }[])[0]?.ID).toBe(id);
    expect(renewed.headers['x-consul-index']).toBeUndefined();
    const missing = await httpPut(address, '/v1/session/renew/nope', '');
    expect([missing.status, missing.text]).toEqual([404, "Session id 'nope' not found"]);
    for (const target of [id, 'nope']) {
      const destroyed = await httpPut(address, `/v1/session/destroy/${target}`, '');
      expect([destroyed.status, destroyed.text]).toEqual([200, 'true']);
    }
    const list = await httpGet(address, '/v1/session/list');
    // Create took index 2, the destroy 3; the unknown destroy changes nothing.
    expect([list.text, list.headers['x-consul-index']]).toEqual(['[]', '3']);
  });

  it('enforces methods, missing IDs and the ACL token like the KV routes', async () => {
    const { address } = await start({ aclToken: 'secret' });
    const get = await httpRequest(address, { method: 'GET', path: '/v1/session/create' });
    expect([get.status, get.text, get.headers.allow]).toEqual([405, 'method GET not allowed', 'OPTIONS,PUT']);
    const put = await httpRequest(address, { method: 'PUT', path: '/v1/session/list' });
    expect([put.status, put.headers.allow]).toEqual([405, 'OPTIONS,GET']);
    expect((await httpPut(address, '/v1/session/destroy/', '')).text).toBe('Missing session');
    expect((await httpGet(address, '/v1/session/node/?token=secret')).text).toBe('Missing node name');
    const redirect = await httpGet(address, '/v1/session/info');
    expect([redirect.status, redirect.headers.location]).toEqual([301, '/v1/session/info/']);
    // consul-semantics §S6.1: writes need session:write on the node; reads without the token see nothing.
    const deniedText = `Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' lacks permission 'session:write' on "node-1"`;
    const denied = await httpPut(address, '/v1/session/create', '');
    expect([denied.status, denied.text]).toEqual([403, deniedText]);
    const wrong = await httpGet(address, '/v1/session/list?token=nope');
    expect([wrong.status, wrong.text]).toEqual([403, 'ACL not found']);
    const created = await httpPut(address, '/v1/session/create?token=secret', '');
    expect(created.status).toBe(200);
    const { ID } = json(created) as { ID: string };
    for (const path of [`/v1/session/renew/${ID}`, `/v1/session/destroy/${ID}`]) {
      const refused = await httpPut(address, path, '');
      expect([path, refused.status, refused.text]).toEqual([path, 403, deniedText]);
    }
    expect((await httpGet(address, '/v1/session/list')).text).toBe('[]');
    expect(json(await httpGet(address, '/v1/session/list?token=secret'))).toHaveLength(1);
    expect((await httpGet(address, '/v1/session/bogus')).status).toBe(404);
  });
});

describe('KV locks (consul-semantics §L4–§L6)', () => {
  it('acquires, re-acquires, refuses another session, releases, and counts LockIndex per new holder', async () => {
    const { address } = await start();
    const a = await create(address);
    const b = await create(address);
    expect((await httpPut(address, `/v1/kv/lock?acquire=${a}`, 'a1')).text).toBe('true');
    expect((await httpGet(address, '/v1/kv/lock')).text).toBe(
      `[{"LockIndex":1,"Key":"lock","Flags":0,"Value":"YTE=","Session":"${a}","CreateIndex":4,"ModifyIndex":4}]`,
    );
    expect((await httpPut(address, `/v1/kv/lock?acquire=${a}&flags=3`, 'a2')).text).toBe('true');
    expect((await httpPut(address, `/v1/kv/lock?acquire=${b}`, 'b')).text).toBe('false');
    expect((await httpPut(address, `/v1/kv/lock?release=${b}`, 'b')).text).toBe('false');
    // A plain PUT keeps the holder.
    expect((await httpPut(address, '/v1/kv/lock', 'plain')).text).toBe('true');
    expect((await httpPut(address, `/v1/kv/lock?release=${a}`, 'done')).text).toBe('true');
    expect((await httpGet(address, '/v1/kv/lock')).text).toBe(
      '[{"LockIndex":1,"Key":"lock","Flags":0,"Value":"ZG9uZQ==","CreateIndex":4,"ModifyIndex":7}]',
    );
    expect((await httpPut(address, `/v1/kv/lock?acquire=${b}`, 'b')).text).toBe('true');
    const [entry] = json(await httpGet(address, '/v1/kv/lock')) as { LockIndex: number; Session: string }[];
    expect([entry?.LockIndex, entry?.Session]).toEqual([2, b]);
  });

  it('answers an empty session with a 500 and conflicting lock flags with a 400', async () => {
    const { address } = await start();
    const empty = await httpPut(address, '/v1/kv/k?acquire=', 'x');
    expect([empty.status, empty.text]).toEqual([500, 'raft apply failed: missing session']);
    const both = await httpPut(address, '/v1/kv/k?acquire=a&release=b', 'x');
    expect([both.status, both.text]).toEqual([400, 'Conflicting flags: acquire=a&release=b\n']);
  });

  it('releases held keys on destroy and refuses acquires for the lock-delay, but not after an explicit release', async () => {
    const dev = await start();
    const { address } = dev;
    const a = await create(address, { LockDelay: '10s' });
    const b = await create(address);
    expect((await httpPut(address, `/v1/kv/held?acquire=${a}`, 'x')).text).toBe('true');
    expect((await httpPut(address, `/v1/kv/freed?acquire=${a}`, 'x')).text).toBe('true');
    expect((await httpPut(address, `/v1/kv/freed?release=${a}`, 'x')).text).toBe('true');
    expect((await httpPut(address, `/v1/session/destroy/${a}`, '')).text).toBe('true');
    // consul-semantics §L4: the held key keeps its value and LockIndex, loses Session, at the destroy's index.
    expect((await httpGet(address, '/v1/kv/held')).text).toBe(
      '[{"LockIndex":1,"Key":"held","Flags":0,"Value":"eA==","CreateIndex":4,"ModifyIndex":7}]',
    );
    expect((await httpPut(address, `/v1/kv/held?acquire=${b}`, 'y')).text).toBe('false');
    expect((await httpPut(address, `/v1/kv/freed?acquire=${b}`, 'y')).text).toBe('true');
    dev.advance(9_999);
    expect((await httpPut(address, `/v1/kv/held?acquire=${b}`, 'y')).text).toBe('false');
    dev.advance(1);
    expect((await httpPut(address, `/v1/kv/held?acquire=${b}`, 'y')).text).toBe('true');
  });

  it('deletes held keys of a delete-behaviour session, leaving a tombstone (consul-semantics §L4)', async () => {
    const { address } = await start();
    const a = await create(address, { Behavior: 'delete', LockDelay: 0 });
    expect((await httpPut(address, `/v1/kv/svc/leader?acquire=${a}`, 'me')).text).toBe('true');
    expect((await httpPut(address, `/v1/session/destroy/${a}`, '')).text).toBe('true');
    const gone = await httpGet(address, '/v1/kv/svc/leader');
    expect(gone.status).toBe(404);
    expect((await httpGet(address, '/v1/kv/svc/?recurse')).headers['x-consul-index']).toBe('4');
  });

  it('wakes a blocking read of a locked key when its session is invalidated', async () => {
    const { address } = await start();
    const a = await create(address);
    await httpPut(address, `/v1/kv/lock?acquire=${a}`, 'x');
    const held = httpGet(address, '/v1/kv/lock?index=3&wait=5m');
    await waitForHeld(1);
    await httpPut(address, `/v1/session/destroy/${a}`, '');
    const res = await held;
    expect([res.headers['x-consul-index'], (json(res) as { Session?: string }[])[0]?.Session]).toEqual([
      '4',
      undefined,
    ]);
  });

  it('runs lock, unlock and check-session in a transaction, refusing lock during a lock-delay (consul-semantics §L7)', async () => {
    const { address } = await start();
    const a = await create(address);
    const txn = (ops: unknown) =>
      httpRequest(address, { method: 'PUT', path: '/v1/txn', body: JSON.stringify(ops) });
    const locked = await txn([
      { KV: { Verb: 'lock', Key: 't', Value: 'eA==', Session: a } },
      { KV: { Verb: 'check-session', Key: 't', Session: a } },
    ]);
    expect([locked.status, json(locked)]).toEqual([
      200,
      {
        Results: [
          {
            KV: { LockIndex: 1, Key: 't', Flags: 0, Value: null, Session: a, CreateIndex: 3, ModifyIndex: 3 },
          },
          {
            KV: { LockIndex: 1, Key: 't', Flags: 0, Value: null, Session: a, CreateIndex: 3, ModifyIndex: 3 },
          },
        ],
        Errors: null,
      },
    ]);
    const unlocked = await txn([{ KV: { Verb: 'unlock', Key: 't', Session: a } }]);
    expect(unlocked.status).toBe(200);
    await httpPut(address, `/v1/kv/t?acquire=${a}`, 'x');
    await httpPut(address, `/v1/session/destroy/${a}`, '');
    const b = await create(address);
    const delayed = await txn([{ KV: { Verb: 'lock', Key: 't', Session: b } }]);
    expect([delayed.status, json(delayed)]).toEqual([
      409,
      { Results: null, Errors: [{ OpIndex: 0, What: 'failed to lock key "t" due to lock delay' }] },
    ]);
  });
});

describe('session invalidation (consul-semantics §L3, §L4)', () => {
  it('expires a session after twice its TTL by the injected clock, and renew starts the count again', async () => {
    const dev = await start();
    const { address } = dev;
    const id = await create(address, { TTL: '10s', LockDelay: 0 });
    await httpPut(address, `/v1/kv/lock?acquire=${id}`, 'x');
    dev.advance(19_999);
    expect((await httpPut(address, `/v1/session/renew/${id}`, '')).status).toBe(200);
    dev.advance(19_999);
    expect((json(await httpGet(address, '/v1/session/list')) as unknown[]).length).toBe(1);
    dev.advance(1);
    expect(dev.sessions.expireDue()).toBe(1);
    expect((await httpGet(address, '/v1/session/list')).text).toBe('[]');
    expect(
      (json(await httpGet(address, '/v1/kv/lock')) as { Session?: string }[])[0]?.Session,
    ).toBeUndefined();
    const renew = await httpPut(address, `/v1/session/renew/${id}`, '');
    expect([renew.status, renew.text]).toEqual([404, `Session id '${id}' not found`]);
  });

  it('invalidates the sessions linked to a check that turned critical', async () => {
    const dev = await start();
    const { address } = dev;
    const linked = await create(address);
    const unlinked = await create(address, { NodeChecks: [] });
    await httpPut(address, `/v1/kv/lock?acquire=${linked}`, 'x');
    expect(dev.sessions.checkTurnedCritical('serfHealth')).toEqual([linked]);
    const list = json(await httpGet(address, '/v1/session/list')) as { ID: string }[];
    expect(list.map((session) => session.ID)).toEqual([unlinked]);
    expect((await httpPut(address, `/v1/kv/lock?acquire=${unlinked}`, 'y')).text).toBe('false');
  });

  it('wakes a blocking session read on any change to the sessions table', async () => {
    const { address } = await start();
    const id = await create(address);
    const held = httpGet(address, `/v1/session/info/${id}?index=2&wait=5m`);
    await waitForHeld(0, 1);
    await httpPut(address, `/v1/session/destroy/${id}`, '');
    const res = await held;
    expect([res.status, res.text, res.headers['x-consul-index']]).toEqual([200, '[]', '3']);
  });
});

/** Waits until the server holds this many KV blocking queries, or for the requests counter to settle. */
async function waitForHeld(kvHeld: number, requestsSince = 0): Promise<void> {
  const dev = server;
  if (dev === undefined) throw new Error('no server');
  const start = dev.stats().requests;
  for (let i = 0; i < 1000; i++) {
    const stats = dev.stats();
    if (kvHeld > 0 ? stats.blockingHeld >= kvHeld : stats.requests >= start + requestsSince) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the blocking query was never held');
}
