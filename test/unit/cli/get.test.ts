/**
 * `consul-hotreload get`, run in-process with a recording io against the embedded dev server.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP, runGet } from '../../../src/cli/get.js';
import type { DevServer } from '../../../src/devserver/server.js';
import { closedPortAddress, RecordingIo, useCommandFixtures, withHtmlServer } from './cli-io.js';

const TOKEN = 'cli-get-secret-token-7';

const fixtures = useCommandFixtures();

async function start(options: { aclToken?: string } = {}): Promise<DevServer> {
  const server = await fixtures.startServer({
    jitter: false,
    seed: { 'app/flag': 'on', 'app/empty': '', 'app/port': 5432 },
    ...options,
  });
  server.kv.put('app/bin', new Uint8Array([0, 255, 10]), 42);
  return server;
}

describe('get', () => {
  it('prints the value followed by a newline', async () => {
    const { address } = await start();
    const io = new RecordingIo();
    expect(await runGet(['--address', address, 'app/flag'], io)).toBe(0);
    expect(io.out).toBe('on\n');
    expect(io.err).toBe('');
  });

  it('prints an empty line for an empty value', async () => {
    const { address } = await start();
    const io = new RecordingIo();
    expect(await runGet(['--address', address, 'app/empty'], io)).toBe(0);
    expect(io.out).toBe('\n');
  });

  it('prints the whole entry as JSON with its flags and indexes with --json', async () => {
    const s = await start();
    const stored = s.kv.get('app/bin');
    const io = new RecordingIo();
    expect(await runGet(['--address', s.address, '--json', '--base64', 'app/bin'], io)).toBe(0);
    const expected = {
      key: 'app/bin',
      value: 'AP8K',
      flags: 42,
      createIndex: stored?.createIndex,
      modifyIndex: stored?.modifyIndex,
      lockIndex: 0,
      session: null,
      // consul-semantics §3: a single existing key answers with its own ModifyIndex.
      index: stored?.modifyIndex,
    };
    expect(io.out).toBe(`${JSON.stringify(expected, null, 2)}\n`);
  });

  it('prints the value as UTF-8 text in the JSON entry unless --base64 is given', async () => {
    const { address } = await start();
    const io = new RecordingIo();
    expect(await runGet(['--address', address, '--json', 'app/port'], io)).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ key: 'app/port', value: '5432', flags: 0 });
  });

  it('reports a missing key with the index Consul gave and exits 1', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runGet(['--address', s.address, 'app/missing'], io)).toBe(1);
    expect(io.out).toBe('');
    // consul-semantics §3: a missing key reports the whole-KV index.
    expect(io.err).toBe(`error: key app/missing does not exist (index ${s.kv.index()})\n`);
  });

  it('prints the value of a secret-looking key: it was asked for by name', async () => {
    const s = await start();
    s.kv.put('app/db/password', 'hunter2');
    const io = new RecordingIo();
    expect(await runGet(['--address', s.address, 'app/db/password'], io)).toBe(0);
    expect(io.out).toBe('hunter2\n');
    expect(HELP).toContain("The value is printed even when the key's name looks secret");
  });

  it('reads the address from CONSUL_HTTP_ADDR when --address is not given', async () => {
    const { address } = await start();
    const io = new RecordingIo({ env: { CONSUL_HTTP_ADDR: address } });
    expect(await runGet(['app/flag'], io)).toBe(0);
    expect(io.out).toBe('on\n');
  });

  it('sends the token from --token-file and never prints a refused token', async () => {
    const { address } = await start({ aclToken: TOKEN });
    const tempDir = await fixtures.tempDir('cli-get-');
    const tokenFile = join(tempDir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const ok = new RecordingIo();
    expect(await runGet(['--address', address, '--token-file', tokenFile, 'app/flag'], ok)).toBe(0);
    expect(ok.out).toBe('on\n');

    const refused = new RecordingIo({ env: { CONSUL_HTTP_TOKEN: 'wrong-secret-token' } });
    expect(await runGet(['--address', address, 'app/flag'], refused)).toBe(2);
    expect(refused.err).toBe(
      'error: kv.get app/flag: 403 ACL not found (Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)\n',
    );
    expect(refused.err).not.toContain('wrong-secret-token');
  });

  it('exits 2 when the address answers 404 without X-Consul-Index: not a Consul agent', async () => {
    await withHtmlServer(async (address) => {
      const io = new RecordingIo();
      expect(await runGet(['--address', address, 'app/flag'], io)).toBe(2);
      expect(io.out).toBe('');
      expect(io.err).toBe(
        `error: not a Consul agent at ${address} (kv.get app/flag: answered 404 without the X-Consul-Index header Consul sends on every KV read; check the address option or CONSUL_HTTP_ADDR, or a proxy in front of Consul)\n`,
      );
    });
  });

  it('exits 2 with a clear message when nothing listens at the address', async () => {
    const address = await closedPortAddress();
    const port = new URL(address).port;
    const io = new RecordingIo();
    expect(await runGet(['--address', address, 'app/flag'], io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      `error: kv.get app/flag: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('exits 1 and points at --help for an unknown flag', async () => {
    const io = new RecordingIo();
    expect(await runGet(['--bogus', 'app/flag'], io)).toBe(1);
    expect(io.err).toBe(
      `error: Unknown option '--bogus'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- "--bogus"\nRun "consul-hotreload get --help" for usage.\n`,
    );
  });

  it('exits 1 when the key is missing or given twice', async () => {
    const none = new RecordingIo();
    expect(await runGet([], none)).toBe(1);
    expect(none.err).toBe('error: missing <key>\nRun "consul-hotreload get --help" for usage.\n');
    const two = new RecordingIo();
    expect(await runGet(['a', 'b'], two)).toBe(1);
    expect(two.err).toBe(
      'error: expected <key> only, got 1 more argument(s)\nRun "consul-hotreload get --help" for usage.\n',
    );
  });

  it('exits 1 for a key Consul cannot address, before sending anything', async () => {
    const s = await start();
    const before = s.stats().requests;
    const io = new RecordingIo();
    expect(await runGet(['--address', s.address, '/app/flag'], io)).toBe(1);
    expect(io.err).toBe(`error: kv.get "/app/flag": the key must not begin with '/'\n`);
    expect(s.stats().requests).toBe(before);
  });

  it('exits 1 for an address it cannot use', async () => {
    const io = new RecordingIo();
    expect(await runGet(['--address', 'ftp://consul', 'app/flag'], io)).toBe(1);
    expect(io.err).toBe(
      'error: Unknown protocol scheme: ftp (in the address option; use host:port, http://, https:// or unix:///path.sock)\n',
    );
  });

  it('prints its help with --help and exits 0', async () => {
    const io = new RecordingIo();
    expect(await runGet(['--help'], io)).toBe(0);
    expect(io.out).toBe(HELP);
    expect(HELP).toContain('Usage: consul-hotreload get [options] <key>');
    expect(HELP).toContain('2  Consul unreachable');
  });
});
