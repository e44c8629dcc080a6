/**
 * An Express 5 app whose price currency (a config) and checkout flow (a feature flag) reload from Consul
 * without a restart, and whose `/healthz` says whether the config is loaded and Consul is answering:
 *
 * - `GET /price`: `{"price":"€12.50"}`, in the configured currency;
 * - `GET /checkout`: `{"flow":"classic"}`, or `{"flow":"one-page"}` while the flag is on;
 * - `GET /healthz`: 200 `{"status":"ok","config":"ready","consul":"ready"}`, or 503 `"unavailable"`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createFlag, defineConfig, Watcher, type WatcherOptions } from 'consul-hotreload';
import express from 'express';
import { z } from 'zod';

const ShopConfig = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR'),
  priceCents: z.number().int().nonnegative(),
});

/** Options of {@link start}. */
export interface ShopOptions {
  /** Options of the app's one Watcher (`address`, `token`…; unset ones come from CONSUL_*). */
  watcher: WatcherOptions;
  /** The folder of the app's keys: `<root>config/` and `<root>flags/one-page-checkout`. @default 'shop/' */
  root?: string;
  /** HTTP port on 127.0.0.1. @default 0 (a free one) */
  port?: number;
  /** Where the app reports what it applied from Consul. @default console.log */
  log?: (line: string) => void;
}

/** Loads the config, then serves. Rejects, closing what it opened, when the config cannot be loaded. */
export async function start(options: ShopOptions): Promise<{ url: string; close(): Promise<void> }> {
  const root = options.root ?? 'shop/';
  const log = options.log ?? console.log;
  // One root: the config and every flag below it share one blocking query.
  const watcher = new Watcher({ ...options.watcher, roots: [root] });
  const config = defineConfig({ prefix: `${root}config/`, schema: ShopConfig, watcher });
  const onePageCheckout = createFlag(watcher, `${root}flags/one-page-checkout`, {
    type: 'boolean',
    default: false,
  });
  try {
    await config.load({ signal: AbortSignal.timeout(10_000) });
    await onePageCheckout.ready;

    // A formatter is costly to build: make one when the currency changes, not one per request.
    let price = priceFormat(config.get().currency);
    config.onChange(
      (c) => c.currency,
      (currency, previous) => {
        price = priceFormat(currency);
        log(`currency ${previous} -> ${currency}`);
      },
    );
    onePageCheckout.on('change', ({ value, previous }) => log(`one-page-checkout ${previous} -> ${value}`));

    const app = express();
    // A readiness probe, not a liveness one: a restart does not bring Consul back, and the last good config
    // keeps serving meanwhile.
    app.get('/healthz', (_request, response) => {
      const consul = watcher.closed
        ? 'closed'
        : (watcher.stats().queries.find((query) => query.state !== 'ready')?.state ?? 'ready');
      const ok = config.state === 'ready' && consul === 'ready';
      response
        .status(ok ? 200 : 503)
        .json({ status: ok ? 'ok' : 'unavailable', config: config.state, consul });
    });
    app.get('/price', (_request, response) => {
      response.json({ price: price.format(config.get().priceCents / 100) });
    });
    app.get('/checkout', (_request, response) => {
      response.json({ flow: onePageCheckout.value ? 'one-page' : 'classic' });
    });

    const server = app.listen(options.port ?? 0, '127.0.0.1');
    await once(server, 'listening');
    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => {
        closing ??= (async () => {
          server.close();
          await once(server, 'close');
          await onePageCheckout.close();
          await config.close();
          await watcher.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await watcher.close();
    throw error;
  }
}

function priceFormat(currency: string): Intl.NumberFormat {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency });
}
