import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type ConfigBinding, defineConfig } from '../../../src/bindings/config.js';
import { DecodeFailure } from '../../../src/bindings/validate.js';
import {
  AbortedError,
  ClosedError,
  ConfigValidationError,
  InvalidArgumentError,
  TransportError,
} from '../../../src/errors.js';
import { FakeWatcher, recordingLogger, treeOf } from './fake-watch.js';

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

/** Defines a config on a fake watcher and answers its first read with `values`. */
async function loaded(
  values: Record<string, unknown>,
  options: Partial<Parameters<typeof defineConfig<typeof AppConfig>>[0]> = {},
): Promise<{ config: ConfigBinding<typeof AppConfig>; watcher: FakeWatcher }> {
  const watcher = new FakeWatcher();
  const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher, ...options });
  const loading = config.load();
  watcher.last.answer(treeOf(values));
  await loading;
  return { config, watcher };
}

async function loadError(values: Record<string, unknown>, options = {}): Promise<ConfigValidationError> {
  const watcher = new FakeWatcher();
  const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher, ...options });
  const loading = config.load();
  watcher.last.answer(treeOf(values));
  const error = await loading.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigValidationError);
  expect(watcher.last.closed).toBe(true);
  return error as ConfigValidationError;
}

describe('defineConfig().load()', () => {
  it('watches the prefix and resolves with the typed config, defaults filled in', async () => {
    const { config, watcher } = await loaded(goodValues);
    expect(watcher.subscriptions.map((s) => s.key)).toEqual(['config/app/']);
    expect(typeof watcher.last.options.format).toBe('function');
    expect(config.get()).toEqual(goodConfig);
    expect(config.state).toBe('ready');
    expectTypeOf(config.get().db.pool.max).toEqualTypeOf<number>();
    expectTypeOf(config.get().features).toEqualTypeOf<Record<string, boolean>>();
  });

  it('adds the trailing slash to a prefix given without one', () => {
    const config = defineConfig({ prefix: 'config/app', schema: AppConfig, watcher: new FakeWatcher() });
    expect(config.prefix).toBe('config/app/');
  });

  it('decodes each key with the chosen format before validating', async () => {
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher, format: 'json' });
    const loading = config.load();
    const decode = watcher.last.options.format as (value: Buffer | null, key: string) => unknown;
    watcher.last.answer(
      treeOf({
        'db/host': decode(Buffer.from('"db.internal"'), 'config/app/db/host'),
        'db/port': decode(Buffer.from('5432'), 'config/app/db/port'),
        'db/password': decode(Buffer.from('"correct-horse-battery"'), 'config/app/db/password'),
      }),
    );
    expect((await loading).db.port).toBe(5432);
  });

  it('fails with one error listing every problem: key, path, expected, found, secrets redacted', async () => {
    const error = await loadError(
      {
        'db/port': 'five',
        'db/password': 'hunter2',
        'db/pool/max': new DecodeFailure('not valid JSON: Unexpected token'),
        'db/hots': 'typo.internal',
      },
      { unknownKeys: 'error' },
    );
    expect(error.code).toBe('CONFIG_VALIDATION');
    expect(error.key).toBe('config/app/');
    expect(error.operation).toBe('config.load');
    expect(error.issues).toEqual([
      {
        key: 'config/app/db/pool/max',
        path: ['db', 'pool', 'max'],
        message: 'not valid JSON: Unexpected token',
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
        '  - config/app/db/pool/max at db.pool.max: not valid JSON: Unexpected token',
        '  - config/app/db/host at db.host: missing; expected string',
        '  - config/app/db/port at db.port: expected number (found "five")',
        '  - config/app/db/password at db.password: Too small: expected string to have >=12 characters (found [redacted])',
        '  - config/app/db/hots at db.hots: not described by the schema (found "typo.internal")',
      ].join('\n'),
    );
    expect(error.message).not.toContain('hunter2');
  });

  it('only warns about unknown keys by default, once per key, and again after one comes back', async () => {
    const { calls, logger } = recordingLogger();
    const values = { ...goodValues, 'db/hots': 'typo', 'db/token': 's3cr3t' };
    const { watcher } = await loaded(values, { logger });
    const warning = (key: string, path: string, received: string) => [
      'warn',
      { key, path, received },
      `unknown config key ${key}: not described by the schema of config/app/`,
    ];
    expect(calls).toEqual([
      warning('config/app/db/hots', 'db.hots', '"typo"'),
      warning('config/app/db/token', 'db.token', '[redacted]'),
    ]);

    watcher.last.change(treeOf({ ...values, 'db/port': 6432 }));
    expect(calls).toHaveLength(2);
    watcher.last.change(treeOf({ ...goodValues, 'db/token': 's3cr3t' }));
    watcher.last.change(treeOf(values));
    expect(calls).toEqual([
      warning('config/app/db/hots', 'db.hots', '"typo"'),
      warning('config/app/db/token', 'db.token', '[redacted]'),
      warning('config/app/db/hots', 'db.hots', '"typo"'),
    ]);
  });

  it('says nothing about unknown keys when told to ignore them', async () => {
    const { calls, logger } = recordingLogger();
    const { config } = await loaded({ ...goodValues, 'db/hots': 'typo' }, { logger, unknownKeys: 'ignore' });
    expect(config.get()).toEqual(goodConfig);
    expect(calls).toEqual([]);
  });

  it('accepts any key below a loose object or record', async () => {
    const schema = z.object({ labels: z.looseObject({}), limits: z.record(z.string(), z.number()) });
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema, watcher, unknownKeys: 'error' });
    const loading = config.load();
    watcher.last.answer(treeOf({ 'labels/team': 'core', 'limits/search': 5 }));
    expect(await loading).toEqual({ labels: { team: 'core' }, limits: { search: 5 } });
  });

  it('fills an empty prefix from the defaults', async () => {
    const schema = z.object({ http: z.object({ port: z.number().default(8080) }).prefault({}) });
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema, watcher });
    const loading = config.load();
    watcher.last.answer(treeOf({}));
    expect(await loading).toEqual({ http: { port: 8080 } });
  });

  it('passes on the error when the first read fails, and can be retried', async () => {
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher });
    const first = config.load();
    expect(config.load()).toBe(first);
    const refused = new TransportError('kv.list config/app/: connect ECONNREFUSED', { operation: 'kv.list' });
    watcher.last.fail(refused);
    await expect(first).rejects.toBe(refused);
    expect([config.state, watcher.last.closed]).toEqual(['idle', true]);

    const second = config.load();
    expect(second).not.toBe(first);
    watcher.last.answer(treeOf(goodValues));
    await expect(second).resolves.toEqual(goodConfig);
    expect(watcher.subscriptions).toHaveLength(2);
  });

  it('stops waiting when the load signal aborts, and ignores the signal once loaded', async () => {
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher });
    const controller = new AbortController();
    const loading = config.load({ signal: controller.signal });
    controller.abort(new Error('startup deadline'));
    const error = await loading.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).message).toBe('config.load config/app/: aborted before Consul answered');
    expect(watcher.last.closed).toBe(true);

    const late = new AbortController();
    const again = config.load({ signal: late.signal });
    watcher.last.answer(treeOf(goodValues));
    await again;
    late.abort();
    expect([config.state, watcher.last.closed, watcher.last.options.signal?.aborted]).toEqual([
      'ready',
      false,
      false,
    ]);
  });

  it('rejects a pending load with ClosedError when closed', async () => {
    const watcher = new FakeWatcher();
    const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher });
    const loading = config.load();
    await config.close();
    watcher.last.fail(new ClosedError('watch config/app/: closed', { operation: 'watch' }));
    await expect(loading).rejects.toBeInstanceOf(ClosedError);
    await expect(config.load()).rejects.toThrow('config config/app/: closed');
  });

  it('refuses bad arguments at the call', () => {
    const watcher = new FakeWatcher();
    expect(() => defineConfig({ prefix: '', schema: AppConfig, watcher })).toThrow(InvalidArgumentError);
    expect(() =>
      defineConfig({ prefix: 'a/', schema: AppConfig, watcher, unknownKeys: 'loud' as unknown as 'warn' }),
    ).toThrow("defineConfig a/: unknownKeys must be 'warn', 'error' or 'ignore', got loud");
    expect(() => defineConfig({ prefix: 'a/', schema: AppConfig, watcher, format: 'xml' as 'json' })).toThrow(
      "defineConfig a/: format must be 'text', 'json', 'yaml' or a function, got xml",
    );
  });

  it('throws from get() before load() resolved', () => {
    const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher: new FakeWatcher() });
    expect(() => config.get()).toThrow('config config/app/: get() called before load() resolved');
  });
});

