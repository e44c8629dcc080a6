/**
 * registerService() in a child process against the dev server: a SIGKILLed registrant is reaped after
 * DeregisterCriticalServiceAfter on the dev server's clock, and a SIGTERMed one leaves `?passing` (while
 * still alive), deregisters, and dies of SIGTERM; a second SIGTERM during the drain ends it at once
 * (consul-semantics §S2.6, §S7).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { type ServiceChangeEvent, Watcher } from '../../src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

let dev: DevServer | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await dev?.close();
  dev = undefined;
});

interface Registrant {
  child: ChildProcess;
  /** Resolves when the child printed this line. */
  line(text: string): Promise<void>;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  output(): { stdout: string; stderr: string };
}

function spawnRegistrant(address: string, id: string, flags: string[] = []): Registrant {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/service-registrant.ts', address, id, ...flags],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (code, signal) => resolve([code, signal]));
  });
  const line = async (text: string): Promise<void> => {
    while (!stdout.split('\n').includes(text)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the child exited before printing ${text}: ${stdout} ${stderr}`);
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { child, line, exited, output: () => ({ stdout, stderr }) };
}

describe('a registrant process', () => {
  it('is reaped after DeregisterCriticalServiceAfter once SIGKILL stops its heartbeats (consul-semantics §S2.6)', async () => {
    const clock = new ManualClock();
    dev = await startDevServer({ port: 0, jitter: false, clock });
    const registrant = spawnRegistrant(dev.address, 'web-killed');
    await registrant.line('registered');
    await expect
      .poll(() => dev?.agent.checkStatus('service:web-killed:ttl'), { interval: 5, timeout: 10_000 })
      .toBe('passing');
    registrant.child.kill('SIGKILL');
    expect(await registrant.exited).toEqual([null, 'SIGKILL']);

    clock.advance(1000); // the TTL passes without a heartbeat
    expect(dev.agent.checkStatus('service:web-killed:ttl')).toBe('critical');
    clock.advance(60_000); // critical for exactly the 1-minute crash net: not yet past it
    expect(dev.agent.catalog.service('web-killed')).toBeDefined();
    clock.advance(30_000); // the next 30 s reaper tick finds it past the minute
    expect(dev.agent.catalog.service('web-killed')).toBeUndefined();
  });

  it('drains on SIGTERM, leaving ?passing while still alive, deregisters, then dies of SIGTERM (consul-semantics §S7)', async () => {
    dev = await startDevServer({ port: 0, jitter: false, clock: new ManualClock() });
    const registrant = spawnRegistrant(dev.address, 'web-term', ['--signals', '--drain', '1500']);
    await registrant.line('registered');
    // The discovery watcher an app would run: live list of the passing instances of `web`.
    const watcher = new Watcher({ address: dev.address });
    try {
      const web = watcher.service('web');
      const ids = (): string[] => web.instances.map((instance) => instance.id);
      await web.ready;
      const nextChange = (): Promise<ServiceChangeEvent> =>
        new Promise((resolve) => web.once('change', resolve));
      while (!ids().includes('web-term')) await nextChange();
      registrant.child.kill('SIGTERM');
      const left = await nextChange();
      expect(left.removed.map((instance) => instance.id)).toEqual(['web-term']);
    } finally {
      await watcher.close();
    }
    // Left the passing set through maintenance: still registered, and the process still runs.
    const alive = registrant.child.exitCode === null && registrant.child.signalCode === null;
    const maintenance = dev.agent.checkStatus('_service_maintenance:web-term');
    expect({ alive, maintenance }).toEqual({ alive: true, maintenance: 'critical' });

    const [code, signal] = await registrant.exited;
    expect({ code, signal, stderr: registrant.output().stderr }).toEqual({
      code: null,
      signal: 'SIGTERM',
      stderr: '',
    });
    expect(registrant.output().stdout).toBe('registered\ndraining\nderegistered\n');
    expect(dev.agent.catalog.service('web-term')).toBeUndefined();
  });

  it('leaves the exit to an app that handles SIGTERM itself, after the same drain', async () => {
    dev = await startDevServer({ port: 0, jitter: false, clock: new ManualClock() });
    const registrant = spawnRegistrant(dev.address, 'web-own', ['--own-handler']);
    await registrant.line('registered');
    registrant.child.kill('SIGTERM');
    const [code, signal] = await registrant.exited;
    expect({ code, signal, stderr: registrant.output().stderr }).toEqual({
      code: 42,
      signal: null,
      stderr: '',
    });
    expect(registrant.output().stdout).toBe('registered\ndraining\nderegistered\nown handler done\n');
    expect(dev.agent.catalog.service('web-own')).toBeUndefined();
  });

  it('dies of a second SIGTERM during the drain at once, leaving the instance in maintenance', async () => {
    dev = await startDevServer({ port: 0, jitter: false, clock: new ManualClock() });
    // A drain far longer than the test: only the second signal can end the process soon.
    const registrant = spawnRegistrant(dev.address, 'web-twice', ['--signals', '--drain', '9000']);
    await registrant.line('registered');
    registrant.child.kill('SIGTERM');
    await registrant.line('draining');
    const sentAt = Date.now();
    registrant.child.kill('SIGTERM');
    const [code, signal] = await registrant.exited;
    expect({ code, signal, stderr: registrant.output().stderr }).toEqual({
      code: null,
      signal: 'SIGTERM',
      stderr: '',
    });
    expect(Date.now() - sentAt).toBeLessThan(5_000);
    // The drain never finished: no deregister; the maintenance check keeps it out of ?passing until reaped.
    expect(registrant.output().stdout).toBe('registered\ndraining\n');
    expect(dev.agent.catalog.service('web-twice')).toBeDefined();
    expect(dev.agent.checkStatus('_service_maintenance:web-twice')).toBe('critical');
  });
});
