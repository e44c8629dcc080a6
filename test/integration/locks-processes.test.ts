/**
 * Two processes contend for one lock over loopback against the dev server (consul-semantics §L8): exactly
 * one holds it at any time, across a session expiry and across a leader-election window. Time runs
 * TIME_SCALE times faster for the children and the server alike, so a 10 s TTL takes 2 real seconds.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';

const TIME_SCALE = 5;
const KEY = 'locks/job';

interface LockEvent {
  name: string;
  event: string;
  session?: string;
  lockIndex?: number;
  reason?: string;
  code?: string;
}

interface Holder {
  name: string;
  child: ChildProcessWithoutNullStreams;
  events: LockEvent[];
  send(command: string): void;
  /** Resolves with the first event of this holder, at or after position `from`, that matches. */
  next(match: (event: LockEvent) => boolean, from?: number): Promise<LockEvent>;
  exited: Promise<number | null>;
}

let dev: DevServer | undefined;
const holders: Holder[] = [];

afterEach(async () => {
  for (const holder of holders.splice(0)) {
    holder.child.kill('SIGCONT');
    holder.child.kill('SIGKILL');
    await holder.exited;
  }
  await dev?.close();
  dev = undefined;
});

/** A dev server whose clock runs TIME_SCALE times faster than the wall clock. */
async function scaledDevServer(): Promise<DevServer> {
  const startMs = Date.now();
  return startDevServer({ port: 0, jitter: false, now: () => startMs + (Date.now() - startMs) * TIME_SCALE });
}

function startHolder(address: string, name: string): Holder {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/lock-holder.ts', address, KEY, name, String(TIME_SCALE)],
    { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const events: LockEvent[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) events.push(JSON.parse(line) as LockEvent);
    for (const wake of [...waiters]) wake();
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const holder: Holder = {
    name,
    child,
    events,
    send: (command) => child.stdin.write(`${command}\n`),
    next: (match, from = 0) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.slice(from).find(match);
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        void exited.then((code) => {
          if (waiters.delete(check)) reject(new Error(`${name} exited (${code}) first: ${stderr}`));
        });
        check();
      }),
    exited,
  };
  holders.push(holder);
  return holder;
}

/** The key's Session on the server, and the live sessions' names. */
async function serverView(address: string): Promise<{ holder: string | undefined; sessions: string[] }> {
  const kv = (await (await fetch(`${address}/v1/kv/${KEY}`)).json()) as Array<{ Session?: string }>;
  const sessions = (await (await fetch(`${address}/v1/session/list`)).json()) as Array<{
    ID: string;
    Name: string;
  }>;
  return { holder: kv[0]?.Session, sessions: sessions.map((s) => s.Name).sort() };
}

async function sessionsNamed(address: string): Promise<Map<string, string>> {
  const sessions = (await (await fetch(`${address}/v1/session/list`)).json()) as Array<{
    ID: string;
    Name: string;
  }>;
  return new Map(sessions.map((s) => [s.ID, s.Name]));
}

