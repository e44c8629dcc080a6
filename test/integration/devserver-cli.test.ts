import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEV_USAGE, runDev } from '../../src/cli/dev.js';
import { main } from '../../src/cli/main.js';
import { httpGet } from '../helpers/http.js';

function captureIo() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (text: string) => {
        out.stdout += text;
      },
      stderr: (text: string) => {
        out.stderr += text;
      },
    },
  };
}

let child: ChildProcess | undefined;
let tempDir: string | undefined;

afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  child = undefined;
  if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});

describe('consul-hotreload CLI', () => {
  it('prints the command list for --help and exits 0', async () => {
    const { out, io } = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    expect(out.stdout).toContain('Usage: consul-hotreload <command> [options]');
    expect(out.stdout).toContain('  dev       run an embedded Consul-compatible KV dev server');
    for (const name of ['get', 'put', 'watch', 'validate']) expect(out.stdout).toContain(`  ${name} `);
  });

  it('exits 1 with the usage for no command or an unknown one', async () => {
    const none = captureIo();
    expect(await main([], none.io)).toBe(1);
    expect(none.out.stderr).toContain('Usage: consul-hotreload');
    const unknown = captureIo();
    expect(await main(['frobnicate'], unknown.io)).toBe(1);
    expect(unknown.out.stderr).toContain('consul-hotreload: unknown command "frobnicate"');
  });

  it('documents the dev options and the chaos spec in dev --help', async () => {
    const { out, io } = captureIo();
    expect(await main(['dev', '--help'], io)).toBe(0);
    expect(out.stdout).toBe(DEV_USAGE);
    expect(DEV_USAGE).toContain('--chaos <spec>');
    expect(DEV_USAGE).toContain('status=500:3,hang:1');
  });

  it.each([
    [['--port', 'abc'], '--port must be an integer from 0 to 65535, got "abc"'],
    [['--chaos', 'boom'], 'invalid --chaos item "boom"'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--token', ''], '--token must not be empty'],
  ])('exits 1 with the usage for dev %j', async (argv, message) => {
    const { out, io } = captureIo();
    expect(await main(['dev', ...argv], io)).toBe(1);
    expect(out.stderr).toContain(message);
    expect(out.stderr).toContain('Usage: consul-hotreload dev');
  });

  it('exits 1 when the seed file is missing, not JSON or not a seed', async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'devserver-cli-'));
    const notJson = join(tempDir, 'not.json');
    const notSeed = join(tempDir, 'bad-seed.json');
    await writeFile(notJson, '{oops');
    await writeFile(notSeed, JSON.stringify([{ key: '', value: '' }]));
    const cases: Array<[string, string]> = [
      ['/nonexistent/seed.json', 'cannot read --seed file /nonexistent/seed.json'],
      [notJson, `--seed file ${notJson} is not JSON`],
      [notSeed, 'invalid dev server seed: item 0 needs a non-empty string "key"'],
    ];
    for (const [file, message] of cases) {
      const { out, io } = captureIo();
      expect(await main(['dev', '--port', '0', '--seed', file], io)).toBe(1);
      expect(out.stderr).toContain(message);
    }
  });

  it("exits 1 with the register endpoint's text when a --services entry is refused", async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'devserver-cli-'));
    const notArray = join(tempDir, 'object.json');
    const badEntry = join(tempDir, 'bad-entry.json');
    await writeFile(notArray, JSON.stringify({ Name: 'web' }));
    await writeFile(badEntry, JSON.stringify([{ Name: 'web' }, { ID: 'api-1', Port: 80 }]));
    const cases: Array<[string, string]> = [
      [notArray, 'invalid dev server services: expected an array of service definitions'],
      [badEntry, 'invalid dev server services: entry 1 (api-1): Missing service name'],
    ];
    for (const [file, message] of cases) {
      const { out, io } = captureIo();
      expect(await main(['dev', '--port', '0', '--services', file], io)).toBe(1);
      expect(out.stderr).toBe(`consul-hotreload dev: ${message}\n`);
      expect(out.stdout).toBe('');
    }
  });

  it('registers the --services file at start and prints where the agent API is', async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'devserver-cli-'));
    const servicesFile = join(tempDir, 'services.json');
    await writeFile(
      servicesFile,
      JSON.stringify([
        { Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '30s' } },
        { Name: 'web', ID: 'web-2', Port: 8081, Checks: [{ TTL: '30s' }, { TTL: '30s', Status: 'passing' }] },
        { Name: 'db', Port: 5432 },
      ]),
    );
    const { out, io } = captureIo();
    const stop = new AbortController();
    let onListening: (address: string) => void = () => {};
    const listening = new Promise<string>((resolve) => {
      onListening = resolve;
    });
    const exitCode = runDev(['--port', '0', '--services', servicesFile], io, {
      stop: stop.signal,
      onListening,
    });
    const address = await listening;
    const services = JSON.parse((await httpGet(address, '/v1/agent/services')).text) as Record<
      string,
      { Service: string; Port: number }
    >;
    expect(Object.entries(services).map(([id, { Service, Port }]) => [id, Service, Port])).toEqual([
      ['web-1', 'web', 8080],
      ['web-2', 'web', 8081],
      ['db', 'db', 5432],
    ]);
    const checks = JSON.parse((await httpGet(address, '/v1/agent/checks')).text) as Record<
      string,
      { Status: string }
    >;
    expect(Object.entries(checks).map(([id, { Status }]) => [id, Status])).toEqual([
      ['service:web-1', 'critical'],
      ['service:web-2:1', 'critical'],
      ['service:web-2:2', 'passing'],
    ]);
    stop.abort();
    expect(await exitCode).toBe(0);
    expect(out.stdout).toBe(
      [
        `consul-hotreload dev: Consul-compatible KV server listening on ${address}`,
        `consul-hotreload dev: agent API: ${address}/v1/agent/services`,
        `consul-hotreload dev: web page: ${address}/ui/`,
        'consul-hotreload dev: 3 service(s) registered',
        'consul-hotreload dev: stopped (abort)',
        '',
      ].join('\n'),
    );
    expect(out.stderr).toBe('');
  });

  it('serves until stopped, with seed, token and chaos applied', async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'devserver-cli-'));
    const seedFile = join(tempDir, 'seed.json');
    await writeFile(seedFile, JSON.stringify({ 'app/name': 'demo' }));
    const { out, io } = captureIo();
    const stop = new AbortController();
    let onListening: (address: string) => void = () => {};
    const listening = new Promise<string>((resolve) => {
      onListening = resolve;
    });
    const exitCode = runDev(
      ['--port', '0', '--seed', seedFile, '--token', 't0ken', '--chaos', 'status=503:1'],
      io,
      {
        stop: stop.signal,
        onListening,
      },
    );
    const address = await listening;
    const headers = { 'X-Consul-Token': 't0ken' };
    expect((await httpGet(address, '/v1/kv/app/name', headers)).status).toBe(503);
    expect((await httpGet(address, '/v1/kv/app/name?raw', headers)).text).toBe('demo');
    expect((await httpGet(address, '/v1/kv/app/name')).status).toBe(403);
    stop.abort();
    expect(await exitCode).toBe(0);
    expect(out.stdout).toContain('consul-hotreload dev: stopped (abort)');
    expect(out.stdout).toContain(`listening on ${address}`);
    expect(out.stdout).not.toContain('t0ken');
  });

  it('runs as a process, prints the address and exits 0 on SIGTERM', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--port', '0'], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    const address = await new Promise<string>((resolve, reject) => {
      child?.stdout?.on('data', (chunk: string) => {
        stdout += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child?.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
    });
    expect((await httpGet(address, '/v1/kv/?keys')).text).toBe('[]');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stdout).toContain('consul-hotreload dev: stopped (SIGTERM)');
  });
});
