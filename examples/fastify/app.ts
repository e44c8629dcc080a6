/**
 * A Fastify 5 app whose price currency (a config) and checkout flow (a feature flag) reload from Consul
 * without a restart, through the plugin in consul-config.ts:
 *
 * - `GET /price`: `{"price":"€12.50"}`, in the configured currency;
 * - `GET /checkout`: `{"flow":"classic"}`, or `{"flow":"one-page"}` while the flag is on;
 * - `GET /healthz`: 200 `{"status":"ok","config":"ready","consul":"ready"}`, or 503 `"unavailable"`.
 */
import type { WatcherOptions } from 'consul-hotreload';
import Fastify, { type FastifyInstance } from 'fastify';
import { consulConfig } from './consul-config.js';

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

/** The app with its routes; the config is loaded when this resolves. */
export async function buildApp(options: ShopOptions): Promise<FastifyInstance> {
  const log = options.log ?? console.log;
  const app = Fastify();
  await app.register(consulConfig, { watcher: options.watcher, root: options.root ?? 'shop/' });

  // A formatter is costly to build: make one when the currency changes, not one per request.
  let price = priceFormat(app.config.get().currency);
  app.config.onChange(
    (c) => c.currency,
    (currency, previous) => {
      price = priceFormat(currency);
      log(`currency ${previous} -> ${currency}`);
    },
  );
  app.onePageCheckout.on('change', ({ value, previous }) => log(`one-page-checkout ${previous} -> ${value}`));

  // A readiness probe, not a liveness one: a restart does not bring Consul back, and the last good config
  // keeps serving meanwhile.
  app.get('/healthz', async (_request, reply) => {
    const health = app.consulHealth();
    return reply.code(health.status === 'ok' ? 200 : 503).send(health);
  });
  app.get('/price', async () => ({ price: price.format(app.config.get().priceCents / 100) }));
  app.get('/checkout', async () => ({ flow: app.onePageCheckout.value ? 'one-page' : 'classic' }));
  return app;
}

/** Builds the app and listens on 127.0.0.1. `close()` is Fastify's, which runs the plugin's `onClose`. */
export async function start(options: ShopOptions): Promise<{ url: string; close(): Promise<void> }> {
  const app = await buildApp(options);
  let url: string;
  try {
    url = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= app.close();
      return closing;
    },
  };
}

function priceFormat(currency: string): Intl.NumberFormat {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency });
}
