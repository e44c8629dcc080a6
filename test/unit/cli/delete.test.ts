/**
 * `consul-hotreload delete`, run in-process with a recording io against the embedded dev server.
 */
import { describe, expect, it } from 'vitest';
import { HELP, runDelete } from '../../../src/cli/delete.js';
import type { DevServer } from '../../../src/devserver/server.js';
import { closedPortAddress, RecordingIo, useCommandFixtures } from './cli-io.js';

const fixtures = useCommandFixtures();

const SEED = { 'app/flag': 'on', 'app/db/port': '5432', apple: 'red', other: 'x' };

const start = (): Promise<DevServer> => fixtures.startServer({ jitter: false, seed: SEED });

/** The seeded keys still stored. */
function present(s: DevServer): string[] {
  return Object.keys(SEED).filter((key) => s.kv.get(key) !== undefined);
}

describe('delete', () => {
  it('deletes one key and prints true', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, 'app/flag'], io)).toBe(0);
    expect(io.out).toBe('true\n');
    expect(io.err).toBe('');
    expect(present(s)).toEqual(['app/db/port', 'apple', 'other']);
  });

  it('counts a key that does not exist as deleted', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, 'app/missing'], io)).toBe(0);
    expect(io.out).toBe('true\n');
    expect(present(s)).toEqual(Object.keys(SEED));
  });

  it('deletes only the key itself without --recurse, even when it names a folder', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, 'app'], io)).toBe(0);
    expect(present(s)).toEqual(Object.keys(SEED));
  });

  it('deletes every key under a prefix with --recurse, by raw string match', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, '--recurse', 'app'], io)).toBe(0);
    expect(io.out).toBe('true\n');
    // `app` matches `apple` too: a folder is deleted with `app/`.
    expect(present(s)).toEqual(['other']);
  });

  it("empties the whole store only with an explicit --recurse ''", async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, '--recurse', ''], io)).toBe(0);
    expect(io.out).toBe('true\n');
    expect(present(s)).toEqual([]);
  });

  it('refuses an empty key without --recurse before sending anything, and says how to empty the store', async () => {
    const s = await start();
    const before = s.stats().requests;
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, ''], io)).toBe(1);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      'error: the key must not be empty; to delete every key in the KV store, say so with --recurse \'\'\nRun "consul-hotreload delete --help" for usage.\n',
    );
    expect(s.stats().requests).toBe(before);
    expect(present(s)).toEqual(Object.keys(SEED));
  });

  it('exits 1 without a key, naming <prefix> with --recurse', async () => {
    const none = new RecordingIo();
    expect(await runDelete([], none)).toBe(1);
    expect(none.err).toBe('error: missing <key>\nRun "consul-hotreload delete --help" for usage.\n');
    const recurse = new RecordingIo();
    expect(await runDelete(['--recurse'], recurse)).toBe(1);
    expect(recurse.err).toBe('error: missing <prefix>\nRun "consul-hotreload delete --help" for usage.\n');
  });

  it('exits 1 for a key Consul cannot address', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runDelete(['--address', s.address, '/app/flag'], io)).toBe(1);
    expect(io.err).toBe(`error: kv.delete "/app/flag": the key must not begin with '/'\n`);
  });

  it('exits 2 when Consul refuses the token, without printing it', async () => {
    const s = await fixtures.startServer({ jitter: false, seed: SEED, aclToken: 'the-right-token' });
    const io = new RecordingIo({ env: { CONSUL_HTTP_TOKEN: 'a-wrong-secret' } });
    expect(await runDelete(['--address', s.address, 'app/flag'], io)).toBe(2);
    expect(io.err).toBe(
      'error: kv.delete app/flag: 403 ACL not found (Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)\n',
    );
    expect(io.out + io.err).not.toContain('a-wrong-secret');
    expect(present(s)).toEqual(Object.keys(SEED));
  });

  it('exits 2 when nothing listens at the address', async () => {
    const address = await closedPortAddress();
    const io = new RecordingIo();
    expect(await runDelete(['--address', address, 'app/flag'], io)).toBe(2);
    expect(io.err).toBe(
      `error: kv.delete app/flag: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${new URL(address).port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it("prints its help with --help, saying that emptying the store takes --recurse ''", async () => {
    const io = new RecordingIo();
    expect(await runDelete(['--help'], io)).toBe(0);
    expect(io.out).toBe(HELP);
    expect(HELP).toContain(
      "Deleting the whole KV store takes an explicit empty prefix: delete --recurse ''.",
    );
  });
});
