/**
 * defineConfig() and flags end to end: the real Watcher and the dev server over loopback. Changes are written
 * to the dev server's store and observed as binding events. The two examples run as child processes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type ConfigBinding, defineConfig } from '../../src/config/config.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { AclDeniedError, ConfigValidationError } from '../../src/errors.js';
import { createFlag } from '../../src/flags/flag.js';
import type { LogFn } from '../../src/logger.js';
import { Watcher } from '../../src/watch/watcher.js';

/** Quick retries, and no CONSUL_* variables from the environment running the tests. */
const FAST = { minInterval: 0, backoff: { min: 5, max: 20 }, env: {} };

const AppConfig = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().min(1),
    pool: z.object({ min: z.number().default(1), max: z.number().default(10) }).prefault({}),
  }),
  features: z.record(z.string(), z.boolean()).default({}),
});

const SEED = {
  'config/app/db/host': '"db.internal"',
  'config/app/db/port': '5432',
  'config/app/features/search': 'true',
  'flags/new-checkout': 'false',
  'flags/limit': '100',
};

let server: DevServer | undefined;
let watcher: Watcher | undefined;
const closables: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const closable of closables.splice(0)) await closable.close();
  await watcher?.close();
  await server?.close();
  watcher = undefined;
  server = undefined;
});

async function start(seed: Record<string, string> = SEED, options: { aclToken?: string } = {}) {
  server = await startDevServer({ port: 0, seed, ...options });
  watcher = new Watcher({ address: server.address, roots: ['flags/'], ...FAST });
  return { server, watcher };
}

async function loadedConfig(
  options: { logger?: { warn: LogFn } } = {},
): Promise<ConfigBinding<typeof AppConfig>> {
  const config = track(defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher, ...options }));
  await config.load();
  return config;
}

/** Closes `closable` after the test. */
function track<C extends { close(): Promise<void> }>(closable: C): C {
  closables.push(closable);
  return closable;
}

