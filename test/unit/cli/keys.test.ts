/**
 * `consul-hotreload keys`, run in-process with a recording io against the embedded dev server.
 */
import { describe, expect, it } from 'vitest';
import { HELP, runKeys } from '../../../src/cli/keys.js';
import type { DevServer } from '../../../src/devserver/server.js';
import { closedPortAddress, RecordingIo, useCommandFixtures, withHtmlServer } from './cli-io.js';

const fixtures = useCommandFixtures();

const start = (): Promise<DevServer> =>
  fixtures.startServer({
    jitter: false,
    seed: { 'app/flag': 'on', 'app/db/port': '5432', 'app/db/host': 'h', apple: 'red' },
  });

describe('keys', () => {
  it('prints every key under the prefix, one per line, sorted', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runKeys(['--address', s.address, 'app/'], io)).toBe(0);
    expect(io.out).toBe('app/db/host\napp/db/port\napp/flag\n');
    expect(io.err).toBe('');
  });

  it('prints every key of the store without a prefix', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runKeys(['--address', s.address], io)).toBe(0);
    expect(io.out).toBe('app/db/host\napp/db/port\napp/flag\napple\n');
  });

  it('lists one level with --separator /', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runKeys(['--address', s.address, '--separator', '/', 'app/'], io)).toBe(0);
    expect(io.out).toBe('app/db/\napp/flag\n');
  });

  it('prints a JSON array with --json', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runKeys(['--address', s.address, '--json', 'app/db/'], io)).toBe(0);
    expect(io.out).toBe('["app/db/host","app/db/port"]\n');
  });

  it('prints nothing (or [] with --json) and exits 0 when no key matches', async () => {
    const s = await start();
    const text = new RecordingIo();
    expect(await runKeys(['--address', s.address, 'nothing/'], text)).toBe(0);
    expect(text.out).toBe('');
    const json = new RecordingIo();
    expect(await runKeys(['--address', s.address, '--json', 'nothing/'], json)).toBe(0);
    expect(json.out).toBe('[]\n');
  });

  it('exits 1 for two prefixes', async () => {
    const io = new RecordingIo();
    expect(await runKeys(['a/', 'b/'], io)).toBe(1);
    expect(io.err).toBe(
      'error: expected [<prefix>] only, got 1 more argument(s)\nRun "consul-hotreload keys --help" for usage.\n',
    );
  });

  it('exits 2 when the address answers 404 without X-Consul-Index: not a Consul agent', async () => {
    await withHtmlServer(async (address) => {
      const io = new RecordingIo();
      expect(await runKeys(['--address', address, 'app/'], io)).toBe(2);
      expect(io.out).toBe('');
      expect(io.err).toBe(
        `error: not a Consul agent at ${address} (kv.keys app/: answered 404 without the X-Consul-Index header Consul sends on every KV read; check the address option or CONSUL_HTTP_ADDR, or a proxy in front of Consul)\n`,
      );
    });
  });

  it('exits 2 when nothing listens at the address', async () => {
    const address = await closedPortAddress();
    const io = new RecordingIo();
    expect(await runKeys(['--address', address, 'app/'], io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      `error: kv.keys app/: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${new URL(address).port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('prints its help with --help and exits 0', async () => {
    const io = new RecordingIo();
    expect(await runKeys(['--help'], io)).toBe(0);
    expect(io.out).toBe(HELP);
  });
});
