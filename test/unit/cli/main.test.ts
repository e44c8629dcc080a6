/**
 * The `consul-hotreload` dispatcher: its own flags (`--help`, `--version`) and unknown commands.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { RecordingIo } from './cli-io.js';

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('main', () => {
  it.each(['--version', '-v'])('prints the version of package.json with %s and exits 0', async (flag) => {
    const io = new RecordingIo();
    expect(await main([flag], io)).toBe(0);
    expect(io.out).toBe(`${PACKAGE_VERSION}\n`);
    expect(io.err).toBe('');
  });

  it('lists every command and names --version in its help', async () => {
    const io = new RecordingIo();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out).toBe(
      [
        'Usage: consul-hotreload <command> [options]',
        '',
        'Commands:',
        '  dev       run an embedded Consul-compatible KV dev server',
        '  get       print the value of a key',
        '  put       write a value to a key (optionally check-and-set)',
        '  delete    delete a key, or every key under a prefix with --recurse',
        '  keys      list the keys under a prefix',
        '  watch     print the changes of a key or prefix as they happen',
        '  services  list services, or the instances of one and their health',
        '  validate  check the config under a prefix against a zod schema',
        '',
        'Run "consul-hotreload <command> --help" for the options of a command,',
        'and "consul-hotreload --version" (-v) for the version.',
        '',
      ].join('\n'),
    );
  });

  it('prints the help on stderr and exits 1 without a command', async () => {
    const io = new RecordingIo();
    expect(await main([], io)).toBe(1);
    expect(io.out).toBe('');
    expect(io.err).toContain('Usage: consul-hotreload <command> [options]');
  });

  it('exits 1 for an unknown command', async () => {
    const io = new RecordingIo();
    expect(await main(['nope'], io)).toBe(1);
    expect(io.err.split('\n')[0]).toBe('consul-hotreload: unknown command "nope"');
  });
});
