/**
 * The shared connection flags and the strict parsing helpers of the CLI.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONNECTION_OPTIONS,
  connectionOptions,
  parseChoiceFlag,
  parseCommandLine,
  parseDurationFlag,
  parseUnsignedFlag,
  requirePositionals,
  runCommand,
} from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/output.js';
import { ConfigurationError } from '../../../src/errors.js';
import { RecordingIo } from './cli-io.js';

let tempDir: string | undefined;

async function tempFile(name: string, content: string): Promise<string> {
  tempDir ??= await mkdtemp(join(tmpdir(), 'cli-options-'));
  const path = join(tempDir, name);
  await writeFile(path, content);
  return path;
}

afterEach(async () => {
  if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});

describe('connectionOptions', () => {
  it('maps every connection flag to its client option, reading the PEM files', async () => {
    const ca = await tempFile('ca.pem', 'CA PEM');
    const cert = await tempFile('cert.pem', 'CERT PEM');
    const key = await tempFile('key.pem', 'KEY PEM');
    const tokenFile = await tempFile('token', 'file-token\n');
    const { values } = parseCommandLine(
      [
        '--address=https://consul.local:8501',
        '--token=flag-token',
        `--token-file=${tokenFile}`,
        '--datacenter=dc2',
        '--namespace=team',
        '--partition=part',
        `--ca-file=${ca}`,
        `--client-cert=${cert}`,
        `--client-key=${key}`,
        '--tls-server-name=consul.internal',
        '--insecure-skip-verify',
      ],
      CONNECTION_OPTIONS,
    );
    const io = new RecordingIo({ env: { CONSUL_HTTP_ADDR: 'ignored:8500' } });
    expect(await connectionOptions(values, io)).toEqual({
      env: { CONSUL_HTTP_ADDR: 'ignored:8500' },
      address: 'https://consul.local:8501',
      token: 'flag-token',
      tokenFile,
      datacenter: 'dc2',
      namespace: 'team',
      partition: 'part',
      tls: {
        ca: Buffer.from('CA PEM'),
        cert: Buffer.from('CERT PEM'),
        key: Buffer.from('KEY PEM'),
        servername: 'consul.internal',
        verify: false,
      },
    });
    expect(io.err).toBe('');
  });

  it('leaves unset flags out, so the CONSUL_* variables apply', async () => {
    const io = new RecordingIo({ env: { CONSUL_HTTP_ADDR: 'consul:8500' } });
    expect(await connectionOptions({}, io)).toEqual({ env: { CONSUL_HTTP_ADDR: 'consul:8500' } });
  });

  it('prints configuration warnings once on stderr', async () => {
    const io = new RecordingIo({ env: { CONSUL_HTTP_SSL: 'maybe' } });
    await connectionOptions({ address: 'http://127.0.0.1:8500', 'insecure-skip-verify': true }, io);
    expect(io.err).toBe(
      [
        'warning: CONSUL_HTTP_SSL is not a boolean (1/0, t/f, true/false); using HTTP',
        'warning: tls options are ignored because the Consul address uses HTTP',
        '',
      ].join('\n'),
    );
  });

  it('fails on an unreadable PEM file, naming the flag', async () => {
    const io = new RecordingIo();
    await expect(connectionOptions({ 'ca-file': '/nonexistent/ca.pem' }, io)).rejects.toThrow(
      "cannot read --ca-file /nonexistent/ca.pem: ENOENT: no such file or directory, open '/nonexistent/ca.pem'",
    );
  });

  it('fails before any request when the token file cannot be read', async () => {
    const io = new RecordingIo();
    const failure = connectionOptions({ 'token-file': '/nonexistent/token' }, io);
    await expect(failure).rejects.toBeInstanceOf(ConfigurationError);
    await expect(failure).rejects.toThrow(
      /^Error loading token file: \/nonexistent\/token \(from the tokenFile option\)/,
    );
  });
});

describe('parsing helpers', () => {
  it('refuses unknown flags and flags without their value', () => {
    expect(() => parseCommandLine(['--nope'], CONNECTION_OPTIONS)).toThrow(UsageError);
    // A negative number after a string flag is its value, so the flag's own range message can say why.
    expect(parseCommandLine(['--timeout', '-5'], CONNECTION_OPTIONS).values.timeout).toBe('-5');
    expect(() =>
      parseDurationFlag(
        parseCommandLine(['--timeout', '-5s'], CONNECTION_OPTIONS).values.timeout,
        '--timeout',
        1,
      ),
    ).toThrow(
      '--timeout must be a duration above 0: milliseconds or a Go duration such as 500ms, 5s or 1m; got "-5s"',
    );
    // A duration a timer cannot wait for is named as such, not as "not a duration".
    expect(() => parseDurationFlag('1000h', '--timeout', 1)).toThrow(
      '--timeout must be at most 2147483647 ms (about 24.8 days); got "1000h"',
    );
    expect(() => parseDurationFlag('5parsecs', '--timeout', 1)).toThrow(
      '--timeout must be a duration above 0',
    );
    // Anything else starting with '-' is still a flag.
    expect(() => parseCommandLine(['--address', '-h'], CONNECTION_OPTIONS)).toThrow(UsageError);
    expect(() => parseCommandLine(['--address'], CONNECTION_OPTIONS)).toThrow(
      "Option '--address <value>' argument missing",
    );
  });

  it('requires exactly the positionals named', () => {
    expect(requirePositionals(['k', 'v'], ['<key>', '<value>'])).toEqual(['k', 'v']);
    expect(() => requirePositionals(['k'], ['<key>', '<value>'])).toThrow('missing <value>');
    expect(() => requirePositionals([], ['<key>', '<value>'])).toThrow('missing <key> <value>');
    expect(() => requirePositionals(['k', 'secret'], ['<key>'])).toThrow(
      'expected <key> only, got 1 more argument(s)',
    );
  });

  it('lets a bracketed placeholder be left out, but not given twice', () => {
    expect(requirePositionals([], ['[<prefix>]'])).toEqual([]);
    expect(requirePositionals(['app/'], ['[<prefix>]'])).toEqual(['app/']);
    expect(() => requirePositionals(['a', 'b'], ['[<prefix>]'])).toThrow(
      'expected [<prefix>] only, got 1 more argument(s)',
    );
  });

  it('reads durations as milliseconds or Go durations', () => {
    expect(parseDurationFlag(undefined, '--timeout', 10_000)).toBe(10_000);
    expect(parseDurationFlag('500', '--timeout', 10_000)).toBe(500);
    expect(parseDurationFlag('1m30s', '--timeout', 10_000)).toBe(90_000);
    expect(parseDurationFlag('0', '--min-interval', 100, true)).toBe(0);
    expect(() => parseDurationFlag('0', '--timeout', 10_000)).toThrow(
      '--timeout must be a duration above 0: milliseconds or a Go duration such as 500ms, 5s or 1m; got "0"',
    );
    expect(() => parseDurationFlag('soon', '--min-interval', 100, true)).toThrow(
      '--min-interval must be a duration: milliseconds or a Go duration such as 500ms, 5s or 1m; got "soon"',
    );
  });

  it('reads unsigned integers and choices', () => {
    expect(parseUnsignedFlag(undefined, '--cas')).toBeUndefined();
    expect(parseUnsignedFlag('0', '--cas')).toBe(0);
    expect(() => parseUnsignedFlag('9007199254740993', '--flags')).toThrow(
      '--flags must be a non-negative integer, got "9007199254740993"',
    );
    expect(parseChoiceFlag(undefined, '--format', ['text', 'json'], 'text')).toBe('text');
    expect(parseChoiceFlag('json', '--format', ['text', 'json'], 'text')).toBe('json');
    expect(() => parseChoiceFlag('xml', '--format', ['text', 'json'], 'text')).toThrow(
      '--format must be one of text, json; got "xml"',
    );
  });
});

describe('runCommand', () => {
  const OPTIONS = { help: { type: 'boolean' }, name: { type: 'string' } } as const;

  it('prints the help for --help without running the command', async () => {
    const io = new RecordingIo();
    const ran: string[] = [];
    const code = await runCommand('demo', ['--help'], io, OPTIONS, 'HELP\n', async () => {
      ran.push('body');
      return 0;
    });
    expect([code, io.out, io.err, ran]).toEqual([0, 'HELP\n', '', []]);
  });

  it("resolves with the command's own exit code, and turns a failure into one error line", async () => {
    const ok = new RecordingIo();
    expect(
      await runCommand('demo', ['--name', 'x', 'p'], ok, OPTIONS, '', async ({ values, positionals }) => {
        ok.stdout(`${values.name} ${positionals.join(',')}\n`);
        return 1;
      }),
    ).toBe(1);
    expect(ok.out).toBe('x p\n');
    const failed = new RecordingIo();
    expect(await runCommand('demo', ['--bogus'], failed, OPTIONS, '', async () => 0)).toBe(1);
    expect(failed.err.split('\n')[1]).toBe('Run "consul-hotreload demo --help" for usage.');
  });
});
