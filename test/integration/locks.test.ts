/**
 * Locks and leader election over loopback against the dev server (consul-semantics §L5, §L8): the Go
 * client's key layout, exact uint64 flags, lock-delay-aware acquire, leader election, and close() leaving
 * nothing behind.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConsulClient } from '../../src/consul/client.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { ClosedError, LockConflictError } from '../../src/errors.js';
import { type LeaderElection, leaderElection } from '../../src/locks/leader-election.js';
import { Lock, lock } from '../../src/locks/lock.js';
import { LOCK_FLAG_VALUE, type LockAcquiredEvent } from '../../src/locks/lock-options.js';
import { ManualClock } from '../helpers/manual-clock.js';

const FLAG_DIGITS = '3304740253564472344';

let dev: DevServer | undefined;
const clients: ConsulClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await dev?.close();
  dev = undefined;
});

/** The next `elected` of an election. */
function elected(election: LeaderElection): Promise<LockAcquiredEvent> {
  return new Promise((resolve) => election.once('elected', resolve));
}

function clientOf(server: DevServer): ConsulClient {
  const client = new ConsulClient({ address: server.address, env: {} });
  clients.push(client);
  return client;
}

async function rawKey(server: DevServer, key: string): Promise<string> {
  return (await fetch(`${server.address}/v1/kv/${key}`)).text();
}

async function liveSessions(server: DevServer): Promise<unknown[]> {
  return (await (await fetch(`${server.address}/v1/session/list`)).json()) as unknown[];
}

describe("the Go client's lock layout (api/lock.go)", () => {
  it('holds the lock in the key itself, with the exact lock flag, the value and the session', async () => {
    dev = await startDevServer({ port: 0 });
    const client = clientOf(dev);
    const held = await lock(client, 'locks/go', { value: 'payload' });
    const text = await rawKey(dev, 'locks/go');
    // The flag is above 2^53: check the digits Consul's JSON carries, not a rounded number.
    expect(text).toContain(`"Flags":${FLAG_DIGITS},`);
    expect(JSON.parse(text)).toMatchObject([
      {
        Key: 'locks/go',
        LockIndex: 1,
        Value: Buffer.from('payload').toString('base64'),
        Session: held.session,
      },
    ]);
    const sessions = (await liveSessions(dev)) as Array<{ ID: string; Name: string; TTL: string }>;
    expect(sessions.map((s) => [s.ID, s.Name, s.TTL])).toEqual([[held.session, 'Consul API Lock', '15s']]);

    await held.release();
    const released = await rawKey(dev, 'locks/go');
    expect(released).toContain(`"Flags":${FLAG_DIGITS},`);
    expect(JSON.parse(released)[0].Session).toBeUndefined();
    expect(JSON.parse(released)[0].Value).toBe(Buffer.from('payload').toString('base64'));
    expect(await liveSessions(dev)).toEqual([]);
    await held.close();
  });

  it('round-trips the lock flag exactly through kv.put and kv.get', async () => {
    dev = await startDevServer({ port: 0 });
    const client = clientOf(dev);
    await client.kv.put('locks/flag', 'x', { flags: LOCK_FLAG_VALUE });
    const { entry } = await client.kv.get('locks/flag');
    expect(entry?.flagsBigInt).toBe(0x2ddccbc058a50c18n);
    expect(await rawKey(dev, 'locks/flag')).toContain(`"Flags":${FLAG_DIGITS},`);
    // 2^64 - 1 too: the whole uint64 range survives.
    await client.kv.put('locks/flag', 'x', { flags: 2n ** 64n - 1n });
    expect((await client.kv.get('locks/flag')).entry?.flagsBigInt).toBe(2n ** 64n - 1n);
  });

  it('waits for a lock a Go process holds (raw ?acquire with the flag) and refuses a key with other flags', async () => {
    dev = await startDevServer({ port: 0 });
    const client = clientOf(dev);
    const goSession = await client.session.create({ name: 'go', lockDelay: 0 });
    const put = await fetch(`${dev.address}/v1/kv/locks/shared?flags=${FLAG_DIGITS}&acquire=${goSession}`, {
      method: 'PUT',
      body: 'go',
    });
    expect(await put.text()).toBe('true');
    const node = new Lock(client, 'locks/shared', { value: 'node' });
    const acquired = node.acquire();
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(1));
    await fetch(`${dev.address}/v1/kv/locks/shared?flags=${FLAG_DIGITS}&release=${goSession}`, {
      method: 'PUT',
      body: 'go',
    });
    await acquired;
    expect(node.lockIndex).toBe(2);
    await node.close();
    await client.session.destroy(goSession);

    await client.kv.put('locks/other', 'not a lock', { flags: 7 });
    const refused = lock(client, 'locks/other');
    await expect(refused).rejects.toBeInstanceOf(LockConflictError);
    await expect(refused).rejects.toMatchObject({ code: 'CONSUL_LOCK_CONFLICT', key: 'locks/other' });
    expect(await liveSessions(dev)).toEqual([]);
  });
});

