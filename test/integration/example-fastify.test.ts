/**
 * examples/fastify: the shop API over real HTTP on the dev server and its main.ts as a child process
 * (test/helpers/shop-example.ts), then the plugin itself: what it decorates and what its onClose closes.
 */
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildApp, start } from '../../examples/fastify/app.js';
import { shopSeed } from '../../examples/shop/run-shop-demo.js';
import { FAST, shopExampleSuite } from '../helpers/shop-example.js';

describe('examples/fastify', () => {
  shopExampleSuite({ name: 'fastify', start, main: 'examples/fastify/main.ts' });
});

describe('examples/fastify consulConfig plugin', () => {
  let dev: DevServer;
  beforeEach(async () => {
    dev = await startDevServer({ port: 0, seed: shopSeed('shop/') });
  });
  afterEach(async () => {
    await dev.close();
  });

  it('decorates the instance with the loaded config and flag, and closes them and the watcher in onClose', async () => {
    const app = await buildApp({ watcher: { ...FAST, address: dev.address }, log: () => {} });
    expect(app.config.get()).toEqual({ currency: 'EUR', priceCents: 1250 });
    expect([app.onePageCheckout.value, app.onePageCheckout.reason]).toEqual([false, 'stored']);
    expect(app.consulHealth()).toEqual({ status: 'ok', config: 'ready', consul: 'ready' });
    await vi.waitFor(() => expect(dev.stats().blockingHeld).toBe(1));

    await app.close();
    expect(app.consulHealth()).toEqual({ status: 'unavailable', config: 'closed', consul: 'closed' });
    await vi.waitFor(() => expect(dev.stats()).toMatchObject({ blockingHeld: 0, connections: 0 }));
  });
});
