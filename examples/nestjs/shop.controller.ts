/**
 * The shop's routes, on the config, the flag and the health function of ConsulConfigModule:
 *
 * - `GET /price`: `{"price":"€12.50"}`, in the configured currency;
 * - `GET /checkout`: `{"flow":"classic"}`, or `{"flow":"one-page"}` while the flag is on;
 * - `GET /healthz`: 200 `{"status":"ok","config":"ready","consul":"ready"}`, or 503 `"unavailable"`.
 *
 * Decorators are applied as calls, as in consul-config.module.ts: with `experimentalDecorators` on, they are
 * `@Controller()` on the class, `@Inject(SHOP_CONFIG)`… on the constructor parameters and `@Get('price')`…
 * on the handlers.
 */
import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import type { Flag } from 'consul-hotreload';
import {
  CONSUL_HEALTH,
  type ConsulHealth,
  ONE_PAGE_CHECKOUT,
  SHOP_CONFIG,
  type ShopConfigBinding,
} from './consul-config.module.js';

/** Token of the `(line: string) => void` the controller reports applied changes to. */
export const SHOP_LOG = Symbol('SHOP_LOG');

export class ShopController {
  readonly #config: ShopConfigBinding;
  readonly #onePageCheckout: Flag<boolean>;
  readonly #health: () => ConsulHealth;
  #price: Intl.NumberFormat;

  constructor(
    config: ShopConfigBinding,
    onePageCheckout: Flag<boolean>,
    health: () => ConsulHealth,
    log: (line: string) => void,
  ) {
    this.#config = config;
    this.#onePageCheckout = onePageCheckout;
    this.#health = health;
    // A formatter is costly to build: make one when the currency changes, not one per request.
    this.#price = priceFormat(config.get().currency);
    config.onChange(
      (c) => c.currency,
      (currency, previous) => {
        this.#price = priceFormat(currency);
        log(`currency ${previous} -> ${currency}`);
      },
    );
    onePageCheckout.on('change', ({ value, previous }) => log(`one-page-checkout ${previous} -> ${value}`));
  }

  /** A readiness probe, not a liveness one: a restart does not bring Consul back. */
  healthz(): ConsulHealth {
    const health = this.#health();
    // An object given to an HttpException is sent as the whole JSON body.
    if (health.status !== 'ok') throw new ServiceUnavailableException(health);
    return health;
  }

  price(): { price: string } {
    return { price: this.#price.format(this.#config.get().priceCents / 100) };
  }

  checkout(): { flow: 'one-page' | 'classic' } {
    return { flow: this.#onePageCheckout.value ? 'one-page' : 'classic' };
  }
}

Controller()(ShopController);
for (const [index, token] of [SHOP_CONFIG, ONE_PAGE_CHECKOUT, CONSUL_HEALTH, SHOP_LOG].entries()) {
  Inject(token)(ShopController, undefined, index);
}
for (const method of ['healthz', 'price', 'checkout'] as const) {
  const descriptor = Object.getOwnPropertyDescriptor(ShopController.prototype, method)!;
  Get(method)(ShopController.prototype, method, descriptor);
}

function priceFormat(currency: string): Intl.NumberFormat {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency });
}
