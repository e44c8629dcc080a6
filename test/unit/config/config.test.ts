/**
 * defineConfig(): a view over the real Watcher, fed by a scripted Consul on an undici MockAgent (no
 * sockets). Values are stored JSON-encoded, as `format: 'json'` (the default) reads them.
 */
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type ConfigBinding, type ConfigOptions, defineConfig } from '../../../src/config/config.js';
import {
  AbortedError,
  AclDeniedError,
  ClosedError,
  ConfigValidationError,
  InvalidArgumentError,
} from '../../../src/errors.js';
import type { Logger } from '../../../src/logger.js';
import type { WatcherOptions } from '../../../src/watch/types.js';
import { Watcher } from '../../../src/watch/watcher.js';
import { recordingLogger } from '../../helpers/logger.js';
import { ADDRESS, MockConsul, type ScriptState, scriptKv } from '../watch/mock-consul.js';

const PREFIX = 'config/app/';
const FIRST_READ = '/v1/kv/config/app/?recurse=';
const blockingRead = (index: number) => `/v1/kv/config/app/?recurse=&index=${index}&wait=300000ms`;

const AppConfig = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().min(1).max(65535),
    password: z.string().min(12),
    pool: z.object({ min: z.number().default(1), max: z.number().default(10) }).prefault({}),
  }),
  features: z.record(z.string(), z.boolean()).default({}),
  http: z.object({ timeoutMs: z.number().default(5000) }).prefault({}),
});

/** A value stored as these exact bytes rather than JSON-encoded. */
class Raw {
  constructor(readonly text: string) {}
}

/** An error answer from Consul in a scripted sequence. */
class Failure {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {}
}

/** The Consul keys and stored text for values given relative to the prefix (JSON-encoded unless Raw). */
function stored(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      PREFIX + key,
      value instanceof Raw ? value.text : JSON.stringify(value),
    ]),
  );
}

const goodValues = {
  'db/host': 'db.internal',
  'db/port': 5432,
  'db/password': 'correct-horse-battery',
  'features/search': true,
};

const goodConfig = {
  db: {
    host: 'db.internal',
    port: 5432,
    password: 'correct-horse-battery',
    pool: { min: 1, max: 10 },
  },
  features: { search: true },
  http: { timeoutMs: 5000 },
};

let consul: MockConsul;
let watcher: Watcher | undefined;
const closables: Array<{ close(): Promise<void> }> = [];

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  for (const closable of closables.splice(0)) await closable.close();
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

/** Options for a Watcher on the scripted Consul: no pacing, a 0.5 ms retry. */
function watcherOptions(logger?: Logger): WatcherOptions {
  return {
    address: ADDRESS,
    dispatcher: consul.agent,
    env: {},
    minInterval: 0,
    backoff: { min: 1, max: 1 },
    random: () => 0.5,
    ...(logger === undefined ? {} : { logger }),
  };
}

/** The shared Watcher of the test (made on first use). */
function sharedWatcher(logger?: Logger): Watcher {
  watcher ??= new Watcher(watcherOptions(logger));
  return watcher;
}

type AppOptions = Partial<ConfigOptions<typeof AppConfig>>;

function define(options: AppOptions = {}): ConfigBinding<typeof AppConfig> {
  const config = defineConfig({ prefix: PREFIX, schema: AppConfig, watcher: sharedWatcher(), ...options });
  closables.push(config);
  return config;
}

/**
 * Defines a config, answers its first read with the first state and waits until the watcher blocks; each
 * `script.next()` then answers with the next state.
 */
async function loaded(
  states: ReadonlyArray<Record<string, unknown> | Failure>,
  options: AppOptions = {},
): Promise<{ config: ConfigBinding<typeof AppConfig>; script: ReturnType<typeof scriptKv> }> {
  const script = scriptKv(
    consul,
    PREFIX,
    states.map((state): ScriptState => (state instanceof Failure ? { ...state } : stored(state))),
  );
  const config = define(options);
  await config.load();
  await script.ready();
  return { config, script };
}

async function loadError(values: Record<string, unknown>, options: AppOptions = {}) {
  consul.answer(FIRST_READ, { entries: entriesOf(values), index: 5 });
  const config = define(options);
  const error = await config.load().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigValidationError);
  // The refused subscription was closed, and with it its query: nothing more was asked.
  expect(sharedWatcher().stats()).toMatchObject({ queries: [], subscriptions: 0 });
  expect(consul.requests()).toEqual([FIRST_READ]);
  return error as ConfigValidationError;
}

