/**
 * `consul-hotreload watch`, run in-process with a recording io against the embedded dev server. Every test
 * passes `--min-interval 0`, so the next blocking query starts as soon as an answer is handled and the
 * request counts are exact.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HELP, runWatch } from '../../../src/cli/watch.js';
import { type DevServer, startDevServer } from '../../../src/devserver/server.js';
import { httpGet } from '../../helpers/http.js';
import { closedPortAddress, RecordingIo, withHtmlServer } from './cli-io.js';

let server: DevServer | undefined;
let stop: AbortController | undefined;

async function start(options: { aclToken?: string; seed?: Record<string, string> } = {}): Promise<DevServer> {
  server = await startDevServer({
    jitter: false,
    seed: { 'app/flag': 'on', 'app/port': '5432' },
    ...options,
  });
  return server;
}

/** Starts `watch` with these arguments; `stop.abort()` ends it (and any started with the same `stop`) like Ctrl-C would. */
function watch(args: string[], stopping = new AbortController()): { io: RecordingIo; exit: Promise<number> } {
  stop = stopping;
  const io = new RecordingIo({ signal: stop.signal });
  return { io, exit: runWatch(['--min-interval', '0', ...args], io) };
}

/** Body bytes Consul sends for this read now: what one answer of the watch costs. */
async function bodyBytes(s: DevServer, path: string): Promise<number> {
  return (await httpGet(s.address, path)).body.length;
}

/** Each line of stdout, parsed: what `--json` printed. */
function jsonLines(
  io: RecordingIo,
): Array<Record<string, unknown> & { issues?: Array<{ message: string }> }> {
  return io.out
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
}

afterEach(async () => {
  stop?.abort();
  stop = undefined;
  await server?.close();
  server = undefined;
});