describe('two processes contend for one lock (consul-semantics §L8)', () => {
  it('hands the lock over when the holder stops renewing, and the old holder learns it lost it as soon as it runs', async () => {
    dev = await scaledDevServer();
    const a = startHolder(dev.address, 'a');
    const acquiredA = await a.next((e) => e.event === 'acquired');
    expect(acquiredA.lockIndex).toBe(1);
    const b = startHolder(dev.address, 'b');
    // b has its session and waits on the key; a's monitor and b's wait are both held.
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2), { timeout: 20_000 });
    expect(await serverView(dev.address)).toEqual({ holder: acquiredA.session, sessions: ['a', 'b'] });

    // a freezes: no renewals, no reads. Its session expires after 2 × TTL; b acquires after a's lock-delay.
    a.child.kill('SIGSTOP');
    const acquiredB = await b.next((e) => e.event === 'acquired');
    expect(acquiredB.lockIndex).toBe(2);
    const view = await serverView(dev.address);
    expect(view).toEqual({ holder: acquiredB.session, sessions: ['b'] });
    // While a was frozen it printed nothing, so it never acted on the lock after b took it.
    expect(a.events.map((e) => e.event)).toEqual(['acquired']);

    const resumedAt = a.events.length;
    a.child.kill('SIGCONT');
    const lost = await a.next((e) => e.event === 'lost', resumedAt);
    expect(lost.reason).toMatch(/^(session-changed|session-invalidated)$/);
    expect(a.events.slice(resumedAt).filter((e) => e.event !== 'error')[0]).toEqual(lost);
    expect(b.events.filter((e) => e.event === 'lost')).toEqual([]);
    expect((await serverView(dev.address)).holder).toBe(acquiredB.session);

    a.send('close');
    b.send('close');
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    expect(await serverView(dev.address)).toEqual({ holder: undefined, sessions: [] });
  }, 60_000);

  it('keeps the lock with its holder through a leader-election window of 500 No cluster leader answers', async () => {
    dev = await scaledDevServer();
    const a = startHolder(dev.address, 'a');
    const acquiredA = await a.next((e) => e.event === 'acquired');
    const b = startHolder(dev.address, 'b');
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2), { timeout: 20_000 });
    const names = await sessionsNamed(dev.address);
    expect([...names.values()].sort()).toEqual(['a', 'b']);
    const sessionA = acquiredA.session as string;
    const renewalsA = renewalCounter(dev, sessionA);
    const sessionB = [...names.keys()].find((id) => id !== sessionA) as string;
    const renewalsB = renewalCounter(dev, sessionB);

    // No leader until a renewal of each session has been refused (renewals come every TTL/2 = 5 s): each is
    // retried every second, and the TTL since the last success (10 s) is never reached.
    dev.agent.setLeader(false);
    const failedAt = { a: a.events.length, b: b.events.length };
    const noLeader = (e: LockEvent) => e.event === 'error' && e.code === 'CONSUL_NO_LEADER';
    await Promise.all([a.next(noLeader, failedAt.a), b.next(noLeader, failedAt.b)]);
    // consul-semantics §S9.5: the window refuses new requests; a's monitor and b's wait stay held.
    expect(dev.stats().blockingHeld).toBe(2);
    const stale = (await (await fetch(`${dev.address}/v1/kv/${KEY}?stale`)).json()) as Array<{
      Session?: string;
    }>;
    expect(stale[0]?.Session).toBe(sessionA);
    dev.agent.setLeader(true);

    // After the window: both renew again, a still holds and b still waits.
    const renewedAfter = { a: renewalsA(), b: renewalsB() };
    await vi.waitFor(() => expect(renewalsA()).toBeGreaterThan(renewedAfter.a + 1), { timeout: 20_000 });
    await vi.waitFor(() => expect(renewalsB()).toBeGreaterThan(renewedAfter.b), { timeout: 20_000 });
    expect(a.events.filter((e) => e.event === 'lost')).toEqual([]);
    expect(b.events.filter((e) => e.event === 'acquired')).toEqual([]);
    expect(await serverView(dev.address)).toEqual({ holder: sessionA, sessions: ['a', 'b'] });

    // The lock still changes hands cleanly: a releases, b acquires.
    a.send('release');
    const acquiredB = await b.next((e) => e.event === 'acquired');
    expect(acquiredB.lockIndex).toBe(2);
    a.send('close');
    b.send('close');
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    expect(await serverView(dev.address)).toEqual({ holder: undefined, sessions: [] });
  }, 60_000);
});

const COUNTED = 1_000_000;

/**
 * Counts a session's served renewals: an `index` fault on a write changes nothing in its answer (writes
 * carry no index headers) but is used up by each renewal the server serves; a refused one takes none.
 */
function renewalCounter(server: DevServer, session: string): () => number {
  const rule = server.faults.inject({
    fault: { kind: 'index', index: 'missing' },
    times: COUNTED,
    match: { method: 'PUT', path: `/v1/session/renew/${session}` },
  });
  return () => COUNTED - rule.remaining;
}