function entriesOf(values: Record<string, unknown>) {
  return Object.entries(stored(values)).map(([key, value]) => ({ key, value, modifyIndex: 5 }));
}

describe('defineConfig().load()', () => {
  it('watches the prefix and resolves with the typed config, defaults filled in', async () => {
    const { config } = await loaded([goodValues]);
    expect(config.get()).toEqual(goodConfig);
    expect(config.state).toBe('ready');
    expect(
      sharedWatcher()
        .stats()
        .queries.map(({ key, kind, subscriptions }) => [key, kind, subscriptions]),
    ).toEqual([['config/app/', 'prefix', 1]]);
    expect(consul.requests()).toEqual([FIRST_READ, blockingRead(5)]);
    expectTypeOf(config.get().db.pool.max).toEqualTypeOf<number>();
    expectTypeOf(config.get().features).toEqualTypeOf<Record<string, boolean>>();
  });

  it('adds the trailing slash to a prefix given without one', () => {
    const config = define({ prefix: 'config/app' });
    expect(config.prefix).toBe('config/app/');
  });

  it('decodes each key with the chosen format before validating', async () => {
    const script = scriptKv(consul, PREFIX, [
      {
        'config/app/db/host': 'db.internal',
        'config/app/db/port': '5432',
        'config/app/db/password': 'correct-horse-battery',
      },
    ]);
    const config = define({ format: 'yaml' });
    expect((await config.load()).db).toEqual({
      host: 'db.internal',
      port: 5432,
      password: 'correct-horse-battery',
      pool: { min: 1, max: 10 },
    });
    await script.ready();
  });

  it('fails with one error listing every problem: key, path, expected, found, secrets redacted', async () => {
    const error = await loadError(
      {
        'db/port': 'five',
        'db/password': 'hunter2',
        'db/pool/max': new Raw('[ten'),
        'db/hots': 'typo.internal',
      },
      { unknownKeys: 'error' },
    );
    expect(error.code).toBe('CONSUL_CONFIG_VALIDATION');
    expect(error.key).toBe('config/app/');
    expect(error.operation).toBe('config.load');
    // The engine's refusal, renamed for the operation the caller ran.
    expect(error.cause).toBeInstanceOf(ConfigValidationError);
    expect((error.cause as ConfigValidationError).operation).toBe('watch');
    expect((error.cause as ConfigValidationError).issues).toBe(error.issues);
    expect(error.issues).toEqual([
      {
        key: 'config/app/db/pool/max',
        path: ['db', 'pool', 'max'],
        message: `not valid JSON: Unexpected token 'e', "[ten" is not valid JSON`,
      },
      {
        key: 'config/app/db/host',
        path: ['db', 'host'],
        message: 'missing; expected string',
        expected: 'string',
        received: undefined,
      },
      {
        key: 'config/app/db/port',
        path: ['db', 'port'],
        message: 'expected number',
        expected: 'number',
        received: '"five"',
      },
      {
        key: 'config/app/db/password',
        path: ['db', 'password'],
        message: 'Too small: expected string to have >=12 characters',
        expected: 'string with length >= 12',
        received: '[redacted]',
      },
      {
        key: 'config/app/db/hots',
        path: ['db', 'hots'],
        message: 'not described by the schema',
        expected: 'no such key',
        received: '"typo.internal"',
      },
    ]);
    expect(error.message).toBe(
      [
        'invalid config under config/app/: 5 problems; the last good value keeps serving',
        `  - config/app/db/pool/max at db.pool.max: not valid JSON: Unexpected token 'e', "[ten" is not valid JSON`,
        '  - config/app/db/host at db.host: missing; expected string',
        '  - config/app/db/port at db.port: expected number (found "five")',
        '  - config/app/db/password at db.password: Too small: expected string to have >=12 characters (found [redacted])',
        '  - config/app/db/hots at db.hots: not described by the schema (found "typo.internal")',
      ].join('\n'),
    );
    expect(error.message).not.toContain('hunter2');
  });

  it('fails on a value that does not decode even where the schema accepts anything', async () => {
    consul.answer(FIRST_READ, {
      entries: [
        { key: 'config/app/labels/team', value: '[nope', modifyIndex: 5 },
        { key: 'config/app/labels/tier', value: '"gold"', modifyIndex: 5 },
      ],
      index: 5,
    });
    const config = defineConfig({ prefix: PREFIX, schema: z.looseObject({}), watcher: sharedWatcher() });
    closables.push(config);
    const error = await config.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues).toEqual([
      {
        key: 'config/app/labels/team',
        path: ['labels', 'team'],
        message: `not valid JSON: Unexpected token 'o', "[nope" is not valid JSON`,
      },
    ]);
    expect(consul.requests()).toEqual([FIRST_READ]);
  });

  it('only warns about unknown keys by default, once per key, and again after one comes back', async () => {
    const { calls, logger } = recordingLogger();
    const values = { ...goodValues, 'db/hots': 'typo', 'db/token': 's3cr3t' };
    const { script } = await loaded(
      [
        values,
        { ...values, 'db/port': 6432 },
        { ...goodValues, 'db/port': 6432, 'db/token': 's3cr3t' },
        { ...values, 'db/port': 6432 },
      ],
      { logger },
    );
    const warning = (key: string, path: string, received: string) => [
      'warn',
      { key, path, received },
      `unknown config key ${key}: not described by the schema of config/app/`,
    ];
    expect(calls).toEqual([
      warning('config/app/db/hots', 'db.hots', '"typo"'),
      warning('config/app/db/token', 'db.token', '[redacted]'),
    ]);

    await script.next();
    expect(calls).toHaveLength(2);
    await script.next();
    await script.next();
    expect(calls).toEqual([
      warning('config/app/db/hots', 'db.hots', '"typo"'),
      warning('config/app/db/token', 'db.token', '[redacted]'),
      warning('config/app/db/hots', 'db.hots', '"typo"'),
    ]);
  });

  it('says nothing about unknown keys when told to ignore them', async () => {
    const { calls, logger } = recordingLogger();
    const { config } = await loaded([{ ...goodValues, 'db/hots': 'typo' }], {
      logger,
      unknownKeys: 'ignore',
    });
    expect(config.get()).toEqual(goodConfig);
    expect(calls).toEqual([]);
  });

  it('accepts any key below a loose object or record', async () => {
    const schema = z.object({ labels: z.looseObject({}), limits: z.record(z.string(), z.number()) });
    const script = scriptKv(consul, PREFIX, [stored({ 'labels/team': 'core', 'limits/search': 5 })]);
    const config = defineConfig({ prefix: PREFIX, schema, watcher: sharedWatcher(), unknownKeys: 'error' });
    closables.push(config);
    expect(await config.load()).toEqual({ labels: { team: 'core' }, limits: { search: 5 } });
    await script.ready();
  });

  it('fills an empty prefix from the defaults', async () => {
    const schema = z.object({ http: z.object({ port: z.number().default(8080) }).prefault({}) });
    const script = scriptKv(consul, PREFIX, [null]);
    const config = defineConfig({ prefix: PREFIX, schema, watcher: sharedWatcher() });
    closables.push(config);
    expect(await config.load()).toEqual({ http: { port: 8080 } });
    await script.ready();
  });

  it('passes on the error when the first read is refused, and can be retried', async () => {
    consul.answer(FIRST_READ, { status: 403, body: 'Permission denied' });
    const config = define();
    const first = config.load();
    expect(config.load()).toBe(first);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AclDeniedError);
    expect([config.state, sharedWatcher().stats().subscriptions]).toEqual(['idle', 0]);

    const script = scriptKv(consul, PREFIX, [stored(goodValues)]);
    const second = config.load();
    expect(second).not.toBe(first);
    await expect(second).resolves.toEqual(goodConfig);
    await script.ready();
    expect(consul.requests()).toEqual([FIRST_READ, FIRST_READ, blockingRead(5)]);
  });

  it('stops waiting when the load signal aborts, and ignores the signal once loaded', async () => {
    const hung = consul.hang(FIRST_READ);
    const config = define();
    const controller = new AbortController();
    const loading = config.load({ signal: controller.signal });
    await hung;
    controller.abort(new Error('startup deadline'));
    const error = await loading.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).message).toBe('config.load config/app/: aborted before Consul answered');
    expect((error as AbortedError).cause).toEqual(new Error('startup deadline'));
    expect(sharedWatcher().stats()).toMatchObject({ queries: [], subscriptions: 0 });

    const script = scriptKv(consul, PREFIX, [stored(goodValues)]);
    const late = new AbortController();
    await config.load({ signal: late.signal });
    await script.ready();
    late.abort();
    expect([config.state, sharedWatcher().stats().subscriptions]).toEqual(['ready', 1]);
    expect(consul.requests()).toEqual([FIRST_READ, FIRST_READ, blockingRead(5)]);
  });

  it('rejects a pending load with ClosedError when closed', async () => {
    const hung = consul.hang(FIRST_READ);
    const config = define();
    const loading = config.load();
    await hung;
    await config.close();
    await expect(loading).rejects.toBeInstanceOf(ClosedError);
    await expect(config.load()).rejects.toThrow('config config/app/: closed');
    expect(sharedWatcher().stats()).toMatchObject({ queries: [], subscriptions: 0 });
  });

  it('refuses bad arguments at the call', () => {
    const shared = sharedWatcher();
    expect(() => defineConfig({ prefix: '', schema: AppConfig, watcher: shared })).toThrow(
      new InvalidArgumentError(
        `defineConfig: prefix must be a non-empty Consul key prefix such as 'config/app/', got ""`,
        { operation: 'config.define' },
      ),
    );
    expect(() =>
      defineConfig({
        prefix: 'a/',
        schema: AppConfig,
        watcher: shared,
        unknownKeys: 'loud' as unknown as 'warn',
      }),
    ).toThrow("watch a/: unknownKeys must be 'warn', 'error' or 'ignore'; got loud");
    expect(() =>
      defineConfig({ prefix: 'a/', schema: AppConfig, watcher: shared, format: 'xml' as 'json' }),
    ).toThrow("watch a/: format must be 'text', 'json', 'yaml' or a function; got xml");
    expect(shared.stats().queries).toEqual([]);
  });

  it('throws from get() before load() resolved', () => {
    const config = define();
    expect(() => config.get()).toThrow('config config/app/: get() called before load() resolved');
  });

  it('closes the Watcher it made from options, and leaves a shared one open', async () => {
    const script = scriptKv(consul, PREFIX, [stored(goodValues)]);
    const config = defineConfig({ prefix: PREFIX, schema: AppConfig, watcher: watcherOptions() });
    await config.load();
    await script.ready();
    await config.close();
    // The blocking request was aborted with the Watcher; nothing else was asked.
    expect(consul.requests()).toEqual([FIRST_READ, blockingRead(5)]);
  });
});

