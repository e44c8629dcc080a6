/**
 * examples/registration: the Express and Fastify apps registered on the dev server (their /health from the
 * registration, the agent's HTTP check on it, close() deregistering), and main.ts as a child process, with
 * `--once` and on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { start as startExpress } from '../../examples/registration/express-app.js';
import { start as startFastify } from '../../examples/registration/fastify-app.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { ManualClock } from '../helpers/manual-clock.js';

let dev: DevServer | undefined;
afterEach(async () => {
  await dev?.close();
  dev = undefined;
});

describe.each([
  ['express', startExpress],
  ['fastify', startFastify],
] as const)('examples/registration (%s)', (name, start) => {
  it('answers /health from the registration, is probed by the agent, and deregisters on close', async () => {
    const clock = new ManualClock();
    dev = await startDevServer({ port: 0, clock, random: () => 0 });
    const app = await start({ consul: { address: dev.address, env: {} } });
    const id = app.registration.id;
    const health = await fetch(`${app.url}/health`);
    expect([health.status, await health.json()]).toEqual([
      200,
      { status: 'passing', id, registration: 'registered' },
    ]);
    clock.advance(0);
    await dev.agent.runner.idle();
    expect(dev.agent.checkStatus(`service:${id}:http`)).toBe('passing');
    app.healthy.value = false;
    const sick = await fetch(`${app.url}/health`);
    expect([sick.status, await sick.json()]).toEqual([
      503,
      { status: 'critical', id, registration: 'registered', output: 'unhealthy' },
    ]);
    expect(dev.agent.catalog.service(id)?.name).toBe(`hello-${name}`);
    await app.close();
    expect(dev.agent.catalog.service(id)).toBeUndefined();
  });
});

function run(args: string[], signalAfter?: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/registration/main.ts', ...args], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONSUL_HTTP_ADDR: undefined },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (signalAfter !== undefined && stdout.includes(signalAfter)) child.kill('SIGTERM');
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => {
      child.once('exit', (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, stdout, stderr });
      });
    },
  );
}

describe('examples/registration/main.ts', () => {
  it('with --once: registers, shows itself passing, deregisters and exits', async () => {
    const result = await run(['--once']);
    expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
    });
    const lines = result.stdout.trimEnd().split('\n');
    const id = /registered as (\S+) on/.exec(lines[0] ?? '')?.[1];
    expect(lines.slice(3)).toEqual([`passing: ${id}`, 'deregistered: closed']);
  });

  it('on SIGTERM: drains, deregisters and dies of SIGTERM', async () => {
    const result = await run(['--fastify'], "?passing'\n");
    expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({
      code: null,
      signal: 'SIGTERM',
      stderr: '',
    });
  });
});
