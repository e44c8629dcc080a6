/**
 * Two processes contend for one lock over loopback against the dev server (consul-semantics §L8): exactly
 * one holds it at any time, across a session expiry and across a leader-election window. Time runs
 * TIME_SCALE times faster for the children and the server alike, so a 10 s TTL takes 2 real seconds.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
let proxy: NoLeaderProxy | undefined;
const holders: Holder[] = [];

afterEach(async () => {
  for (const holder of holders.splice(0)) {
    holder.child.kill('SIGCONT');
    holder.child.kill('SIGKILL');
    await holder.exited;
  }
  await proxy?.close();
  proxy = undefined;
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
    proxy = await noLeaderProxy(dev.address);
    const a = startHolder(proxy.address, 'a');
    const acquiredA = await a.next((e) => e.event === 'acquired');
    const b = startHolder(proxy.address, 'b');
    await vi.waitFor(() => expect(dev?.stats().blockingHeld).toBe(2), { timeout: 20_000 });

    // No leader until a renewal of each session has failed (renewals come every TTL/2 = 5 s): each is
    // retried every second, and the TTL since the last success (10 s) is never reached.
    const sessionA = acquiredA.session as string;
    dev.agent.setLeader(false);
    proxy.noLeader(true);
    const failedAt = a.events.length;
    await a.next((e) => e.event === 'error' && e.code === 'CONSUL_NO_LEADER', failedAt);
    await vi.waitFor(() => expect(proxy?.refusedRenewals()).toBe(2), { timeout: 20_000 });
    proxy.noLeader(false);
    dev.agent.setLeader(true);
    expect(proxy.refusedRenewalOf(sessionA)).toBe(true);

    // After the window: a renews again and still holds; b still waits.
    const renewedAfter = proxy.renewals();
    await vi.waitFor(() => expect(proxy?.renewals()).toBeGreaterThan(renewedAfter + 1), { timeout: 20_000 });
    expect(a.events.filter((e) => e.event === 'lost')).toEqual([]);
    expect(b.events.filter((e) => e.event === 'acquired')).toEqual([]);
    const names = await sessionsNamed(dev.address);
    expect((await serverView(dev.address)).holder).toBe(acquiredA.session);
    expect([...names.values()].sort()).toEqual(['a', 'b']);

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

interface NoLeaderProxy {
  address: string;
  /**
   * While on, every KV and session request is answered `500 No cluster leader`, as Consul does without a
   * leader; turning it on also ends the held blocking reads with that answer.
   */
  noLeader(on: boolean): void;
  /** How many sessions had a renewal answered 500. */
  refusedRenewals(): number;
  /** Whether this session had a renewal answered 500. */
  refusedRenewalOf(session: string): boolean;
  /** Session renewals passed through so far. */
  renewals(): number;
  close(): Promise<void>;
}

/**
 * A loopback proxy in front of the dev server. The dev server's `no-leader` window fails catalog and health
 * reads only; real Consul also fails KV and session requests without a leader (consul-semantics §7.4), so
 * the proxy adds that.
 */
async function noLeaderProxy(target: string): Promise<NoLeaderProxy> {
  let noLeader = false;
  const refused = new Set<string>();
  let renewals = 0;
  /** KV requests waiting for the dev server's answer (held blocking reads), each with a way to refuse it. */
  const inFlight = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    if (noLeader && /^\/v1\/(kv|session)\//.test(req.url ?? '')) {
      const renewed = /^\/v1\/session\/renew\/([^?]+)/.exec(req.url ?? '');
      if (renewed !== null) refused.add(renewed[1] as string);
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' }).end('No cluster leader');
      return;
    }
    if (req.url?.startsWith('/v1/session/renew/')) renewals++;
    const upstream = request(
      `${target}${req.url}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    const refuse = (): void => {
      upstream.destroy();
      res.writeHead(500, { 'content-type': 'text/plain' }).end('No cluster leader');
    };
    if (req.url?.startsWith('/v1/kv/')) inFlight.add(refuse);
    upstream.on('response', () => inFlight.delete(refuse));
    upstream.on('error', () => {
      if (!res.headersSent) res.destroy();
    });
    res.on('close', () => {
      inFlight.delete(refuse);
      upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    noLeader: (on) => {
      noLeader = on;
      // Blocking reads held when the leader goes fail too, so the monitor's retries are exercised.
      if (on) for (const refuse of [...inFlight]) refuse();
    },
    refusedRenewals: () => refused.size,
    refusedRenewalOf: (session) => refused.has(session),
    renewals: () => renewals,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