describe('defineConfig() after load', () => {
  it('fires an onChange listener exactly when its selected part changes', async () => {
    const search = { ...goodValues, 'features/search': false };
    const pool = { ...search, 'db/pool/max': 20 };
    const { config, script } = await loaded([
      goodValues,
      search,
      pool,
      // Same pool written again (and an unrelated key): no call.
      { ...pool, 'http/timeoutMs': 1 },
      // Explicitly writing the default changes nothing either.
      { ...pool, 'http/timeoutMs': 1, 'db/pool/min': 1 },
    ]);
    const poolCalls: unknown[] = [];
    const featureCalls: unknown[] = [];
    config.onChange(
      (c) => c.db.pool,
      (value, previous) => poolCalls.push([value, previous]),
    );
    config.onChange(
      (c) => c.features.search,
      (on, previous) => featureCalls.push([on, previous]),
    );
    while (script.left > 0) await script.next();

    expect(poolCalls).toEqual([
      [
        { min: 1, max: 20 },
        { min: 1, max: 10 },
      ],
    ]);
    expect(featureCalls).toEqual([[false, true]]);
  });

  it('emits change with current and previous only when the config really changed', async () => {
    const { config, script } = await loaded([
      goodValues,
      { ...goodValues, 'db/pool/max': 10 },
      { ...goodValues, 'db/pool/max': 10, 'db/port': 6432 },
    ]);
    const events: unknown[] = [];
    config.on('change', (event) => events.push(event));
    const before = config.get();
    await script.next();
    expect(config.get()).toBe(before);
    await script.next();
    expect(events).toEqual([
      {
        current: { ...goodConfig, db: { ...goodConfig.db, port: 6432 } },
        previous: goodConfig,
      },
    ]);
  });

  it('stops calling a listener once unsubscribed', async () => {
    const { config, script } = await loaded([
      goodValues,
      { ...goodValues, 'db/port': 1 },
      { ...goodValues, 'db/port': 2 },
    ]);
    const calls: unknown[] = [];
    const unsubscribe = config.onChange(
      (c) => c.db.port,
      (port) => calls.push(port),
    );
    await script.next();
    unsubscribe();
    await script.next();
    expect(calls).toEqual([1]);
  });

  it('refuses an invalid change: invalid event, last good config kept, no listener called', async () => {
    const { calls, logger } = recordingLogger();
    const { config, script } = await loaded([goodValues, { ...goodValues, 'db/port': 0 }], { logger });
    const events: unknown[] = [];
    config.on('invalid', (error) => events.push(['invalid', error.operation, error.key, error.issues]));
    config.on('change', () => events.push(['change']));
    config.onChange(
      (c) => c.db.port,
      () => events.push(['onChange']),
    );
    await script.next();
    expect(config.get()).toEqual(goodConfig);
    const issue = {
      key: 'config/app/db/port',
      path: ['db', 'port'],
      message: 'Too small: expected number to be >=1',
      expected: 'number >= 1',
      received: '0',
    };
    // The engine's error, passed on as it is: the watch refused the change.
    expect(events).toEqual([['invalid', 'watch', 'config/app/', [issue]]]);
    expect(calls).toEqual([
      [
        'warn',
        { key: 'config/app/', issues: 1 },
        'invalid config under config/app/: 1 problem; the last good value keeps serving\n' +
          '  - config/app/db/port at db.port: Too small: expected number to be >=1 (found 0)',
      ],
    ]);
  });

  it('refuses a change that adds an unknown key when unknown keys are errors', async () => {
    const { config, script } = await loaded([goodValues, { ...goodValues, 'db/port': 1, 'db/hots': 'x' }], {
      unknownKeys: 'error',
    });
    const invalid: unknown[] = [];
    config.on('invalid', (error) => invalid.push(error.issues.map((issue) => issue.key)));
    await script.next();
    expect(invalid).toEqual([['config/app/db/hots']]);
    expect(config.get().db.port).toBe(5432);
  });

  it('passes on watch errors and invalid events from the subscription without logging them again', async () => {
    const { calls, logger } = recordingLogger();
    // The watcher logs its query's failures; the subscription its refused values.
    sharedWatcher(logger);
    const { config, script } = await loaded(
      [goodValues, new Failure(503, 'busy'), { ...goodValues, 'features/search/beta': true }],
      { logger },
    );
    const events: unknown[] = [];
    config.on('error', (error) => events.push(['error', error.code, error.status]));
    config.on('invalid', (error) => events.push(['invalid', error.key, error.issues]));
    await script.next();
    await script.next();
    const conflict =
      'config/app/features/search holds a value but is also a folder of config/app/features/search/beta; a key cannot be both';
    expect(events).toEqual([
      ['error', 'CONSUL_SERVER_ERROR', 503],
      [
        'invalid',
        'config/app/',
        [{ key: 'config/app/features/search', path: ['features', 'search'], message: conflict }],
      ],
    ]);
    // Once each, by the engine; the config does not log them again.
    expect(calls).toEqual([
      ['info', { key: 'config/app/', state: 'ready' }, 'watch config/app/: connected'],
      [
        'warn',
        { key: 'config/app/', code: 'CONSUL_SERVER_ERROR', status: 503, attempt: 1, delayMs: 0 },
        'kv.list config/app/: 503 busy (Consul server error; reads may be retried); retrying in 0 ms',
      ],
      [
        'warn',
        { key: 'config/app/', issues: 1 },
        `invalid config under config/app/: 1 problem; the last good value keeps serving\n  - config/app/features/search at features.search: ${conflict}`,
      ],
    ]);
  });

  it('logs a throwing listener or selector and still runs the others', async () => {
    const { calls, logger } = recordingLogger();
    const { config, script } = await loaded([goodValues, { ...goodValues, 'db/port': 7 }], { logger });
    const bug = new Error('listener bug');
    const seen: number[] = [];
    config.onChange(
      (c) => c.db.port,
      () => {
        throw bug;
      },
    );
    config.onChange(
      () => {
        throw bug;
      },
      () => {},
    );
    config.onChange(
      (c) => c.db.port,
      (port) => seen.push(port),
    );
    await script.next();
    expect(seen).toEqual([7]);
    expect(calls).toEqual([
      ['error', { key: 'config/app/', err: bug }, 'config config/app/: onChange listener threw'],
      ['error', { key: 'config/app/', err: bug }, 'config config/app/: onChange listener threw'],
    ]);
  });

  it('logs a throwing change listener and still calls the next one', async () => {
    const { calls, logger } = recordingLogger();
    const { config, script } = await loaded([goodValues, { ...goodValues, 'db/port': 7 }], { logger });
    const bug = new Error('listener bug');
    const seen: number[] = [];
    config.on('change', () => {
      throw bug;
    });
    config.on('change', (event) => seen.push(event.current.db.port));
    await script.next();
    expect(seen).toEqual([7]);
    expect(config.get().db.port).toBe(7);
    expect(calls).toEqual([
      [
        'error',
        { key: 'config/app/', event: 'change', err: bug },
        "config config/app/: a 'change' listener threw",
      ],
    ]);
  });

  it('closes once: the subscription ends, a shared watcher stays open, later changes are ignored', async () => {
    const { config } = await loaded([goodValues]);
    const calls: unknown[] = [];
    config.onChange(
      (c) => c.db.port,
      (port) => calls.push(port),
    );
    const closing = config.close();
    expect(config.close()).toBe(closing);
    await closing;
    const shared = sharedWatcher();
    expect([config.state, shared.closed, shared.stats().subscriptions, shared.stats().queries]).toEqual([
      'closed',
      false,
      0,
      [],
    ]);
    expect(consul.requests()).toEqual([FIRST_READ, blockingRead(5)]);
    expect(calls).toEqual([]);
    expect(config.get()).toEqual(goodConfig);
  });
});

