/**
 * A Fastify plugin for the shop's Consul config: it loads the config before the app is ready (a bad or
 * unreachable config fails `ready()`), decorates the instance with the live config, the live flag and
 * `consulHealth()`, and closes them and their watcher in `onClose`. Wrapped in fastify-plugin, so the
 * decorations are visible to the whole app, not only inside the plugin's own scope.
 */
import {
  type ConfigBinding,
  type ConfigState,
  createFlag,
  defineConfig,
  type Flag,
  type LoopState,
  Watcher,
  type WatcherOptions,
} from 'consul-hotreload';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';

export const ShopConfig = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR'),
  priceCents: z.number().int().nonnegative(),
});

/** What `/healthz` reports. */
export interface ConsulHealth {
  status: 'ok' | 'unavailable';
  config: ConfigState;
  /** The worst state of the watcher's blocking queries: `stale` once requests have failed for `staleAfter`. */
  consul: LoopState;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The live shop config: `config.get()` is always the last valid one. */
    config: ConfigBinding<typeof ShopConfig>;
    /** The live `one-page-checkout` flag. */
    onePageCheckout: Flag<boolean>;
    /** `ok` while the config is loaded and every blocking query is answering. */
    consulHealth(): ConsulHealth;
  }
}

/** Options of {@link consulConfig}. */
export interface ConsulConfigOptions {
  /** Options of the plugin's one Watcher (`address`, `token`…; unset ones come from CONSUL_*). */
  watcher: WatcherOptions;
  /** The folder of the app's keys: `<root>config/` and `<root>flags/one-page-checkout`. */
  root: string;
}

export const consulConfig = fp(
  async (app: FastifyInstance, options: ConsulConfigOptions) => {
    // One root: the config and every flag below it share one blocking query.
    const watcher = new Watcher({ ...options.watcher, roots: [options.root] });
    const config = defineConfig({ prefix: `${options.root}config/`, schema: ShopConfig, watcher });
    const onePageCheckout = createFlag(watcher, `${options.root}flags/one-page-checkout`, {
      type: 'boolean',
      default: false,
    });
    try {
      await config.load({ signal: AbortSignal.timeout(10_000) });
      await onePageCheckout.ready;
    } catch (error) {
      await watcher.close();
      throw error;
    }
    app.decorate('config', config);
    app.decorate('onePageCheckout', onePageCheckout);
    app.decorate('consulHealth', (): ConsulHealth => {
      const consul = watcher.closed
        ? 'closed'
        : (watcher.stats().queries.find((query) => query.state !== 'ready')?.state ?? 'ready');
      const ok = config.state === 'ready' && consul === 'ready';
      return { status: ok ? 'ok' : 'unavailable', config: config.state, consul };
    });
    // onClose runs after the server stopped taking requests, so no handler sees a closed config.
    app.addHook('onClose', async () => {
      await onePageCheckout.close();
      await config.close();
      await watcher.close();
    });
  },
  { name: 'consul-config', fastify: '5.x' },
);
