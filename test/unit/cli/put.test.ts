/**
 * `consul-hotreload put`, run in-process with a recording io against the embedded dev server.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP, runPut } from '../../../src/cli/put.js';
import type { DevServer } from '../../../src/devserver/server.js';
import { closedPortAddress, RecordingIo, useCommandFixtures } from './cli-io.js';

const fixtures = useCommandFixtures();

const start = (): Promise<DevServer> => fixtures.startServer({ jitter: false, seed: { 'app/flag': 'on' } });

describe('put', () => {
  it('writes the value and prints true', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, 'app/flag', 'off'], io)).toBe(0);
    expect(io.out).toBe('true\n');
    expect(io.err).toBe('');
    expect(s.kv.get('app/flag')?.value?.toString()).toBe('off');
  });

  it('stores the flags given with --flags', async () => {
    const s = await start();
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, '--flags', '42', 'app/new', 'x'], io)).toBe(0);
    expect(s.kv.get('app/new')).toMatchObject({ flags: 42 });
  });

  it('stores the bytes of a file given as @file', async () => {
    const s = await start();
    const tempDir = await fixtures.tempDir('cli-put-');
    const file = join(tempDir, 'value.bin');
    await writeFile(file, Buffer.from([0, 255, 10]));
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, 'app/bin', `@${file}`], io)).toBe(0);
    expect(s.kv.get('app/bin')?.value).toEqual(Buffer.from([0, 255, 10]));
  });

  it('prints true for a check-and-set on the current ModifyIndex', async () => {
    const s = await start();
    const index = s.kv.get('app/flag')?.modifyIndex;
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, '--cas', String(index), 'app/flag', 'off'], io)).toBe(0);
    expect(io.out).toBe('true\n');
  });

  it('prints false and exits 1 when the check-and-set fails, leaving the value alone', async () => {
    const s = await start();
    const io = new RecordingIo();
    // --cas 0 writes only a key that does not exist.
    expect(await runPut(['--address', s.address, '--cas', '0', 'app/flag', 'off'], io)).toBe(1);
    expect(io.out).toBe('false\n');
    expect(io.err).toBe('');
    expect(s.kv.get('app/flag')?.value?.toString()).toBe('on');
  });

  it('exits 1 without writing when the value file cannot be read', async () => {
    const s = await start();
    const before = s.stats().requests;
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, 'app/flag', '@/nonexistent/value'], io)).toBe(1);
    expect(io.err).toBe(
      "error: cannot read value file /nonexistent/value: ENOENT: no such file or directory, open '/nonexistent/value'\n",
    );
    expect(s.stats().requests).toBe(before);
  });

  it('exits 1 when a value over 512 KiB is refused before sending', async () => {
    const s = await start();
    const before = s.stats().requests;
    const io = new RecordingIo();
    expect(await runPut(['--address', s.address, 'app/big', 'x'.repeat(524_289)], io)).toBe(1);
    expect(io.err).toBe(
      "error: kv.put app/big: value is 524289 bytes, over Consul's 524288-byte kv_max_value_size; store less per key\n",
    );
    expect(s.stats().requests).toBe(before);
  });

  it('exits 1 and names the flag for a bad --flags or --cas', async () => {
    const flags = new RecordingIo();
    expect(await runPut(['--flags', '1.5', 'k', 'v'], flags)).toBe(1);
    expect(flags.err).toBe(
      'error: --flags must be a non-negative integer, got "1.5"\nRun "consul-hotreload put --help" for usage.\n',
    );
    const cas = new RecordingIo();
    expect(await runPut(['--cas=-1', 'k', 'v'], cas)).toBe(1);
    expect(cas.err).toBe(
      'error: --cas must be a non-negative integer, got "-1"\nRun "consul-hotreload put --help" for usage.\n',
    );
  });

  it('exits 1 when the value is missing', async () => {
    const io = new RecordingIo();
    expect(await runPut(['app/flag'], io)).toBe(1);
    expect(io.err).toBe('error: missing <value|@file>\nRun "consul-hotreload put --help" for usage.\n');
  });

  it('exits 2 with a clear message when nothing listens at the address', async () => {
    const address = await closedPortAddress();
    const port = new URL(address).port;
    const io = new RecordingIo();
    expect(await runPut(['--address', address, 'app/flag', 'off'], io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      `error: kv.put app/flag: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('prints its help with --help and exits 0', async () => {
    const io = new RecordingIo();
    expect(await runPut(['-h'], io)).toBe(0);
    expect(io.out).toBe(HELP);
  });
});