describe('defineConfig() with awkward keys and schemas (regressions)', () => {
  const PortConfig = z.object({ port: z.number() });
  const CFG = 'cfg/';
  const cfgRead = '/v1/kv/cfg/?recurse=';
  const entries = (values: Record<string, string>) =>
    Object.entries(values).map(([key, value]) => ({ key: `${CFG}${key}`, value, modifyIndex: 5 }));

  function definePort(options: Partial<ConfigOptions<z.core.$ZodType>> = {}) {
    const config = defineConfig({ prefix: CFG, schema: PortConfig, watcher: sharedWatcher(), ...options });
    closables.push(config);
    return config;
  }

  const unknownKeyIssue = (name: string, received: string) => ({
    key: `cfg/${name}`,
    path: [name],
    message: 'not described by the schema',
    expected: 'no such key',
    received,
  });

  describe.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'a key named %s next to cfg/port',
    (name) => {
      it('loads with unknownKeys ignore, silently', async () => {
        const { calls, logger } = recordingLogger();
        consul.answer(cfgRead, { entries: entries({ port: '1', [name]: '"x"' }), index: 5 });
        const blocking = consul.hang('/v1/kv/cfg/?recurse=&index=5&wait=300000ms');
        await expect(definePort({ unknownKeys: 'ignore', logger }).load()).resolves.toEqual({ port: 1 });
        await blocking;
        expect(calls).toEqual([]);
      });

      it('loads by default, and logs it as an unknown key', async () => {
        const { calls, logger } = recordingLogger();
        consul.answer(cfgRead, { entries: entries({ port: '1', [name]: '"x"' }), index: 5 });
        const blocking = consul.hang('/v1/kv/cfg/?recurse=&index=5&wait=300000ms');
        await expect(definePort({ logger }).load()).resolves.toEqual({ port: 1 });
        await blocking;
        expect(calls).toEqual([
          [
            'warn',
            { key: `cfg/${name}`, path: name, received: '"x"' },
            `unknown config key cfg/${name}: not described by the schema of cfg/`,
          ],
        ]);
      });

      it('fails load with unknownKeys error, naming the key', async () => {
        consul.answer(cfgRead, { entries: entries({ port: '1', [name]: '"x"' }), index: 5 });
        const error = await definePort({ unknownKeys: 'error' })
          .load()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigValidationError);
        expect((error as ConfigValidationError).code).toBe('CONSUL_CONFIG_VALIDATION');
        expect((error as ConfigValidationError).issues).toEqual([unknownKeyIssue(name, '"x"')]);
        expect((error as Error).message).toContain(`cfg/${name} at ${name}: not described by the schema`);
      });

      it('still applies later changes after the key is added to a loaded config', async () => {
        const script = scriptKv(consul, CFG, [
          { 'cfg/port': '1' },
          { 'cfg/port': '1', [`cfg/${name}`]: '"x"' },
          { 'cfg/port': '2', [`cfg/${name}`]: '"x"' },
        ]);
        const config = definePort({ unknownKeys: 'ignore' });
        await config.load();
        await script.ready();
        const events: unknown[] = [];
        config.on('change', (event) => events.push(['change', event]));
        config.on('invalid', (error) => events.push(['invalid', error.issues]));
        await script.next();
        await script.next();
        expect(events).toEqual([['change', { current: { port: 2 }, previous: { port: 1 } }]]);
        expect(config.get()).toEqual({ port: 2 });
      });
    },
  );

  const deep = `${'a/'.repeat(2000)}x`;

  it('loads with a key 2,000 folders deep, logging it as an unknown key', async () => {
    const { calls, logger } = recordingLogger();
    consul.answer(cfgRead, { entries: entries({ port: '1', [deep]: 'true' }), index: 5 });
    const blocking = consul.hang('/v1/kv/cfg/?recurse=&index=5&wait=300000ms');
    await expect(definePort({ logger }).load()).resolves.toEqual({ port: 1 });
    await blocking;
    expect(calls.map(([level, obj, msg]) => [level, obj.key, msg])).toEqual([
      ['warn', `cfg/${deep}`, `unknown config key cfg/${deep}: not described by the schema of cfg/`],
    ]);
  });

  it('fails load with a ConfigValidationError naming a key 2,000 folders deep when unknown keys are errors', async () => {
    consul.answer(cfgRead, { entries: entries({ port: '1', [deep]: 'true' }), index: 5 });
    const error = await definePort({ unknownKeys: 'error' })
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues.map(({ key, received }) => [key, received])).toEqual([
      [`cfg/${deep}`, 'true'],
    ]);
  });

  const throwingSchema = z.object({
    port: z.number().refine((port) => {
      if (port === 13) throw new Error('unlucky port');
      return true;
    }),
  });

  it('fails load with a ConfigValidationError naming the prefix when the schema throws', async () => {
    consul.answer(cfgRead, { entries: entries({ port: '13' }), index: 5 });
    const error = await definePort({ schema: throwingSchema })
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).code).toBe('CONSUL_CONFIG_VALIDATION');
    expect((error as ConfigValidationError).operation).toBe('config.load');
    expect((error as ConfigValidationError).key).toBe('cfg/');
    expect((error as ConfigValidationError).issues).toEqual([
      { key: 'cfg/', path: [], message: 'the schema threw: unlucky port' },
    ]);
  });

  it('fails load when a transform throws', async () => {
    consul.answer(cfgRead, { entries: entries({ port: '1' }), index: 5 });
    const schema = z.object({
      port: z.number().transform(() => {
        throw new TypeError('transform bug');
      }),
    });
    const error = await definePort({ schema })
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues).toEqual([
      { key: 'cfg/', path: [], message: 'the schema threw: transform bug' },
    ]);
  });

  it('emits invalid (and logs it) when the schema throws on a reload, keeping the last good config', async () => {
    const { calls, logger } = recordingLogger();
    const script = scriptKv(consul, CFG, [{ 'cfg/port': '1' }, { 'cfg/port': '13' }]);
    const config = definePort({ schema: throwingSchema, logger });
    await config.load();
    await script.ready();
    const events: unknown[] = [];
    config.on('change', (event) => events.push(['change', event]));
    config.on('invalid', (error) => events.push(['invalid', error.code, error.key, error.issues]));
    await script.next();
    const issues = [{ key: 'cfg/', path: [], message: 'the schema threw: unlucky port' }];
    expect(events).toEqual([['invalid', 'CONSUL_CONFIG_VALIDATION', 'cfg/', issues]]);
    expect(config.get()).toEqual({ port: 1 });
    expect(calls).toEqual([
      [
        'warn',
        { key: 'cfg/', issues: 1 },
        'invalid config under cfg/: 1 problem; the last good value keeps serving\n  - cfg/: the schema threw: unlucky port',
      ],
    ]);
  });
});