describe('watch', () => {
  it('prints a change to a key as it happens, then what the watch cost when stopped', async () => {
    const s = await start();
    const firstAnswer = await bodyBytes(s, '/v1/kv/app/flag');
    const { io, exit } = watch(['--address', s.address, '--stats', 'app/flag']);
    await io.untilStdout('watching');
    const index = s.kv.put('app/flag', 'off');
    await io.untilStdout('stats:');
    const secondAnswer = await bodyBytes(s, '/v1/kv/app/flag');
    stop?.abort();
    expect(await exit).toBe(0);
    const bytes = firstAnswer + secondAnswer;
    expect(io.out).toBe(
      [
        `watching app/flag from index 2: "on"`,
        `[index ${index}] updated app/flag = "off" (was "on")`,
        // The first answer counts as a change: it brought the key.
        `  stats: requests=2 changes=2 spurious=0 errors=0 bytes=${bytes}`,
        // The third request was waiting for the next change when the watch stopped.
        `stopped: requests=3 changes=2 spurious=0 errors=0 bytes=${bytes}`,
        '',
      ].join('\n'),
    );
    expect(io.err).toBe('');
  });

  it('prints additions, updates and deletions under a prefix as JSON lines with --json', async () => {
    const s = await start();
    const { io, exit } = watch(['--address', s.address, '--json', '--format', 'yaml', 'app/']);
    await io.untilStdout('"ready"');
    s.kv.put('app/port', '5433');
    await io.untilStdout('"updated"');
    s.kv.put('app/debug', 'true');
    await io.untilStdout('"added"');
    s.kv.delete('app/flag');
    await io.untilStdout('"deleted"');
    stop?.abort();
    expect(await exit).toBe(0);
    const lines = jsonLines(io);
    expect(lines).toEqual([
      { type: 'ready', key: 'app/', index: 3, valid: true, current: { flag: 'on', port: 5432 } },
      {
        type: 'change',
        key: 'app/',
        index: 4,
        changes: [{ key: 'app/port', type: 'updated', value: 5433, previous: 5432 }],
      },
      { type: 'change', key: 'app/', index: 5, changes: [{ key: 'app/debug', type: 'added', value: true }] },
      {
        type: 'change',
        key: 'app/',
        index: 6,
        changes: [{ key: 'app/flag', type: 'deleted', previous: 'on' }],
      },
      { type: 'stopped', key: 'app/' },
    ]);
  });

  it('reports a value that does not decode and keeps watching until it is fixed', async () => {
    const s = await start({ seed: { 'app/flag': '[on', 'app/port': '5432' } });
    const { io, exit } = watch(['--address', s.address, '--format', 'json', 'app/flag']);
    await io.untilStdout('problem');
    const index = s.kv.put('app/flag', '"fixed"');
    await io.untilStdout('fixed');
    stop?.abort();
    expect(await exit).toBe(0);
    expect(io.out).toBe(
      [
        'watching app/flag from index 2: no valid value yet',
        '[index 2] invalid config under app/flag: 1 problem; the last good value keeps serving',
        `  - app/flag: not valid JSON: Unexpected token 'o', "[on" is not valid JSON`,
        `[index ${index}] added app/flag = "fixed"`,
        'stopped',
        '',
      ].join('\n'),
    );
  });

  it('prints a key that does not decode as invalid and keeps printing the changes of the other keys', async () => {
    const s = await start({ seed: { 'app/flag': '[on', 'app/port': '5432' } });
    const { io, exit } = watch(['--address', s.address, '--format', 'json', 'app/']);
    await io.untilStdout('watching');
    const broken = s.kv.put('app/port', '{x');
    await io.untilStdout('app/port at port');
    const added = s.kv.put('app/debug', 'true');
    await io.untilStdout('app/debug');
    const fixed = s.kv.put('app/port', '5433');
    await io.untilStdout('5433');
    s.kv.delete('app/debug');
    await io.untilStdout('deleted');
    stop?.abort();
    expect(await exit).toBe(0);
    expect(io.out).toBe(
      [
        // `[on` is not JSON either: the first answer already has one invalid key.
        'watching app/ from index 3: 2 keys, 1 invalid',
        '[index 3] invalid config under app/: 1 problem; the last good value keeps serving',
        // The path inside the prefix's tree, as the engine and validate name it.
        `  - app/flag at flag: not valid JSON: Unexpected token 'o', "[on" is not valid JSON`,
        `[index ${broken}] invalid config under app/: 1 problem; the last good value keeps serving`,
        `  - app/port at port: not valid JSON: Expected property name or '}' in JSON at position 1`,
        `[index ${added}] added app/debug = true`,
        // Reported against the last valid value, not against the bad one in between.
        `[index ${fixed}] updated app/port = 5433 (was 5432)`,
        `[index ${fixed + 1}] deleted app/debug (was true)`,
        'stopped',
        '',
      ].join('\n'),
    );
    expect(io.err).toBe('');
  });

  it('reports invalid keys as their own JSON line and a fixed key against its last valid value', async () => {
    const s = await start();
    const { io, exit } = watch(['--address', s.address, '--json', '--format', 'yaml', 'app/']);
    await io.untilStdout('"ready"');
    // Unclosed flow sequence: not YAML.
    const both = s.kv.put('app/flag', '[on');
    await io.untilStdout('"invalid"');
    const fixed = s.kv.put('app/flag', 'off');
    await io.untilStdout('"off"');
    s.kv.delete('app/flag');
    await io.untilStdout('"deleted"');
    stop?.abort();
    expect(await exit).toBe(0);
    const lines = jsonLines(io);
    const issue = lines[1]?.issues?.[0];
    expect(issue?.message).toMatch(/^not valid YAML: /);
    expect(lines).toEqual([
      { type: 'ready', key: 'app/', index: 3, valid: true, current: { flag: 'on', port: 5432 } },
      {
        type: 'invalid',
        key: 'app/',
        index: both,
        message: `invalid config under app/: 1 problem; the last good value keeps serving\n  - app/flag at flag: ${issue?.message}`,
        issues: [{ key: 'app/flag', path: ['flag'], message: issue?.message }],
      },
      {
        type: 'change',
        key: 'app/',
        index: fixed,
        changes: [{ key: 'app/flag', type: 'updated', value: 'off', previous: 'on' }],
      },
      {
        type: 'change',
        key: 'app/',
        index: fixed + 1,
        changes: [{ key: 'app/flag', type: 'deleted', previous: 'off' }],
      },
      { type: 'stopped', key: 'app/' },
    ]);
  });

  it('leaves a key that never decoded out of current and reports its deletion without a previous value', async () => {
    const s = await start({ seed: { 'app/flag': '[on', 'app/port': '5432' } });
    const { io, exit } = watch(['--address', s.address, '--json', '--format', 'json', 'app/']);
    await io.untilStdout('"ready"');
    const updated = s.kv.put('app/port', '5433');
    await io.untilStdout('5433');
    s.kv.delete('app/flag');
    await io.untilStdout('"deleted"');
    stop?.abort();
    expect(await exit).toBe(0);
    const reason = `not valid JSON: Unexpected token 'o', "[on" is not valid JSON`;
    expect(jsonLines(io)).toEqual([
      { type: 'ready', key: 'app/', index: 3, valid: false, current: { port: 5432 } },
      {
        type: 'invalid',
        key: 'app/',
        index: 3,
        message: `invalid config under app/: 1 problem; the last good value keeps serving\n  - app/flag at flag: ${reason}`,
        issues: [{ key: 'app/flag', path: ['flag'], message: reason }],
      },
      {
        type: 'change',
        key: 'app/',
        index: updated,
        changes: [{ key: 'app/port', type: 'updated', value: 5433, previous: 5432 }],
      },
      { type: 'change', key: 'app/', index: updated + 1, changes: [{ key: 'app/flag', type: 'deleted' }] },
      { type: 'stopped', key: 'app/' },
    ]);
  });

  it('prints the values of secret-looking keys and fields as "[redacted]", in text and JSON', async () => {
    const s = await start();
    s.kv.put('app/db/password', '"hunter2"');
    s.kv.put('app/db/conn', '{"host":"db","authToken":"t0k3n"}');
    const text = watch(['--address', s.address, '--format', 'json', 'app/db/']);
    await text.io.untilStdout('watching');
    // Stopped with the first.
    const json = watch(['--address', s.address, '--json', '--format', 'json', 'app/db/'], stop);
    await json.io.untilStdout('"ready"');
    const index = s.kv.put('app/db/password', '"hunter3"');
    await text.io.untilStdout('updated');
    await json.io.untilStdout('"updated"');
    stop?.abort();
    expect(await text.exit).toBe(0);
    expect(await json.exit).toBe(0);
    expect(text.io.out).toBe(
      [
        `watching app/db/ from index ${index - 1}: 2 keys`,
        `[index ${index}] updated app/db/password = "[redacted]" (was "[redacted]")`,
        'stopped',
        '',
      ].join('\n'),
    );
    expect(jsonLines(json.io)).toEqual([
      {
        type: 'ready',
        key: 'app/db/',
        index: index - 1,
        valid: true,
        current: { password: '[redacted]', conn: { host: 'db', authToken: '[redacted]' } },
      },
      {
        type: 'change',
        key: 'app/db/',
        index,
        changes: [{ key: 'app/db/password', type: 'updated', value: '[redacted]', previous: '[redacted]' }],
      },
      { type: 'stopped', key: 'app/db/' },
    ]);
    expect(text.io.out + json.io.out).not.toMatch(/hunter|t0k3n/);
  });

  it('prints a failed request on stderr and counts it, and goes on watching', async () => {
    const s = await start();
    const { io, exit } = watch(['--address', s.address, '--stats', 'app/flag']);
    await io.untilStdout('watching');
    const off = s.kv.put('app/flag', 'off');
    await io.untilStdout('"off"');
    // The next request has started but cannot have reached the server yet (same thread): it gets the 500.
    s.faults.inject({ fault: { kind: 'status', status: 500, body: 'boom' }, times: 1 });
    await io.untilStderr('retrying');
    const again = s.kv.put('app/flag', 'on again');
    await io.untilStdout('"on again"');
    stop?.abort();
    expect(await exit).toBe(0);
    expect(io.err).toBe(
      'error: kv.get app/flag: 500 boom (Consul server error; reads may be retried) (still watching; retrying)\n',
    );
    // The byte counts are checked exactly by the first test; here the counters are the subject.
    expect(io.out.replace(/bytes=\d+/g, 'bytes=N')).toBe(
      [
        'watching app/flag from index 2: "on"',
        `[index ${off}] updated app/flag = "off" (was "on")`,
        '  stats: requests=2 changes=2 spurious=0 errors=0 bytes=N',
        `[index ${again}] updated app/flag = "on again" (was "off")`,
        '  stats: requests=4 changes=3 spurious=0 errors=1 bytes=N',
        'stopped: requests=5 changes=3 spurious=0 errors=1 bytes=N',
        '',
      ].join('\n'),
    );
  });

  it('stops at once, exit code 0, when its signal has already fired', async () => {
    const s = await start();
    stop = new AbortController();
    stop.abort();
    const io = new RecordingIo({ signal: stop.signal });
    expect(await runWatch(['--address', s.address, 'app/flag'], io)).toBe(0);
    expect(io.out).toBe('stopped\n');
  });

  it('exits 2 at once, naming the address, when the connection is refused', async () => {
    const address = await closedPortAddress();
    const port = new URL(address).port;
    // Without the check the watch would retry until --timeout; 1 minute keeps that from passing unnoticed.
    const { io, exit } = watch(['--address', address, '--timeout', '1m', 'app/']);
    expect(await exit).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      `error: kv.list app/: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('exits 2 when Consul does not answer within --timeout', async () => {
    const s = await start();
    s.faults.inject({ fault: { kind: 'hang' }, times: Number.POSITIVE_INFINITY });
    const { io, exit } = watch(['--address', s.address, '--timeout', '500ms', 'app/']);
    expect(await exit).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe('error: watch app/: no valid value within 500 ms\n');
  });

  it('exits 2 at once when the address answers, but not as a Consul agent', async () => {
    await withHtmlServer(async (address) => {
      const { io, exit } = watch(['--address', address, '--timeout', '1m', 'app/']);
      expect(await exit).toBe(2);
      expect(io.out).toBe('');
      expect(io.err).toBe(
        `error: not a Consul agent at ${address} (kv.list app/: answered 404 without the X-Consul-Index header Consul sends on every KV read; check the address option or CONSUL_HTTP_ADDR, or a proxy in front of Consul)\n`,
      );
    });
  });

  it('exits 2 at once when Consul refuses the token, without printing it', async () => {
    const s = await start({ aclToken: 'the-right-token' });
    const { io, exit } = watch(['--address', s.address, '--token', 'a-wrong-secret', 'app/flag']);
    expect(await exit).toBe(2);
    expect(io.err).toBe(
      'error: kv.get app/flag: 403 ACL not found (Consul does not know this token; check the token option, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)\n',
    );
    expect(io.out + io.err).not.toContain('a-wrong-secret');
  });

  it('exits 1 for an unknown --format', async () => {
    const io = new RecordingIo();
    expect(await runWatch(['--format', 'xml', 'app/'], io)).toBe(1);
    expect(io.err).toBe(
      'error: --format must be one of text, json, yaml; got "xml"\nRun "consul-hotreload watch --help" for usage.\n',
    );
  });

  it('exits 1 for a --wait over 10 minutes', async () => {
    const io = new RecordingIo();
    expect(await runWatch(['--wait', '11m', 'app/'], io)).toBe(1);
    expect(io.err).toBe(
      "error: Watcher: wait must be between 1 ms and 10 minutes (Consul's max_query_time); got 660000 ms\n",
    );
  });

  it('exits 1 without a key', async () => {
    const io = new RecordingIo();
    expect(await runWatch([], io)).toBe(1);
    expect(io.err).toBe('error: missing <key-or-prefix>\nRun "consul-hotreload watch --help" for usage.\n');
  });

  it('prints its help with --help and exits 0', async () => {
    const io = new RecordingIo();
    expect(await runWatch(['--help'], io)).toBe(0);
    expect(io.out).toBe(HELP);
  });
});
