/**
 * The real `consul-hotreload` bin in a child process (`node --import tsx src/cli/main.ts …`) against the
 * embedded dev server: exit codes, stdout and stderr as a shell sees them, CONSUL_* variables, and a watch
 * stopped by a real SIGINT that exits only once everything is closed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { killAll, ROOT, runCli, startCli } from '../helpers/cli-process.js';
import { closedPortAddress } from '../unit/cli/cli-io.js';

let server: DevServer | undefined;

afterEach(async () => {
  killAll();
  await server?.close();
  server = undefined;
});

describe('consul-hotreload bin', () => {
  it('writes with put and reads back with get, finding Consul through CONSUL_HTTP_ADDR', async () => {
    server = await startDevServer({ jitter: false });
    const env = { CONSUL_HTTP_ADDR: server.address };
    expect(await runCli(['put', '--flags', '7', 'app/flag', 'on'], env)).toEqual({
      code: 0,
      stdout: 'true\n',
      stderr: '',
    });
    const entry = server.kv.get('app/flag');
    const got = await runCli(['get', '--json', 'app/flag'], env);
    expect(got.code).toBe(0);
    expect(got.stderr).toBe('');
    expect(JSON.parse(got.stdout)).toEqual({
      key: 'app/flag',
      value: 'on',
      flags: 7,
      createIndex: entry?.createIndex,
      modifyIndex: entry?.modifyIndex,
      lockIndex: 0,
      session: null,
      index: entry?.modifyIndex,
    });
  });

  it('exits 1 for a missing key and 2 when nothing listens at the address', async () => {
    server = await startDevServer({ jitter: false });
    const address = await closedPortAddress();
    const [missing, unreachable] = await Promise.all([
      runCli(['get', '--address', server.address, 'app/missing']),
      runCli(['get', 'app/flag'], { CONSUL_HTTP_ADDR: address }),
    ]);
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: key app/missing does not exist (index ${server.kv.index()})\n`,
    });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stdout).toBe('');
    expect(unreachable.stderr).toBe(
      `error: kv.get app/flag: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${new URL(address).port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('follows a key until SIGINT, then prints the final cost and exits 0 with nothing left open', async () => {
    server = await startDevServer({ jitter: false, seed: { 'app/flag': 'on' } });
    const cli = startCli([
      'watch',
      '--address',
      server.address,
      '--stats',
      '--min-interval',
      '0',
      'app/flag',
    ]);
    await cli.untilStdout('watching app/flag from index 2: "on"\n');
    const index = server.kv.put('app/flag', 'off');
    await cli.untilStdout('stats:');
    cli.child.kill('SIGINT');
    // The process ends on its own only when the watcher closed every socket and timer.
    expect(await cli.exit).toBe(0);
    const lines = cli.stdout().trimEnd().split('\n');
    expect(lines.map((line) => line.replace(/bytes=\d+/, 'bytes=N'))).toEqual([
      'watching app/flag from index 2: "on"',
      `[index ${index}] updated app/flag = "off" (was "on")`,
      '  stats: requests=2 changes=2 spurious=0 errors=0 bytes=N',
      'stopped: requests=3 changes=2 spurious=0 errors=0 bytes=N',
    ]);
    expect(cli.stderr()).toBe('');
  });

  it('validates a prefix against a TypeScript schema module when run under tsx', async () => {
    server = await startDevServer({ jitter: false, seed: { 'cfg/name': '"ab"' } });
    const args = [
      'validate',
      '--address',
      server.address,
      '--schema',
      'test/unit/cli/fixtures/named-schema.ts',
    ];
    const [valid, invalid] = await Promise.all([
      runCli([...args, 'cfg/']),
      runCli([...args, '--export', 'strict', 'cfg/']),
    ]);
    expect(valid).toEqual({ code: 0, stdout: 'cfg/: valid\n', stderr: '' });
    expect(invalid).toEqual({
      code: 1,
      stdout:
        'cfg/: invalid, 1 problem\n  - cfg/name at name: Too small: expected string to have >=3 characters (found "ab")\n',
      stderr: '',
    });
  });

  it('prints the version of package.json with --version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('exits 1 and points at --help for an unknown flag', async () => {
    expect(await runCli(['put', '--nope', 'k', 'v'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Unknown option '--nope'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- "--nope"\nRun "consul-hotreload put --help" for usage.\n`,
    });
  });
});
