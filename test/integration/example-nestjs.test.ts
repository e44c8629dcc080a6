/**
 * examples/nestjs: the shop API over real HTTP on the dev server and its main.ts as a child process
 * (test/helpers/shop-example.ts), then ConsulConfigModule itself: its providers and its OnModuleDestroy.
 */
import { NestFactory } from '@nestjs/core';
import type { Flag, Watcher } from 'consul-hotreload';
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appModule, start } from '../../examples/nestjs/app.js';
import {
  CONSUL_HEALTH,
  CONSUL_WATCHER,
  type ConsulHealth,
  ONE_PAGE_CHECKOUT,
  SHOP_CONFIG,
  type ShopConfigBinding,
} from '../../examples/nestjs/consul-config.module.js';
import { shopSeed } from '../../examples/shop/run-shop-demo.js';
import { FAST, shopExampleSuite } from '../helpers/shop-example.js';

describe('examples/nestjs', () => {
  // Nest logs a failed start as well as rejecting; the suite checks the rejection.
  const quiet: typeof start = (options) => start({ ...options, logger: false });
  shopExampleSuite({ name: 'nestjs', start: quiet, main: 'examples/nestjs/main.ts' });
});

describe('examples/nestjs ConsulConfigModule', () => {
  let dev: DevServer;
  beforeEach(async () => {
    dev = await startDevServer({ port: 0, seed: shopSeed('shop/') });
  });
  afterEach(async () => {
    await dev.close();
  });

  it('provides the loaded config and the flag under their tokens, and closes them and the watcher on destroy', async () => {
    const app = await NestFactory.createApplicationContext(
      appModule({ watcher: { ...FAST, address: dev.address }, log: () => {} }),
      { abortOnError: false, logger: false },
    );
    const config = app.get<ShopConfigBinding>(SHOP_CONFIG);
    const flag = app.get<Flag<boolean>>(ONE_PAGE_CHECKOUT);
    const health = app.get<() => ConsulHealth>(CONSUL_HEALTH);
    expect([config.state, config.get()]).toEqual(['ready', { currency: 'EUR', priceCents: 1250 }]);
    expect([flag.value, flag.reason]).toEqual([false, 'stored']);
    expect(health()).toEqual({ status: 'ok', config: 'ready', consul: 'ready' });

    await app.close();
    expect(config.state).toBe('closed');
    expect(app.get<Watcher>(CONSUL_WATCHER).closed).toBe(true);
    await vi.waitFor(() => expect(dev.stats()).toMatchObject({ blockingHeld: 0, connections: 0 }));
  });
});