/** Resolves at the next `change` event of a config or flag. */
function nextChange(emitter: { once(event: 'change', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => emitter.once('change', () => resolve()));
}

describe('defineConfig() against the dev server', () => {
  it('reads back what a plain seed stores: raw strings as strings, other values as JSON, same as watch()', async () => {
    server = await startDevServer({
      port: 0,
      seed: {
        'seeded/host': 'localhost',
        'seeded/port': 5432,
        'seeded/tls': true,
        'seeded/tags': ['a', 'b'],
      },
    });
    watcher = new Watcher({ address: server.address, ...FAST });
    const schema = z.object({
      host: z.string(),
      port: z.number(),
      tls: z.boolean(),
      tags: z.array(z.string()),
    });
    const expected = { host: 'localhost', port: 5432, tls: true, tags: ['a', 'b'] };
    const config = track(defineConfig({ prefix: 'seeded/', schema, watcher }));
    expect(await config.load()).toEqual(expected);
    // The same default format without defineConfig.
    expect(await watcher.watch('seeded/', { schema }).ready).toEqual(expected);
  });

  it('loads the seeded config and calls each onChange listener only for its own part', async () => {
    const { server } = await start();
    const config = await loadedConfig();
    expect(config.get()).toEqual({
      db: { host: 'db.internal', port: 5432, pool: { min: 1, max: 10 } },
      features: { search: true },
    });

    const calls: unknown[] = [];
    config.onChange(
      (c) => c.db.pool,
      (pool, previous) => calls.push(['pool', pool, previous]),
    );
    config.onChange(
      (c) => c.features,
      (features) => calls.push(['features', features]),
    );

    let changed = nextChange(config);
    server.kv.put('config/app/features/search', 'false');
    await changed;
    changed = nextChange(config);
    server.kv.put('config/app/db/pool/max', '20');
    await changed;
    expect(calls).toEqual([
      ['features', { search: false }],
      ['pool', { min: 1, max: 20 }, { min: 1, max: 10 }],
    ]);
  });

  it('refuses an invalid change, keeps the last good config, and applies the fix', async () => {
    const { server } = await start();
    const config = await loadedConfig();
    const invalid = new Promise<ConfigValidationError>((resolve) => config.once('invalid', resolve));
    server.kv.put('config/app/db/port', '"5432"');
    expect((await invalid).issues).toEqual([
      {
        key: 'config/app/db/port',
        path: ['db', 'port'],
        message: 'expected number',
        expected: 'number',
        received: '"5432"',
      },
    ]);
    expect(config.get().db.port).toBe(5432);

    const changed = nextChange(config);
    server.kv.put('config/app/db/port', '6432');
    await changed;
    expect(config.get().db.port).toBe(6432);
  });

  it('fails startup with every problem at once and closes the watcher it made', async () => {
    server = await startDevServer({
      port: 0,
      seed: {
        'config/app/db/port': '0',
        'config/app/db/pool/max': '{',
        'config/app/db/hots': '"typo"',
        'config/app/db/password': '"hunter2"',
      },
    });
    const config = defineConfig({
      prefix: 'config/app/',
      schema: AppConfig,
      unknownKeys: 'error',
      watcher: { address: server.address, ...FAST },
    });
    const error = await config.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues.map(({ key, path }) => [key, path.join('.')])).toEqual([
      ['config/app/db/pool/max', 'db.pool.max'],
      ['config/app/db/host', 'db.host'],
      ['config/app/db/port', 'db.port'],
      ['config/app/db/hots', 'db.hots'],
      ['config/app/db/password', 'db.password'],
    ]);
    expect((error as Error).message).not.toContain('hunter2');
    await config.close();
    expect(server.stats().blockingHeld).toBe(0);
  });

  it('warns once about an unknown key through the logger', async () => {
    await start({ ...SEED, 'config/app/db/hots': '"typo"' });
    const warnings: unknown[] = [];
    await loadedConfig({ logger: { warn: (obj, msg) => warnings.push([obj, msg]) } });
    expect(warnings).toEqual([
      [
        { key: 'config/app/db/hots', path: 'db.hots', received: '"typo"' },
        'unknown config key config/app/db/hots: not described by the schema of config/app/',
      ],
    ]);
  });

  it('rejects load at once when the token may not read the prefix', async () => {
    server = await startDevServer({ port: 0, seed: SEED, aclToken: 'root-token' });
    const config = track(
      defineConfig({
        prefix: 'config/app/',
        schema: AppConfig,
        watcher: { address: server.address, token: 'wrong-token', ...FAST },
      }),
    );
    const error = await config.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AclDeniedError);
    expect(
      JSON.stringify({ message: (error as Error).message, cause: String((error as Error).cause) }),
    ).not.toContain('wrong-token');
  });
});

