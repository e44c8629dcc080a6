/**
 * `consul-hotreload services` in a child process (`node --import tsx src/cli/main.ts …`) against the
 * embedded dev server: the catalog list, one service's instances with their health, JSON output, and a
 * watch that prints changes and exits 0 on SIGINT with nothing left open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { killAll, runCli, startCli } from '../helpers/cli-process.js';
import { ManualClock } from '../helpers/manual-clock.js';

let server: DevServer | undefined;

async function startWithServices(): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, clock: new ManualClock() });
  const { agent } = server;
  agent.registerService({
    Name: 'web',
    ID: 'web-1',
    Address: '10.0.0.5',
    Port: 8081,
    Tags: ['v1'],
    Check: { TTL: '30s', Status: 'passing' },
  });
  agent.registerService({ Name: 'web', ID: 'web-2', Port: 8082, Check: { TTL: '30s', Status: 'critical' } });
  agent.registerService({ Name: 'db', ID: 'db-1', Port: 5432, Tags: ['primary'] });
  return server;
}

afterEach(async () => {
  killAll();
  await server?.close();
  server = undefined;
});

describe('consul-hotreload services', () => {
  it('lists every service with its tags, as text and as JSON', async () => {
    const dev = await startWithServices();
    const [text, json] = await Promise.all([
      runCli(['services', '--address', dev.address]),
      runCli(['services', '--json', '--address', dev.address]),
    ]);
    expect(text).toEqual({ code: 0, stdout: 'db   [primary]\nweb  [v1]\n', stderr: '' });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ db: ['primary'], web: ['v1'] });
  });

  it('lists the instances of one service with their health, only passing ones with --passing, only tagged ones with --tag', async () => {
    const dev = await startWithServices();
    const [all, passing, json, none, tagged, untagged] = await Promise.all([
      runCli(['services', '--address', dev.address, 'web']),
      runCli(['services', '--passing', '--address', dev.address, 'web']),
      runCli(['services', '--json', '--passing', '--address', dev.address, 'web']),
      runCli(['services', '--address', dev.address, 'nothing']),
      runCli(['services', '--tag', 'V1', '--address', dev.address, 'web']),
      runCli(['services', '--tag', 'v1', '--tag', 'v2', '--address', dev.address, 'web']),
    ]);
    expect(all).toEqual({
      code: 0,
      stdout:
        'web-1  10.0.0.5:8081  passing  node node-1  tags v1\nweb-2  127.0.0.1:8082  critical  node node-1\n',
      stderr: '',
    });
    expect(passing.stdout).toBe('web-1  10.0.0.5:8081  passing  node node-1  tags v1\n');
    expect(JSON.parse(json.stdout)).toMatchObject([
      { id: 'web-1', address: '10.0.0.5', port: 8081, status: 'passing', tags: ['v1'] },
    ]);
    expect(none).toEqual({ code: 0, stdout: '', stderr: '' });
    // ?tag matches case-insensitively, and repeated tags must all match.
    expect(tagged.stdout).toBe('web-1  10.0.0.5:8081  passing  node node-1  tags v1\n');
    expect(untagged).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('refuses --watch without a name (exit 1)', async () => {
    const dev = await startWithServices();
    const result = await runCli(['services', '--watch', '--address', dev.address]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: --watch needs a service name\nRun "consul-hotreload services --help" for usage.\n',
    });
  });

  it('follows a service until SIGINT, one line per change, then exits 0 with nothing left open', async () => {
    const dev = await startWithServices();
    const cli = startCli(['services', '--watch', '--passing', '--address', dev.address, 'web']);
    await cli.untilStdout('watching web from index');
    dev.agent.registerService({
      Name: 'web',
      ID: 'web-3',
      Port: 8083,
      Check: { TTL: '30s', Status: 'passing' },
    });
    await cli.untilStdout('added web-3');
    const fail = await fetch(`${dev.address}/v1/agent/check/fail/service:web-1`, { method: 'PUT' });
    expect(fail.status).toBe(200);
    await cli.untilStdout('removed web-1');
    cli.child.kill('SIGINT');
    expect(await cli.exit).toBe(0);
    expect(cli.stdout().replace(/index \d+/g, 'index N')).toBe(
      [
        'watching web from index N: 1 instance',
        '  web-1  10.0.0.5:8081  passing  node node-1  tags v1',
        '[index N] added web-3  127.0.0.1:8083  passing',
        // A ?passing answer no longer holds it: it is shown as it was last listed.
        '[index N] removed web-1  10.0.0.5:8081  passing',
        'stopped',
        '',
      ].join('\n'),
    );
    expect(cli.stderr()).toBe('');
  }, 30_000);
});
