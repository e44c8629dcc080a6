/**
 * The tests the Express, Fastify and NestJS examples share: each serves the same shop API (see
 * examples/shop/run-shop-demo.ts), so one suite checks it over real HTTP against the dev server, and runs the
 * example's main.ts with `--demo` as a child process. Each example's test file adds what its framework does.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConfigValidationError, type WatcherOptions } from 'consul-hotreload';
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { type ShopApp, type StartShop, shopSeed } from '../../examples/shop/run-shop-demo.js';

/** Quick retries, and no CONSUL_* variables from the environment running the tests. */
export const FAST: WatcherOptions = { minInterval: 0, backoff: { min: 5, max: 20 }, env: {} };

const HEALTHY = { status: 'ok', config: 'ready', consul: 'ready' };

/** A GET over a fresh connection: status and parsed JSON body. */
export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: { connection: 'close' } });
  return { status: response.status, body: await response.json() };
}

/** Registers the shared tests for one example (call inside a `describe`). */
export function shopExampleSuite(options: { name: string; start: StartShop; main: string }): void {
  let dev: DevServer;
  let app: ShopApp | undefined;
  let log: string[];

  beforeEach(async () => {
    dev = await startDevServer({ port: 0, seed: shopSeed('shop/') });
    log = [];
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await dev.close();
  });

  const launch = async (watcher: WatcherOptions = {}) => {
    app = await options.start({
      watcher: { ...FAST, address: dev.address, ...watcher },
      root: 'shop/',
      log: (line) => log.push(line),
    });
    return app.url;
  };

  it('serves the configured price and the classic checkout, and reports itself healthy', async () => {
    const url = await launch();
    expect(await getJson(`${url}/healthz`)).toEqual({ status: 200, body: HEALTHY });
    expect(await getJson(`${url}/price`)).toEqual({ status: 200, body: { price: '€12.50' } });
    expect(await getJson(`${url}/checkout`)).toEqual({ status: 200, body: { flow: 'classic' } });
    // One root: the config and the flag share a single blocking query.
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1));
  });

  it('applies a new currency and a flipped flag from Consul without a restart', async () => {
    const url = await launch();
    dev.kv.put('shop/config/currency', '"USD"');
    await vi.waitFor(async () =>
      expect(await getJson(`${url}/price`)).toEqual({ status: 200, body: { price: '$12.50' } }),
    );
    expect(log).toEqual(['currency EUR -> USD']);

    dev.kv.put('shop/flags/one-page-checkout', 'true');
    await vi.waitFor(async () =>
      expect(await getJson(`${url}/checkout`)).toEqual({ status: 200, body: { flow: 'one-page' } }),
    );
    // A price change alone does not rebuild the formatter: onChange fires only for the currency.
    dev.kv.put('shop/config/priceCents', '990');
    await vi.waitFor(async () =>
      expect(await getJson(`${url}/price`)).toEqual({ status: 200, body: { price: '$9.90' } }),
    );
    expect(log).toEqual(['currency EUR -> USD', 'one-page-checkout false -> true']);
  });

  it('answers 503 while Consul fails for longer than staleAfter, serving the last good config, then 200 again', async () => {
    const url = await launch({ staleAfter: 50 });
    dev.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
    // The held blocking query was accepted before the fault: a write under the root ends it, and every
    // request after it fails.
    dev.kv.put('shop/unrelated', 'x');
    await vi.waitFor(async () =>
      expect(await getJson(`${url}/healthz`)).toEqual({
        status: 503,
        body: { status: 'unavailable', config: 'ready', consul: 'stale' },
      }),
    );
    expect(await getJson(`${url}/price`)).toEqual({ status: 200, body: { price: '€12.50' } });

    dev.faults.clear();
    await vi.waitFor(async () =>
      expect(await getJson(`${url}/healthz`)).toEqual({ status: 200, body: HEALTHY }),
    );
    expect(log).toEqual([]);
  });

  it('refuses to start on an invalid config, naming the key, and leaves no connection to Consul open', async () => {
    dev.kv.put('shop/config/currency', '"euro"');
    const error: unknown = await launch().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues.map(({ key, path }) => [key, path])).toEqual([
      ['shop/config/currency', ['currency']],
    ]);
    await vi.waitFor(() => expect(dev.stats()).toMatchObject({ blockingHeld: 0, connections: 0 }));
  });

  it('closes its watcher on close(): Consul holds no blocking query and no connection from it', async () => {
    await launch();
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1));
    await app?.close();
    await vi.waitFor(() => expect(dev.stats()).toMatchObject({ blockingHeld: 0, connections: 0 }));
  });

  it(`runs ${options.main} --demo on the embedded dev server: both changes arrive, then it exits by itself`, async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', options.main, '--demo'],
      { env: { ...process.env, CONSUL_HTTP_ADDR: '' }, timeout: 15_000 },
    );
    expect(stderr).toBe('');
    expect(
      stdout
        .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
        .trimEnd()
        .split('\n'),
    ).toEqual([
      `[${options.name}] embedded Consul-compatible dev server at http://127.0.0.1:PORT`,
      `[${options.name}] serving on http://127.0.0.1:PORT`,
      'GET /healthz -> 200 {"status":"ok","config":"ready","consul":"ready"}',
      'GET /price -> 200 {"price":"€12.50"}',
      'GET /checkout -> 200 {"flow":"classic"}',
      `consul kv put shop/config/currency '"USD"'`,
      '[app] currency EUR -> USD',
      `consul kv put shop/flags/one-page-checkout 'true'`,
      '[app] one-page-checkout false -> true',
      'GET /price -> 200 {"price":"$12.50"}',
      'GET /checkout -> 200 {"flow":"one-page"}',
      `[${options.name}] closed`,
    ]);
  });
}
