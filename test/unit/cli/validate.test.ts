/**
 * `consul-hotreload validate`, run in-process with a recording io against the embedded dev server, with
 * schema modules from ./fixtures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HELP, runValidate } from '../../../src/cli/validate.js';
import { type DevServer, type DevServerSeed, startDevServer } from '../../../src/devserver/server.js';
import { closedPortAddress, RecordingIo, withHtmlServer } from './cli-io.js';

const FIXTURES = 'test/unit/cli/fixtures';
const APP_SCHEMA = `${FIXTURES}/app-schema.mjs`;

let server: DevServer | undefined;

async function start(seed: DevServerSeed): Promise<DevServer> {
  server = await startDevServer({ jitter: false, seed });
  return server;
}

async function validate(args: string[]): Promise<{ code: number; io: RecordingIo }> {
  const io = new RecordingIo();
  const code = await runValidate(args, io);
  return { code, io };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('validate', () => {
  it('prints that the prefix is valid and exits 0', async () => {
    const s = await start({ 'cfg/db/host': '"db.local"', 'cfg/db/port': '5432' });
    const { code, io } = await validate(['--address', s.address, '--schema', APP_SCHEMA, 'cfg/']);
    expect(code).toBe(0);
    expect(io.out).toBe('cfg/: valid\n');
    expect(io.err).toBe('');
  });

  it('adds the trailing / to the prefix, as defineConfig does (consul-semantics §2.3)', async () => {
    const s = await start({ 'cfg/db/host': '"db.local"', 'cfg/db/port': '5432', 'cfgx/other': '1' });
    const { code, io } = await validate(['--address', s.address, '--schema', APP_SCHEMA, 'cfg']);
    expect(code).toBe(0);
    expect(io.out).toBe('cfg/: valid\n');
  });

  it('lists every problem with its Consul key, redacting secret-looking values, and exits 1', async () => {
    const s = await start({ 'cfg/db/port': '"x"', 'cfg/db/password': '42', 'cfg/debug': '[maybe' });
    const { code, io } = await validate(['--address', s.address, '--schema', APP_SCHEMA, 'cfg/']);
    expect(code).toBe(1);
    expect(io.out).toBe(
      [
        'cfg/: invalid, 4 problems',
        `  - cfg/debug at debug: not valid JSON: Unexpected token 'm', "[maybe" is not valid JSON`,
        '  - cfg/db/host at db.host: missing; expected string',
        '  - cfg/db/port at db.port: expected number (found "x")',
        '  - cfg/db/password at db.password: expected string (found [redacted])',
        '',
      ].join('\n'),
    );
    expect(io.err).toBe('');
  });

  it('warns on stderr about keys the schema does not describe, or fails with --unknown-keys error', async () => {
    const s = await start({ 'cfg/db/host': '"db.local"', 'cfg/db/port': '5432', 'cfg/db/hots': '"typo"' });
    const warned = await validate(['--address', s.address, '--schema', APP_SCHEMA, 'cfg/']);
    expect(warned.code).toBe(0);
    expect(warned.io.out).toBe('cfg/: valid\n');
    expect(warned.io.err).toBe(
      'warning: unknown config key cfg/db/hots: not described by the schema of cfg/\n',
    );

    const failed = await validate([
      '--address',
      s.address,
      '--schema',
      APP_SCHEMA,
      '--unknown-keys',
      'error',
      'cfg/',
    ]);
    expect(failed.code).toBe(1);
    expect(failed.io.out).toBe(
      'cfg/: invalid, 1 problem\n  - cfg/db/hots at db.hots: not described by the schema (found "typo")\n',
    );
  });

  it('prints a schema that throws as a validation problem naming the prefix, and exits 1', async () => {
    const s = await start({ 'cfg/port': '1' });
    const { code, io } = await validate([
      '--address',
      s.address,
      '--schema',
      `${FIXTURES}/throwing-schema.mjs`,
      'cfg/',
    ]);
    expect(code).toBe(1);
    expect(io.out).toBe('cfg/: invalid, 1 problem\n  - cfg/: the schema threw: boom in refine\n');
    expect(io.err).toBe('');
  });

  it('decodes values as text with --format text', async () => {
    const s = await start({ 'cfg/name': 'plain words' });
    const { code, io } = await validate([
      '--address',
      s.address,
      '--schema',
      `${FIXTURES}/named-schema.ts`,
      '--format',
      'text',
      'cfg/',
    ]);
    expect(io.err).toBe('');
    expect(code).toBe(0);
  });

  it('takes the schema from the export named by --export', async () => {
    const s = await start({ 'cfg/name': '"ab"' });
    const { code, io } = await validate([
      '--address',
      s.address,
      '--schema',
      `${FIXTURES}/named-schema.ts`,
      '--export',
      'strict',
      'cfg/',
    ]);
    expect(code).toBe(1);
    expect(io.out).toBe(
      'cfg/: invalid, 1 problem\n  - cfg/name at name: Too small: expected string to have >=3 characters (found "ab")\n',
    );
  });

  it('exits 1 when the module exports no zod schema where it looks', async () => {
    const none = await validate(['--schema', `${FIXTURES}/no-schema.mjs`, 'cfg/']);
    expect(none.code).toBe(1);
    expect(none.io.err).toBe(
      `error: ${FIXTURES}/no-schema.mjs exports no zod 4 schema as default or schema; name its export with --export <name>\n`,
    );
    const notSchema = await validate(['--schema', APP_SCHEMA, '--export', 'notASchema', 'cfg/']);
    expect(notSchema.io.err).toBe(`error: export notASchema of ${APP_SCHEMA} is not a zod 4 schema\n`);
    const missing = await validate(['--schema', APP_SCHEMA, '--export', 'nothing', 'cfg/']);
    expect(missing.io.err).toBe(`error: ${APP_SCHEMA} has no export named nothing\n`);
  });

  it('exits 1 when the module cannot be imported', async () => {
    const { code, io } = await validate(['--schema', `${FIXTURES}/missing.mjs`, 'cfg/']);
    expect(code).toBe(1);
    expect(io.err).toMatch(/^error: cannot import --schema test\/unit\/cli\/fixtures\/missing\.mjs: .+\n$/);
  });

  it('exits 1 without --schema', async () => {
    const { code, io } = await validate(['cfg/']);
    expect(code).toBe(1);
    expect(io.err).toBe(
      'error: missing --schema <module>\nRun "consul-hotreload validate --help" for usage.\n',
    );
  });

  it('exits 2 at once, naming the address, when the connection is refused', async () => {
    const address = await closedPortAddress();
    const port = new URL(address).port;
    // Without the check, validate would retry until --timeout; 1 minute keeps that from passing unnoticed.
    const { code, io } = await validate([
      '--address',
      address,
      '--timeout',
      '1m',
      '--schema',
      APP_SCHEMA,
      'cfg/',
    ]);
    expect(code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(
      `error: kv.list cfg/: cannot reach Consul at ${address}: connect ECONNREFUSED 127.0.0.1:${port} (is the agent running? check the address option or CONSUL_HTTP_ADDR)\n`,
    );
  });

  it('exits 2 when Consul does not answer within --timeout', async () => {
    const s = await start({ 'cfg/db/host': '"db.local"' });
    s.faults.inject({ fault: { kind: 'hang' }, times: Number.POSITIVE_INFINITY });
    const { code, io } = await validate([
      '--address',
      s.address,
      '--timeout',
      '500',
      '--schema',
      APP_SCHEMA,
      'cfg/',
    ]);
    expect(code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe('error: watch cfg/: no valid value within 500 ms\n');
  });

  it('exits 2 at once when the address answers, but not as a Consul agent', async () => {
    await withHtmlServer(async (address) => {
      const { code, io } = await validate(['--address', address, '--schema', APP_SCHEMA, 'cfg/']);
      expect(code).toBe(2);
      expect(io.out).toBe('');
      expect(io.err).toBe(
        `error: not a Consul agent at ${address} (kv.list cfg/: answered 404 without the X-Consul-Index header Consul sends on every KV read; check the address option or CONSUL_HTTP_ADDR, or a proxy in front of Consul)\n`,
      );
    });
  });

  it('prints its help with --help and exits 0', async () => {
    const { code, io } = await validate(['--help']);
    expect(code).toBe(0);
    expect(io.out).toBe(HELP);
  });
});
