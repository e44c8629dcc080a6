/**
 * A NestJS 11 app (on Express) whose price currency (a config) and checkout flow (a feature flag) reload
 * from Consul without a restart: AppModule imports ConsulConfigModule and serves ShopController.
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { type DynamicModule, type LoggerService, type LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { WatcherOptions } from 'consul-hotreload';
import { ConsulConfigModule } from './consul-config.module.js';
import { SHOP_LOG, ShopController } from './shop.controller.js';

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
  /** Nest's own logger. A failed start is also the rejection of {@link start}. @default ['error', 'warn'] */
  logger?: LoggerService | LogLevel[] | false;
}

/** The root module; {@link appModule} configures it. */
export class AppModule {}

/** AppModule with its imports, its controller and the options of one run. */
export function appModule(options: ShopOptions): DynamicModule {
  return {
    module: AppModule,
    imports: [ConsulConfigModule.forRoot({ watcher: options.watcher, root: options.root ?? 'shop/' })],
    controllers: [ShopController],
    providers: [{ provide: SHOP_LOG, useValue: options.log ?? console.log }],
  };
}
Module({})(AppModule);

/** Creates the app (which loads the config) and listens on 127.0.0.1. `close()` runs OnModuleDestroy. */
export async function start(options: ShopOptions): Promise<{ url: string; close(): Promise<void> }> {
  // abortOnError: false makes a failed start reject instead of calling process.abort().
  const app = await NestFactory.create(appModule(options), {
    abortOnError: false,
    logger: options.logger ?? ['error', 'warn'],
  });
  try {
    await app.listen(options.port ?? 0, '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    close: () => {
      closing ??= app.close();
      return closing;
    },
  };
}
