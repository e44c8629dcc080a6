/**
 * defineLayeredConfig against the embedded dev server over real loopback sockets: Spring Cloud Consul's
 * precedence (shared < shared,profile < app < app,profile), deletions that uncover a lower value, refused
 * values named by their winning key, one startup error listing every problem, and close() leaving nothing.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineLayeredConfig, type LayeredConfigChangeEvent } from '../../src/config/layered.js';
import type { LayeredChange } from '../../src/config/layered-tree.js';
import type { DevServer } from '../../src/devserver/server.js';
import { ConfigValidationError } from '../../src/errors.js';
import { FAST_WATCHER, Log, useWatchHarness } from '../helpers/watch.js';

const { start, makeWatcher } = useWatchHarness();

const Schema = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().default(5432),
    pool: z.object({ max: z.number().int().positive().default(10) }).prefault({}),
  }),
  http: z.object({ timeoutMs: z.number().int().positive().default(1000) }).prefault({}),
});

const LAYERS = { app: 'checkout', profiles: ['prod'] } as const;

type Recorded<T> = ['change', LayeredConfigChangeEvent<T>] | ['invalid', ConfigValidationError];

function serverReaches(dev: DevServer, test: (stats: ReturnType<DevServer['stats']>) => boolean) {
  return vi.waitFor(() => expect(test(dev.stats())).toBe(true), { timeout: 5_000, interval: 2 });
}

describe('defineLayeredConfig on the dev server', () => {
  it('lets a profile key override the app key, which overrides the shared key', async () => {
    const dev = await start({
      seed: {
        'config/application/db/host': '"shared.db"',
        'config/application/db/port': 5000,
        'config/application/http/timeoutMs': 250,
        'config/checkout/db/host': '"checkout.db"',
        'config/checkout/db/port': 6000,
        'config/checkout,prod/db/host': '"prod.db"',
        // Another app's keys are never read.
        'config/billing/db/host': '"billing.db"',
      },
    });
    const watcher = makeWatcher(dev, { roots: ['config/'] });
    const config = defineLayeredConfig({ layers: LAYERS, schema: Schema, watcher });
    expect(config.layers).toEqual([
      'config/application/',
      'config/application,prod/',
      'config/checkout/',
      'config/checkout,prod/',
    ]);
    await expect(config.load()).resolves.toEqual({
      db: { host: 'prod.db', port: 6000, pool: { max: 10 } },
      http: { timeoutMs: 250 },
    });
    // With roots, the four layers share one blocking query.
    expect(watcher.stats().queries.map(({ key, subscriptions }) => ({ key, subscriptions }))).toEqual([
      { key: 'config/', subscriptions: 4 },
    ]);
    await config.close();
  });

  it('uncovers the lower value when a higher layer deletes its key, naming the new winning key', async () => {
    const dev = await start({
      seed: {
        'config/application/db/host': '"shared.db"',
        'config/checkout/db/host': '"checkout.db"',
        'config/checkout,prod/db/host': '"prod.db"',
      },
    });
    const watcher = makeWatcher(dev);
    const config = defineLayeredConfig({ layers: LAYERS, schema: Schema, watcher });
    const log = new Log<Recorded<z.output<typeof Schema>>>();
    config.on('change', (event) => log.push(['change', event]));
    config.on('invalid', (error) => log.push(['invalid', error]));
    const hosts: Array<[string, string]> = [];
    config.onChange(
      (c) => c.db.host,
      (host, previous) => hosts.push([previous, host]),
    );
    const first = await config.load();

    dev.kv.delete('config/checkout,prod/db/host');
    await log.until(1);
    dev.kv.delete('config/checkout/db/host');
    await log.until(2);

    const change = (previous: string, value: string, key: string, layer: string, previousKey: string) => ({
      path: ['db', 'host'],
      type: 'updated',
      key,
      layer,
      previousKey,
      value,
      previous,
    });
    const withHost = (host: string) => ({ ...first, db: { ...first.db, host } });
    expect(log.items).toEqual([
      [
        'change',
        {
          current: withHost('checkout.db'),
          previous: withHost('prod.db'),
          changes: [
            change(
              'prod.db',
              'checkout.db',
              'config/checkout/db/host',
              'config/checkout/',
              'config/checkout,prod/db/host',
            ),
          ],
        },
      ],
      [
        'change',
        {
          current: withHost('shared.db'),
          previous: withHost('checkout.db'),
          changes: [
            change(
              'checkout.db',
              'shared.db',
              'config/application/db/host',
              'config/application/',
              'config/checkout/db/host',
            ),
          ],
        },
      ],
    ]);
    expect(hosts).toEqual([
      ['prod.db', 'checkout.db'],
      ['checkout.db', 'shared.db'],
    ]);
    expect(config.get().db.host).toBe('shared.db');
    await config.close();
  });

  it('announces a winner that moved even when the value stays the same, keeping get() identical', async () => {
    const dev = await start({
      seed: { 'config/application/db/host': '"same"', 'config/checkout/db/host': '"same"' },
    });
    const config = defineLayeredConfig({
      layers: { app: 'checkout' },
      schema: Schema,
      watcher: makeWatcher(dev),
    });
    const before = await config.load();
    const changes = new Log<readonly LayeredChange[]>();
    const selected: unknown[] = [];
    config.on('change', (event) => changes.push(event.changes));
    config.onChange(
      (c) => c.db,
      (db) => selected.push(db),
    );
    dev.kv.delete('config/checkout/db/host');
    await changes.until(1);
    expect(changes.items).toEqual([
      [
        {
          path: ['db', 'host'],
          type: 'updated',
          key: 'config/application/db/host',
          layer: 'config/application/',
          previousKey: 'config/checkout/db/host',
          value: 'same',
          previous: 'same',
        },
      ],
    ]);
    expect(config.get()).toBe(before);
    expect(selected).toEqual([]);
    await config.close();
  });

  it('refuses an invalid value in one layer, naming the winning key, and keeps the last good config', async () => {
    const dev = await start({
      seed: {
        'config/application/db/host': '"shared.db"',
        'config/application/db/port': 5000,
        'config/checkout/db/port': 6000,
      },
    });
    const config = defineLayeredConfig({ layers: LAYERS, schema: Schema, watcher: makeWatcher(dev) });
    const log = new Log<Recorded<z.output<typeof Schema>>>();
    config.on('change', (event) => log.push(['change', event]));
    config.on('invalid', (error) => log.push(['invalid', error]));
    const good = await config.load();

    // The schema refuses it: the merged tree is invalid, at the key that wins.
    dev.kv.put('config/checkout,prod/db/port', '"6000x"');
    await log.until(1);
    // It does not decode: the engine refuses that layer, naming the key.
    dev.kv.put('config/checkout/db/pool/max', '{"oops"');
    await log.until(2);
    // Fixing each applies it.
    dev.kv.put('config/checkout,prod/db/port', '7000');
    await log.until(3);
    dev.kv.put('config/checkout/db/pool/max', '20');
    await log.until(4);

    const [schemaRefused, decodeRefused] = log.items.map(([, payload]) => payload as ConfigValidationError);
    expect(schemaRefused).toBeInstanceOf(ConfigValidationError);
    expect(schemaRefused).toMatchObject({ code: 'CONSUL_CONFIG_VALIDATION', operation: 'config.reload' });
    expect(schemaRefused!.issues).toEqual([
      {
        key: 'config/checkout,prod/db/port',
        path: ['db', 'port'],
        message: 'expected number',
        expected: 'number',
        received: '"6000x"',
      },
    ]);
    expect(schemaRefused!.message).toBe(
      [
        'invalid config under config/application/ < config/application,prod/ < config/checkout/ < config/checkout,prod/: 1 problem; the last good value keeps serving',
        '  - config/checkout,prod/db/port at db.port: expected number (found "6000x")',
      ].join('\n'),
    );
    expect(decodeRefused!.issues).toEqual([
      {
        key: 'config/checkout/db/pool/max',
        path: ['db', 'pool', 'max'],
        message: expect.stringMatching(/^not valid JSON: /),
      },
    ]);
    expect(log.items.map(([name]) => name)).toEqual(['invalid', 'invalid', 'change', 'change']);
    expect(config.get()).toEqual({ ...good, db: { host: 'shared.db', port: 7000, pool: { max: 20 } } });
    await config.close();
  });

  it('rejects load() with one error listing every problem of every layer and of the merge', async () => {
    const dev = await start({
      seed: {
        'config/application/db/port': '"5432x"',
        'config/application/http/timeoutMs': -5,
        'config/checkout/db/pool/max': '{"oops"',
        'config/checkout,prod/featurs/new': true,
      },
    });
    const config = defineLayeredConfig({
      layers: LAYERS,
      schema: Schema,
      unknownKeys: 'error',
      watcher: makeWatcher(dev),
    });
    const error = await config.load().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error).toMatchObject({ code: 'CONSUL_CONFIG_VALIDATION', operation: 'config.load' });
    const lines = (error as ConfigValidationError).message.split('\n');
    expect(lines).toEqual([
      'invalid config under config/application/ < config/application,prod/ < config/checkout/ < config/checkout,prod/: 5 problems; the last good value keeps serving',
      expect.stringMatching(/^ {2}- config\/checkout\/db\/pool\/max at db\.pool\.max: not valid JSON: /),
      // Named in the highest layer holding its folder, db/.
      '  - config/application/db/host at db.host: missing; expected string',
      '  - config/application/db/port at db.port: expected number (found "5432x")',
      '  - config/application/http/timeoutMs at http.timeoutMs: Too small: expected number to be >0 (found -5)',
      '  - config/checkout,prod/featurs/new at featurs.new: not described by the schema (found true)',
    ]);
    expect(config.state).toBe('idle');
    // Nothing is left watching after a failed load; a fixed Consul lets load() succeed on retry.
    await serverReaches(dev, (stats) => stats.blockingHeld === 0);
    dev.kv.delete('config/', { recurse: true });
    dev.kv.put('config/checkout/db/host', '"fixed"');
    await expect(config.load()).resolves.toMatchObject({ db: { host: 'fixed' } });
    await config.close();
  });

  it('keeps calling the other listeners when one throws', async () => {
    const dev = await start({ seed: { 'config/application/db/host': '"a"' } });
    const errors: unknown[] = [];
    const config = defineLayeredConfig({
      layers: ['config/application/', 'config/checkout/'],
      schema: Schema,
      watcher: makeWatcher(dev),
      logger: { error: (obj) => errors.push(obj.err) },
    });
    await config.load();
    const heard = new Log<string>();
    config.on('change', () => {
      throw new Error('change listener');
    });
    config.on('change', (event) => heard.push(`change ${event.current.db.host}`));
    config.onChange(
      (c) => c.db.host,
      () => {
        throw new Error('onChange listener');
      },
    );
    config.onChange(
      (c) => c.db.host,
      (host) => heard.push(`onChange ${host}`),
    );
    dev.kv.put('config/checkout/db/host', '"b"');
    await heard.until(2);
    expect(heard.items).toEqual(['change b', 'onChange b']);
    expect(errors.map((error) => (error as Error).message)).toEqual(['change listener', 'onChange listener']);
    await config.close();
  });

  it('leaves no query on a shared watcher after close(), and closes a watcher it made', async () => {
    const dev = await start({ seed: { 'config/application/db/host': '"a"' } });
    const watcher = makeWatcher(dev);
    const shared = defineLayeredConfig({ layers: LAYERS, schema: Schema, watcher });
    await shared.load();
    expect(watcher.stats().queries).toHaveLength(4);
    const closing = shared.close();
    expect(shared.close()).toBe(closing);
    await closing;
    expect(shared.state).toBe('closed');
    expect(watcher.stats()).toMatchObject({ queries: [], subscriptions: 0 });
    expect(watcher.closed).toBe(false);
    await expect(shared.load()).rejects.toMatchObject({ name: 'ClosedError', code: 'CONSUL_CLOSED' });
    await watcher.close();
    await serverReaches(dev, (stats) => stats.connections === 0);

    const owned = defineLayeredConfig({
      layers: LAYERS,
      schema: Schema,
      watcher: { ...FAST_WATCHER, address: dev.address, env: {} },
    });
    await owned.load();
    await serverReaches(dev, (stats) => stats.blockingHeld === 4);
    await owned.close();
    await serverReaches(dev, (stats) => stats.blockingHeld === 0 && stats.connections === 0);
  });
});
