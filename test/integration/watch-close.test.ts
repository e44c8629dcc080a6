/**
 * Closing the Watcher against the embedded dev server over real loopback sockets: requests in flight end at
 * once, and a process exits by itself after `await watcher.close()` (child-process fixture).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import type { DevServer } from '../../src/devserver/server.js';
import type { ConsulError } from '../../src/errors.js';
import type { StateEvent } from '../../src/watch/types.js';
import { useWatchHarness } from '../helpers/watch.js';

// The watcher's own defaults (5-minute wait), but no minimum interval between requests.
const { start, makeWatcher } = useWatchHarness({ minInterval: 0 });

/** Resolves once `test` passes on the dev server's stats (the server notices closed sockets asynchronously). */
function serverReaches(dev: DevServer, test: (stats: ReturnType<DevServer['stats']>) => boolean) {
  return vi.waitFor(() => expect(test(dev.stats())).toBe(true), { timeout: 5_000, interval: 2 });
}

describe('Watcher.close on the dev server', () => {
  it('ends a held blocking query at once and reports closed to every subscription', async () => {
    const dev = await start({ seed: { 'config/app/a': 1, 'config/flag': 'on' } });
    // The default 5-minute wait: nothing but close() can end the query during the test.
    const w = makeWatcher(dev, { roots: ['config/'] });
    const prefix = w.watch('config/app/', { format: 'json' });
    const flag = w.watch('config/flag');
    const states: StateEvent[] = [];
    prefix.on('state', (event) => states.push(event));
    await Promise.all([prefix.ready, flag.ready]);
    await serverReaches(dev, (stats) => stats.blockingHeld === 1);
    expect(dev.stats().requests).toBe(2);

    const closing = w.close();
    // Idempotent: every call returns the same promise.
    expect(w.close()).toBe(closing);
    await closing;
    expect(w.closed).toBe(true);
    expect([prefix.state, flag.state]).toEqual(['closed', 'closed']);
    expect(states).toEqual([
      { state: 'ready', previous: 'connecting' },
      { state: 'closed', previous: 'ready' },
    ]);
    expect(w.stats()).toEqual({
      queries: [],
      subscriptions: 0,
      decodes: expect.any(Number),
      budget: {
        maxBlockingQueries: 32,
        blockingQueries: 0,
        watchedKeys: 0,
        coalesced: 0,
        waiting: 0,
        replans: 0,
      },
      services: [],
    });
    await serverReaches(dev, (stats) => stats.blockingHeld === 0 && stats.connections === 0);
    // Nothing was sent after close.
    expect(dev.stats().requests).toBe(2);
    expect(() => w.watch('config/other')).toThrow(
      expect.objectContaining({ name: 'ClosedError', code: 'CONSUL_CLOSED' }),
    );
  });

  it('aborts a hung first read and rejects ready with ClosedError', async () => {
    const dev = await start({ seed: { 'config/app/a': 1 } });
    dev.faults.inject({ fault: { kind: 'hang' } });
    const w = makeWatcher(dev);
    const sub = w.watch('config/app/', { format: 'json' });
    const errors: ConsulError[] = [];
    sub.on('error', (error) => errors.push(error));
    await serverReaches(dev, (stats) => stats.requests === 1 && stats.connections === 1);
    await w.close();
    await expect(sub.ready).rejects.toMatchObject({ name: 'ClosedError', code: 'CONSUL_CLOSED' });
    // The abort is not reported as a failed request.
    expect(errors).toEqual([]);
    await serverReaches(dev, (stats) => stats.connections === 0);
    expect(dev.stats().requests).toBe(1);
  });

  it('lets a process exit by itself after closing a watcher and its dev server', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/watch-exit.ts'], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    // A process kept alive by a leaked timer or socket is killed after 10 s, and the test fails.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    clearTimeout(killer);
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(stdout).toBe('ready\nheld\nwatcher closed\nserver closed\n');
  });
});
