/**
 * A NestJS module for the shop's Consul config: `ConsulConfigModule.forRoot()` provides one Watcher, the
 * loaded config, the live flag and a health function, each under an explicit token, and closes them when the
 * app closes (`OnModuleDestroy`). The app does not start when the config cannot be loaded.
 *
 * No decorator syntax: this repository's tsconfig has no `experimentalDecorators`, and tsx/esbuild cannot emit
 * `emitDecoratorMetadata`. So every dependency has an explicit token (nothing relies on `design:paramtypes`),
 * and the decorators are applied as the calls that `@Module()` and `@Inject()` compile to. In an app with
 * `experimentalDecorators` on, write `@Module({})` on the class and `@Inject(CONSUL_WATCHER)` on the
 * constructor parameter instead; nothing else changes.
 */
import 'reflect-metadata';
import { type DynamicModule, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
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
import { z } from 'zod';

export const ShopConfig = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR'),
  priceCents: z.number().int().nonnegative(),
});

/** Token of the `Watcher` the config and the flag share. */
export const CONSUL_WATCHER = Symbol('CONSUL_WATCHER');
/** Token of the loaded {@link ShopConfigBinding}. */
export const SHOP_CONFIG = Symbol('SHOP_CONFIG');
/** Token of the live `one-page-checkout` `Flag<boolean>`. */
export const ONE_PAGE_CHECKOUT = Symbol('ONE_PAGE_CHECKOUT');
/** Token of a `() => ConsulHealth` function. */
export const CONSUL_HEALTH = Symbol('CONSUL_HEALTH');

export type ShopConfigBinding = ConfigBinding<typeof ShopConfig>;

/** What `/healthz` reports. */
export interface ConsulHealth {
  status: 'ok' | 'unavailable';
  config: ConfigState;
  /** The worst state of the watcher's blocking queries: `stale` once requests have failed for `staleAfter`. */
  consul: LoopState;
}

/** Options of {@link ConsulConfigModule.forRoot}. */
export interface ConsulConfigOptions {
  /** Options of the module's one Watcher (`address`, `token`…; unset ones come from CONSUL_*). */
  watcher: WatcherOptions;
  /** The folder of the app's keys: `<root>config/` and `<root>flags/one-page-checkout`. */
  root: string;
}

export class ConsulConfigModule implements OnModuleDestroy {
  static forRoot(options: ConsulConfigOptions): DynamicModule {
    return {
      module: ConsulConfigModule,
      providers: [
        // One root: the config and every flag below it share one blocking query.
        {
          provide: CONSUL_WATCHER,
          useFactory: () => new Watcher({ ...options.watcher, roots: [options.root] }),
        },
        {
          provide: SHOP_CONFIG,
          inject: [CONSUL_WATCHER],
          // Nest awaits an async factory: the app starts only with a loaded, valid config.
          useFactory: async (watcher: Watcher): Promise<ShopConfigBinding> => {
            const config = defineConfig({ prefix: `${options.root}config/`, schema: ShopConfig, watcher });
            try {
              await config.load({ signal: AbortSignal.timeout(10_000) });
            } catch (error) {
              // A failed start runs no OnModuleDestroy: close the watcher here, or the process stays up.
              await watcher.close();
              throw error;
            }
            return config;
          },
        },
        {
          provide: ONE_PAGE_CHECKOUT,
          inject: [CONSUL_WATCHER],
          useFactory: async (watcher: Watcher): Promise<Flag<boolean>> => {
            const flag = createFlag(watcher, `${options.root}flags/one-page-checkout`, {
              type: 'boolean',
              default: false,
            });
            await flag.ready; // never rejects: the default serves until Consul answers
            return flag;
          },
        },
        {
          provide: CONSUL_HEALTH,
          inject: [CONSUL_WATCHER, SHOP_CONFIG],
          useFactory: (watcher: Watcher, config: ShopConfigBinding) => (): ConsulHealth => {
            const consul = watcher.closed
              ? 'closed'
              : (watcher.stats().queries.find((query) => query.state !== 'ready')?.state ?? 'ready');
            const ok = config.state === 'ready' && consul === 'ready';
            return { status: ok ? 'ok' : 'unavailable', config: config.state, consul };
          },
        },
      ],
      exports: [SHOP_CONFIG, ONE_PAGE_CHECKOUT, CONSUL_HEALTH],
    };
  }

  readonly #watcher: Watcher;
  readonly #config: ShopConfigBinding;
  readonly #onePageCheckout: Flag<boolean>;

  constructor(watcher: Watcher, config: ShopConfigBinding, onePageCheckout: Flag<boolean>) {
    this.#watcher = watcher;
    this.#config = config;
    this.#onePageCheckout = onePageCheckout;
  }

  // Nest's close() runs this before the HTTP server stops; a request in between is still answered, because
  // get() and value keep their last value after close().
  async onModuleDestroy(): Promise<void> {
    await this.#onePageCheckout.close();
    await this.#config.close();
    await this.#watcher.close();
  }
}

Module({})(ConsulConfigModule);
for (const [index, token] of [CONSUL_WATCHER, SHOP_CONFIG, ONE_PAGE_CHECKOUT].entries()) {
  Inject(token)(ConsulConfigModule, undefined, index);
}
