/**
 * `defineConfig()`: typed application config read from a Consul prefix, validated at startup and kept live.
 *
 * A thin view over `watcher.watch(prefix, { schema, unknownKeys })`: the engine decodes, validates and
 * reports; the config adds `load()` for startup, `get()`, and `onChange(selector)` handlers that fire only
 * when their part of the config changed structurally.
 * @module
 */
import type * as z from 'zod/v4';
import { raceAbort } from '../abort.js';
import { ConfigValidationError, type ConsulError, InvalidArgumentError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { UnknownKeysMode, WatcherOptions, WatchFormat } from '../watch/types.js';
import { validateWatchOptions, type Watcher } from '../watch/watcher.js';
import { ConfigView } from './config-view.js';

export type { ConfigListener } from './change-listeners.js';
export type { ConfigState, LoadOptions } from './config-view.js';

/** Options of {@link defineConfig}. */
export interface ConfigOptions<S extends z.core.$ZodType> {
  /**
   * The Consul prefix holding the config, e.g. `'config/app/'`. A missing trailing `/` is added, because a
   * prefix match in Consul is a raw string match (`config/app` would also read `config/apple`; consul-semantics §2.3).
   * Keys below it become paths in the tree: `config/app/db/port` is `db.port`.
   */
  prefix: string;
  /** The zod 4 schema of the whole tree. Its defaults fill missing keys; its output type is the config's type. */
  schema: S;
  /**
   * How each key's value is decoded before validation: `'json'` (so `5432` is a number and `true` a boolean;
   * strings must be quoted), `'text'` (every value a string; use `z.coerce` or `z.stringbool()` in the schema),
   * `'yaml'`, or a function `(value, key) => decoded`.
   * @default 'json'
   */
  format?: WatchFormat;
  /**
   * Keys in Consul that the schema does not describe (often a typo: `db/hots`). `'warn'` logs each one once
   * when it appears, `'error'` makes them validation issues (so `load()` fails and a later change that adds
   * one is refused), `'ignore'` says nothing. Objects built with `z.looseObject()`, `z.record()` or a catchall
   * describe every key below them.
   * @default 'warn'
   */
  unknownKeys?: UnknownKeysMode;
  /**
   * The Watcher to read through: an existing one, shared with other configs and flags and left open by
   * {@link ConfigBinding.close}, or options for a Watcher this config creates and closes itself.
   * @default {} (a new Watcher configured from `CONSUL_*` environment variables)
   */
  watcher?: Watcher | WatcherOptions;
  /**
   * Where warnings go (unknown keys, refused reloads, listener failures): pino, `console` or any object with
   * `warn`/`error` methods taking `(obj, msg)`.
   * @default no logging
   */
  logger?: Logger;
}

/** Payload of the `change` event: the config after and before a change that really changed it. */
export interface ConfigChangeEvent<T> {
  /** The new config; `get()` already returns it. */
  current: T;
  /** The config before this change. */
  previous: T;
}

/** Events of a {@link ConfigBinding}. */
export interface ConfigEvents<T> {
  /** The validated config changed structurally. Re-reads that change nothing emit nothing. */
  change: (event: ConfigChangeEvent<T>) => void;
  /** A change in Consul was refused (decode or schema problems); the last good config keeps serving. */
  invalid: (error: ConfigValidationError) => void;
  /** A watch error (transport, ACL, server). The watch retries; the last good config keeps serving. */
  error: (error: ConsulError) => void;
}

/** Defaults of {@link ConfigOptions}. */
const CONFIG_DEFAULTS = { format: 'json', unknownKeys: 'warn' } as const satisfies Pick<
  Required<ConfigOptions<z.core.$ZodType>>,
  'format' | 'unknownKeys'
>;

/**
 * A typed config read from a Consul prefix: `await load()` once at startup, then `get()` anywhere and
 * `onChange(selector, listener)` for the parts that must react.
 */
export class ConfigBinding<S extends z.core.$ZodType> extends ConfigView<
  z.output<S>,
  ConfigEvents<z.output<S>>
> {
  /** The watched prefix, always ending in `/`. */
  readonly prefix: string;
  readonly #schema: S;
  readonly #format: WatchFormat;
  readonly #unknownKeys: UnknownKeysMode;
  readonly #userLogger: Logger | undefined;
  #subscription: Subscription<z.output<S>> | undefined;

  /** Use {@link defineConfig}. */
  constructor(options: ConfigOptions<S>) {
    const prefix = normalizePrefix(options.prefix);
    super(prefix, options);
    this.prefix = prefix;
    this.#userLogger = options.logger;
    this.#schema = options.schema;
    this.#format = options.format ?? CONFIG_DEFAULTS.format;
    this.#unknownKeys = options.unknownKeys ?? CONFIG_DEFAULTS.unknownKeys;
    validateWatchOptions(prefix, { format: this.#format, unknownKeys: this.#unknownKeys });
  }

  protected async start(signal: AbortSignal | undefined): Promise<z.output<S>> {
    const subscription = this.watcher.watch(this.prefix, {
      format: this.#format,
      schema: this.#schema,
      unknownKeys: this.#unknownKeys,
      signal: this.closeSignal,
      ...(this.#userLogger === undefined ? {} : { logger: this.#userLogger }),
    });
    this.#subscription = subscription;
    // Listen at once: errors while the first read retries are worth passing on (Consul down at startup), and
    // no change can slip between `ready` and the first `change` listener.
    subscription.on('change', (event) =>
      this.replace(event.current, (previous) => this.emit('change', { current: event.current, previous })),
    );
    // The watcher has already logged these. Before `ready`, an `invalid` also rejects `ready` and so reaches
    // the caller of load().
    subscription.on('invalid', (error) => {
      if (this.state === 'ready') this.emit('invalid', error);
    });
    subscription.on('error', (error) => this.emit('error', error));
    try {
      return await raceAbort(subscription.ready, signal, (reason) => this.abortedError(reason));
    } catch (error) {
      await subscription.close();
      this.#subscription = undefined;
      // The startup failure names the operation the caller ran.
      if (error instanceof ConfigValidationError) {
        throw new ConfigValidationError('config.load', this.prefix, error.issues, error);
      }
      throw error;
    }
  }

  protected async stop(): Promise<void> {
    const subscription = this.#subscription;
    this.#subscription = undefined;
    await subscription?.close();
  }
}

/**
 * Defines a typed config read from the Consul `prefix` and validated by `schema`.
 *
 * @example
 * const config = defineConfig({ prefix: 'config/app/', schema: AppConfig, watcher });
 * const { db } = await config.load(); // fails fast with one readable error
 * config.onChange((c) => c.db.pool, (pool) => resizePool(pool));
 */
export function defineConfig<S extends z.core.$ZodType>(options: ConfigOptions<S>): ConfigBinding<S> {
  return new ConfigBinding(options);
}

function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '' || prefix === '/') {
    throw new InvalidArgumentError(
      `defineConfig: prefix must be a non-empty Consul key prefix such as 'config/app/', got ${JSON.stringify(prefix)}`,
      { operation: 'config.define' },
    );
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}