describe('lock-delay (consul-semantics §L4, §L8)', () => {
  it("waits out the previous holder's lock-delay after a refusal, not a fixed sleep", async () => {
    const clock = new ManualClock();
    dev = await startDevServer({ port: 0, now: () => clock.now() });
    const client = clientOf(dev);
    const first = await lock(client, 'locks/delay', { lockDelay: '3s', clock });
    const second = new Lock(client, 'locks/delay', { clock });
    const waits: number[] = [];
    const setTimer = clock.setTimeout.bind(clock);
    clock.setTimeout = (callback, ms) => {
      if (ms !== 7_500) waits.push(ms); // renewals (every TTL/2) are not waits
      return setTimer(callback, ms);
    };
    const acquired = second.acquire();
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2));
    // The holder's session is invalidated: the key is free but inside its 3 s lock-delay.
    await client.session.destroy(first.session as string);
    // The waiter is refused once and sleeps for the holder's lock-delay (read from its session), by the clock.
    await vi.waitFor(() => expect(waits).toEqual([3_000]));
    clock.advance(2_999);
    await new Promise((resolve) => setImmediate(resolve));
    expect([second.state, waits]).toEqual(['acquiring', [3_000]]);
    clock.advance(1);
    await acquired;
    expect(second.lockIndex).toBe(2);
    await Promise.all([first.close(), second.close()]);
    expect(await liveSessions(dev)).toEqual([]);
  });
});

describe('losing a lock (consul-semantics §L4, §L8)', () => {
  it("reports key-deleted when the session's behaviour deletes the key, and session-changed when it is released", async () => {
    dev = await startDevServer({ port: 0 });
    const client = clientOf(dev);
    const reasons: string[] = [];
    for (const behavior of ['delete', 'release'] as const) {
      const held = await lock(client, `locks/lost-${behavior}`, { behavior, lockDelay: 0 });
      held.on('lost', (event) => reasons.push(event.reason));
      const lost = new Promise((resolve) => held.once('lost', resolve));
      await client.session.destroy(held.session as string);
      await lost;
      expect(held.signal.reason).toMatchObject({ code: 'CONSUL_LOCK_LOST' });
      await held.close();
    }
    expect(reasons).toEqual(['key-deleted', 'session-changed']);
    expect(await rawKey(dev, 'locks/lost-delete')).toBe('');
    expect(await liveSessions(dev)).toEqual([]);
  });
});

describe('leader election', () => {
  it('elects one, demotes it when its session goes, re-campaigns, and hands over on close', async () => {
    dev = await startDevServer({ port: 0 });
    const log: string[] = [];
    const campaign = (name: string): LeaderElection => {
      const election = leaderElection(clientOf(dev as DevServer), 'service/leader', {
        lockDelay: 0,
        value: name,
      });
      election.on('elected', (event) => log.push(`${name} elected ${event.lockIndex}`));
      election.on('demoted', (event) => log.push(`${name} demoted ${event.reason}`));
      return election;
    };
    const one = campaign('one');
    await elected(one);
    const two = campaign('two');
    const elections = [one, two];
    const leaders = () => elections.filter((election) => election.isLeader);
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2));
    expect(leaders()).toEqual([one]);

    // An operator destroys the leader's session: one is demoted and campaigns again with a new session,
    // racing two for the free key; exactly one of them wins.
    await clientOf(dev).session.destroy(one.lock.session as string);
    await vi.waitFor(() => expect(log).toHaveLength(3));
    expect(log.slice(0, 2)).toEqual(['one elected 1', 'one demoted session-changed']);
    expect(log[2]).toMatch(/^(one|two) elected 2$/);
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2));
    const [first] = leaders();
    expect(leaders()).toHaveLength(1);

    // The leader resigns on close: the other is elected at once (an explicit release sets no lock-delay).
    const other = first === one ? two : one;
    const handedOver = elected(other);
    await first?.close();
    await handedOver;
    expect(leaders()).toEqual([other]);
    expect(log).toHaveLength(4);
    expect(log[3]).toBe(`${other === one ? 'one' : 'two'} elected 3`);
    await other.close();
    expect(leaders()).toEqual([]);
    expect(await liveSessions(dev)).toEqual([]);
    expect(JSON.parse(await rawKey(dev, 'service/leader'))[0].Session).toBeUndefined();
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(0));
  });
});

describe('close()', () => {
  it('leaves no session and no held request, whether the lock was held or still being acquired', async () => {
    dev = await startDevServer({ port: 0 });
    const client = clientOf(dev);
    const held = await lock(client, 'locks/close');
    const waiting = new Lock(client, 'locks/close');
    const acquiring = waiting.acquire();
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2));
    expect(await liveSessions(dev)).toHaveLength(2);
    const closing = waiting.close();
    expect(waiting.close()).toBe(closing);
    await expect(acquiring).rejects.toBeInstanceOf(ClosedError);
    await closing;
    await held.close();
    expect(held.state).toBe('closed');
    expect(await liveSessions(dev)).toEqual([]);
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(0));
    expect(JSON.parse(await rawKey(dev, 'locks/close'))[0].Session).toBeUndefined();
  });
});