describe('defineConfig() after load', () => {
  it('fires an onChange listener exactly when its selected part changes', async () => {
    const { config, watcher } = await loaded(goodValues);
    const poolCalls: unknown[] = [];
    const featureCalls: unknown[] = [];
    config.onChange(
      (c) => c.db.pool,
      (pool, previous) => poolCalls.push([pool, previous]),
    );
    config.onChange(
      (c) => c.features.search,
      (on, previous) => featureCalls.push([on, previous]),
    );

    watcher.last.change(treeOf({ ...goodValues, 'features/search': false }));
    watcher.last.change(treeOf({ ...goodValues, 'features/search': false, 'db/pool/max': 20 }));
    // Same pool written again (and an unrelated key): no call.
    watcher.last.change(
      treeOf({ ...goodValues, 'features/search': false, 'db/pool/max': 20, 'http/timeoutMs': 1 }),
    );
    // Explicitly writing the default changes nothing either.
    watcher.last.change(
      treeOf({
        ...goodValues,
        'features/search': false,
        'db/pool/max': 20,
        'db/pool/min': 1,
        'http/timeoutMs': 1,
      }),
    );

    expect(poolCalls).toEqual([
      [
        { min: 1, max: 20 },
        { min: 1, max: 10 },
      ],
    ]);
    expect(featureCalls).toEqual([[false, true]]);
  });

  it('emits change with current and previous only when the config really changed', async () => {
    const { config, watcher } = await loaded(goodValues);
    const events: unknown[] = [];
    config.on('change', (event) => events.push(event));
    const before = config.get();
    watcher.last.change(treeOf({ ...goodValues, 'db/pool/max': 10 }));
    expect(config.get()).toBe(before);
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 6432 }));
    expect(events).toEqual([
      { current: { ...goodConfig, db: { ...goodConfig.db, port: 6432 } }, previous: goodConfig },
    ]);
  });

  it('stops calling a listener once unsubscribed', async () => {
    const { config, watcher } = await loaded(goodValues);
    const calls: unknown[] = [];
    const unsubscribe = config.onChange(
      (c) => c.db.port,
      (port) => calls.push(port),
    );
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 1 }));
    unsubscribe();
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 2 }));
    expect(calls).toEqual([1]);
  });

  it('refuses an invalid change: invalid event, last good config kept, no listener called', async () => {
    const { calls, logger } = recordingLogger();
    const { config, watcher } = await loaded(goodValues, { logger });
    const events: unknown[] = [];
    config.on('invalid', (error) => events.push(['invalid', error.operation, error.issues]));
    config.on('change', () => events.push(['change']));
    config.onChange(
      (c) => c.db.port,
      () => events.push(['onChange']),
    );
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 0 }));
    expect(config.get()).toEqual(goodConfig);
    const issue = {
      key: 'config/app/db/port',
      path: ['db', 'port'],
      message: 'Too small: expected number to be >=1',
      expected: 'number >= 1',
      received: '0',
    };
    expect(events).toEqual([['invalid', 'config.reload', [issue]]]);
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
    const { config, watcher } = await loaded(goodValues, { unknownKeys: 'error' });
    const invalid: unknown[] = [];
    config.on('invalid', (error) => invalid.push(error.issues.map((issue) => issue.key)));
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 1, 'db/hots': 'x' }));
    expect(invalid).toEqual([['config/app/db/hots']]);
    expect(config.get().db.port).toBe(5432);
  });

  it('passes on watch errors and invalid events from the subscription without logging them again', async () => {
    const { calls, logger } = recordingLogger();
    const { config, watcher } = await loaded(goodValues, { logger });
    const events: unknown[] = [];
    config.on('error', (error) => events.push(['error', error.code]));
    config.on('invalid', (error) => events.push(['invalid', error.key]));
    const error = new TransportError('kv.list config/app/: socket hang up', { operation: 'kv.list' });
    watcher.last.emit('error', error);
    const invalid = new ConfigValidationError('watch', 'config/app/', [
      { key: 'config/app/db', path: ['db'], message: 'config/app/db holds a value but is also a folder' },
    ]);
    watcher.last.emit('invalid', invalid);
    expect(events).toEqual([
      ['error', 'CONSUL_TRANSPORT'],
      ['invalid', 'config/app/'],
    ]);
    // The watcher logs its own errors and invalid values; the config does not log them again.
    expect(calls).toEqual([]);
  });

  it('logs a throwing listener or selector and still runs the others', async () => {
    const { calls, logger } = recordingLogger();
    const { config, watcher } = await loaded(goodValues, { logger });
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
    watcher.last.change(treeOf({ ...goodValues, 'db/port': 7 }));
    expect(seen).toEqual([7]);
    expect(calls).toEqual([
      ['error', { key: 'config/app/', err: bug }, 'config config/app/: onChange listener threw'],
      ['error', { key: 'config/app/', err: bug }, 'config config/app/: onChange listener threw'],
    ]);
  });

  it('closes once: the subscription ends, a shared watcher stays open, later changes are ignored', async () => {
    const { config, watcher } = await loaded(goodValues);
    const subscription = watcher.last;
    const calls: unknown[] = [];
    config.onChange(
      (c) => c.db.port,
      (port) => calls.push(port),
    );
    const closing = config.close();
    expect(config.close()).toBe(closing);
    await closing;
    expect([
      config.state,
      subscription.closed,
      subscription.options.signal?.aborted,
      watcher.closeCalls,
    ]).toEqual(['closed', true, true, 0]);
    subscription.change(treeOf({ ...goodValues, 'db/port': 1 }));
    expect(calls).toEqual([]);
    expect(config.get()).toEqual(goodConfig);
  });
});
