/**
 * The official `consul` npm package (v2) driving sessions and locks on the dev server (consul-semantics §L1–§L5):
 * written against real Consul, it must get the shapes and answers Consul gives.
 */
import Consul from 'consul';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';

let server: DevServer | undefined;
let consul: Consul | undefined;

afterEach(async () => {
  consul?.destroy();
  consul = undefined;
  await server?.close();
  server = undefined;
});

async function connect(): Promise<{ dev: DevServer; client: Consul; advance(ms: number): void }> {
  let nowMs = 0;
  server = await startDevServer({ port: 0, jitter: false, now: () => nowMs });
  consul = new Consul({ host: server.host, port: server.port });
  return {
    dev: server,
    client: consul,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

interface SessionItem {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
}

interface KvItem {
  LockIndex: number;
  Key: string;
  Session?: string;
}

describe('the consul npm package with sessions on the dev server', () => {
  it('creates, reads, renews and destroys a session', async () => {
    const { client } = await connect();
    const { ID } = (await client.session.create({ name: 'worker', ttl: '10s', lockdelay: '1s' })) as {
      ID: string;
    };
    const info = (await client.session.info(ID)) as unknown as SessionItem;
    expect(info).toMatchObject({
      ID,
      Name: 'worker',
      Node: 'node-1',
      LockDelay: 1_000_000_000,
      Behavior: 'release',
      TTL: '10s',
    });
    expect(((await client.session.list()) as unknown as SessionItem[]).map((s) => s.ID)).toEqual([ID]);
    expect(((await client.session.node('node-1')) as unknown as SessionItem[]).length).toBe(1);
    expect(((await client.session.renew(ID)) as unknown as SessionItem[])[0]?.ID).toBe(ID);
    // The package resolves destroy with nothing, whatever the body (`true`).
    expect(await client.session.destroy(ID)).toBeUndefined();
    expect(await client.session.info(ID)).toBeUndefined();
    await expect(client.session.renew(ID)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('acquires and releases a key with kv.set and hands the lock over to a second session', async () => {
    const { client, advance } = await connect();
    // Consul answers `false`; the package's pipeline turns a falsy body into undefined.
    const first = ((await client.session.create({ lockdelay: '2s' })) as { ID: string }).ID;
    const second = ((await client.session.create()) as { ID: string }).ID;
    expect(await client.kv.set({ key: 'service/leader', value: 'first', acquire: first })).toBe(true);
    expect(await client.kv.set({ key: 'service/leader', value: 'second', acquire: second })).toBeUndefined();
    const held = (await client.kv.get('service/leader')) as unknown as KvItem;
    expect([held.LockIndex, held.Session]).toEqual([1, first]);

    // A clean handover: release, and the other session acquires at once (no lock-delay after ?release).
    expect(await client.kv.set({ key: 'service/leader', value: 'first', release: first })).toBe(true);
    expect(await client.kv.set({ key: 'service/leader', value: 'second', acquire: second })).toBe(true);
    const handed = (await client.kv.get('service/leader')) as unknown as KvItem;
    expect([handed.LockIndex, handed.Session]).toEqual([2, second]);

    // A crash handover: the holder's session is destroyed; the key is free but inside the lock-delay.
    expect(await client.kv.set({ key: 'service/leader', value: 'first', acquire: first })).toBeUndefined();
    await client.session.destroy(second);
    const third = ((await client.session.create()) as { ID: string }).ID;
    expect(await client.kv.set({ key: 'service/leader', value: 'third', acquire: third })).toBeUndefined();
    advance(15_000);
    expect(await client.kv.set({ key: 'service/leader', value: 'third', acquire: third })).toBe(true);
    const taken = (await client.kv.get('service/leader')) as unknown as KvItem;
    expect([taken.LockIndex, taken.Session]).toEqual([3, third]);
  });
});