describe('flags against the dev server', () => {
  it('follow their keys: stored value, invalid text, deletion', async () => {
    const { server, watcher } = await start();
    const newCheckout = track(createFlag(watcher, 'flags/new-checkout', { type: 'boolean', default: false }));
    await newCheckout.ready;
    expect([newCheckout.value, newCheckout.reason]).toEqual([false, 'stored']);
    const events: unknown[] = [];
    newCheckout.on('change', (event) => events.push(['change', event]));
    newCheckout.on('invalid', (error) => events.push(['invalid', error.issues]));

    let changed = nextChange(newCheckout);
    server.kv.put('flags/new-checkout', 'true');
    await changed;
    changed = nextChange(newCheckout);
    server.kv.put('flags/new-checkout', 'ture');
    await changed;
    expect(newCheckout.reason).toBe('invalid');
    changed = nextChange(newCheckout);
    server.kv.put('flags/new-checkout', 'TRUE');
    await changed;
    changed = nextChange(newCheckout);
    server.kv.delete('flags/new-checkout');
    await changed;
    expect([newCheckout.value, newCheckout.reason]).toEqual([false, 'missing']);
    expect(events).toEqual([
      ['change', { value: true, previous: false }],
      ['change', { value: false, previous: true }],
      [
        'invalid',
        [
          {
            key: 'flags/new-checkout',
            path: [],
            message: 'expected true or false',
            expected: 'true or false',
            received: '"ture"',
          },
        ],
      ],
      ['change', { value: true, previous: false }],
      ['change', { value: false, previous: true }],
    ]);
  });

  it('share one blocking query under a root, and leave a shared watcher open when a config closes', async () => {
    const { watcher } = await start();
    const config = await loadedConfig();
    const flags = [
      track(createFlag(watcher, 'flags/new-checkout', { type: 'boolean', default: false })),
      track(createFlag(watcher, 'flags/limit', { type: 'number', default: 1 })),
      track(createFlag(watcher, 'flags/absent', { type: 'number', default: 7 })),
    ];
    await Promise.all(flags.map((f) => f.ready));
    expect(flags.map((f) => [f.value, f.reason])).toEqual([
      [false, 'stored'],
      [100, 'stored'],
      [7, 'missing'],
    ]);
    expect(
      watcher
        .stats()
        .queries.map(({ key, kind, subscriptions }) => [key, kind, subscriptions])
        .sort(),
    ).toEqual([
      ['config/app/', 'prefix', 1],
      ['flags/', 'prefix', 3],
    ]);
    await config.close();
    expect(watcher.closed).toBe(false);
    expect(watcher.stats().queries.map(({ key }) => key)).toEqual(['flags/']);
  });
});

const run = promisify(execFile);

/** Runs an example as a child process; resolves with its output and exit code, whatever the code. */
async function runExample(path: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path, '--once'], {
      env: { ...process.env, CONSUL_HTTP_ADDR: undefined, CONSUL_HTTP_TOKEN: undefined },
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout: string; stderr: string };
    return { code: failed.code ?? -1, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the examples', () => {
  it('startup-validation prints every problem with its key, redacts the password and exits 1', async () => {
    const { code, stdout, stderr } = await runExample('examples/startup-validation/main.ts');
    expect(code).toBe(1);
    expect(stdout).toBe('loading config/billing/ from the dev Consul\n');
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'invalid config under config/billing/: 6 problems; the last good value keeps serving',
    );
    expect(lines.slice(1).map((line) => line.split(': ')[0])).toEqual([
      '  - config/billing/db/pool/max at db.pool.max',
      '  - config/billing/db/port at db.port',
      '  - config/billing/db/password at db.password',
      '  - config/billing/http/timeoutMs at http.timeoutMs',
      '  - config/billing/stripe at stripe',
      '  - config/billing/featurs/new-invoice at featurs.new-invoice',
    ]);
    expect(stderr).toContain('config/billing/db/port at db.port: expected number (found "5432x")');
    expect(stderr).toContain('(found [redacted])');
    expect(stderr).not.toContain('hunter2');
  });

  it('http-server reloads its rate limit and flag from Consul, then exits by itself', async () => {
    const { code, stdout, stderr } = await runExample('examples/http-server/main.ts');
    expect([code, stderr]).toEqual([0, '']);
    expect(
      stdout
        .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
        .trimEnd()
        .split('\n'),
    ).toEqual([
      'rate limit: 3 requests per 60000 ms; flags/http/greeting-v2 = false',
      'http server on http://127.0.0.1:PORT/',
      'GET / -> 200 hello (v1)',
      'GET / -> 200 hello (v1)',
      'GET / -> 200 hello (v1)',
      'GET / -> 429 rate limit of 3 requests per 60000 ms reached',
      'consul kv put config/http/rateLimit/requests 5',
      'config changed: rate limit now 5 requests per 60000 ms',
      'consul kv put flags/http/greeting-v2 true',
      'flag changed: flags/http/greeting-v2 false -> true',
      'GET / -> 200 hello from the new greeting (v2)',
      'GET / -> 200 hello from the new greeting (v2)',
      'GET / -> 429 rate limit of 5 requests per 60000 ms reached',
      'closed',
    ]);
  });
});
