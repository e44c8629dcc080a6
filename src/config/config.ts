/**
 * `defineConfig()`: typed application config read from a Consul prefix, validated at startup and kept live.
 *
 * A thin view over `watcher.watch(prefix, { schema, unknownKeys })`: the engine decodes, validates and
 * reports; the config adds `load()` for startup, `get()`, and `onChange(selector)` handlers that fire only
 * when their part of the config changed structurally.
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import type * as z from 'zod/v4';
import { raceAbort } from '../abort.js';
import {
  AbortedError,
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  InvalidArgumentError,
} from '../errors.js';
import { SafeEmitter } from '../events.js';
import { type Logger, resolveLogger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { UnknownKeysMode, WatcherOptions, WatchFormat } from '../watch/types.js';
import { validateWatchOptions, Watcher } from '../watch/watcher.js';

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

/** Options of {@link ConfigBinding.load}. */
export interface LoadOptions {
  /**
   * Aborts the wait for the first answer from Consul (e.g. `AbortSignal.timeout(10_000)` to fail startup when
   * Consul is unreachable). Only the wait is cancelled; after `load()` resolves the signal is ignored.
   * @default none: wait until Consul answers
   */
  signal?: AbortSignal;
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

/** Where a {@link ConfigBinding} is in its life. */
export type ConfigState = 'idle' | 'loading' | 'ready' | 'closed';

/** A listener for part of the config: the newly selected value and the one before it. */
export type ConfigListener<R> = (value: R, previous: R) => void;

/** Defaults of {@link ConfigOptions}. */
const CONFIG_DEFAULTS = { format: 'json', unknownKeys: 'warn' } as const satisfies Pick<
  Required<ConfigOptions<z.core.$ZodType>>,
  'format' | 'unknownKeys'
>;

/** Structural equality that never throws: a value too deep to compare counts as changed. */
function sameValue(a: unknown, b: unknown): boolean {
  try {
    return isDeepStrictEqual(a, b);
  } catch {
    return false;
  }
}

interface SelectorListener<T> {
  select: (config: T) => unknown;
  listener: ConfigListener<unknown>;
}

/**
 * A typed config read from a Consul prefix: `await load()` once at startup, then `get()` anywhere and
 * `onChange(selector, listener)` for the parts that must react.
 */
export class ConfigBinding<S extends z.core.$ZodType> extends SafeEmitter<ConfigEvents<z.output<S>>> {
  /** The watched prefix, always ending in `/`. */
  readonly prefix: string;
  readonly #schema: S;
  readonly #format: WatchFormat;
  readonly #unknownKeys: UnknownKeysMode;
  readonly #logger: Required<Logger>;
  readonly #userLogger: Logger | undefined;
  readonly #watcher: Watcher;
  readonly #ownsWatcher: boolean;
  readonly #closeController = new AbortController();
  readonly #listeners = new Set<SelectorListener<z.output<S>>>();
  #state: ConfigState = 'idle';
  #value: z.output<S> | undefined;
  #loaded = false;
  #subscription: Subscription<z.output<S>> | undefined;
  #loading: Promise<z.output<S>> | undefined;
  #closing: Promise<void> | undefined;

  /** Use {@link defineConfig}. */
  constructor(options: ConfigOptions<S>) {
    const prefix = normalizePrefix(options.prefix);
    const logger = resolveLogger(options.logger);
    super((event, error) =>
      logger.error({ key: prefix, event, err: error }, `config ${prefix}: a '${event}' listener threw`),
    );
    this.prefix = prefix;
    this.#logger = logger;
    this.#userLogger = options.logger;
    this.#schema = options.schema;
    this.#format = options.format ?? CONFIG_DEFAULTS.format;
    this.#unknownKeys = options.unknownKeys ?? CONFIG_DEFAULTS.unknownKeys;
    validateWatchOptions(prefix, { format: this.#format, unknownKeys: this.#unknownKeys });
    const watcher = options.watcher ?? {};
    this.#ownsWatcher = !(watcher instanceof Watcher);
    // A watcher made here logs where the config logs, unless its options say otherwise.
    this.#watcher =
      watcher instanceof Watcher ? watcher : new Watcher({ logger: options.logger, ...watcher });
  }

  /** `'idle'` until `load()`, `'loading'` while it waits, `'ready'` once a valid config is held, then `'closed'`. */
  get state(): ConfigState {
    return this.#state;
  }

  /**
   * Reads the prefix, validates it and starts following changes. Resolves with the typed config. Rejects with
   * one {@link ConfigValidationError} listing every problem (each with its Consul key, schema path, what was
   * expected and what was found, secret-looking values redacted) so a service can fail fast at startup.
   *
   * Calling it again returns the same promise; after a failure it may be called again to retry.
   */
  load(options: LoadOptions = {}): Promise<z.output<S>> {
    if (this.#state === 'closed') return Promise.reject(this.#closedError('config.load'));
    this.#loading ??= this.#load(options.signal).catch((error: unknown) => {
      this.#loading = undefined;
      throw error;
    });
    return this.#loading;
  }

  /** The current typed config: the last value that passed validation. Throws before `load()` resolves. */
  get(): z.output<S> {
    if (!this.#loaded) {
      throw new InvalidArgumentError(`config ${this.prefix}: get() called before load() resolved`, {
        operation: 'config.get',
        key: this.prefix,
      });
    }
    return this.#value as z.output<S>;
  }

  /**
   * Calls `listener(value, previous)` when the part chosen by `select` changes: after each accepted change,
   * `select` runs on the config before and after it and the listener fires only when the two results differ
   * structurally. So a listener on `(c) => c.db.pool` does not run when only `features.x` changed.
   *
   * Returns a function that removes the listener. A listener that throws is logged and does not stop the others.
   */
  onChange<R>(select: (config: z.output<S>) => R, listener: ConfigListener<R>): () => void {
    const entry: SelectorListener<z.output<S>> = { select, listener: listener as ConfigListener<unknown> };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Stops following changes and closes the Watcher if this config created it. A pending `load()` rejects with
   * a `ClosedError`. Idempotent: a second call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link ConfigBinding.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #load(signal: AbortSignal | undefined): Promise<z.output<S>> {
    this.#state = 'loading';
    const subscription = this.#watcher.watch(this.prefix, {
      format: this.#format,
      schema: this.#schema,
      unknownKeys: this.#unknownKeys,
      signal: this.#closeController.signal,
      ...(this.#userLogger === undefined ? {} : { logger: this.#userLogger }),
    });
    this.#subscription = subscription;
    // Listen at once: errors while the first read retries are worth passing on (Consul down at startup), and
    // no change can slip between `ready` and the first `change` listener.
    subscription.on('change', (event) => this.#apply(event.current));
    // The watcher has already logged these. Before `ready`, an `invalid` also rejects `ready` and so reaches
    // the caller of load().
    subscription.on('invalid', (error) => {
      if (this.#state === 'ready') this.emit('invalid', error);
    });
    subscription.on('error', (error) => this.emit('error', error));
    try {
      const value = await raceAbort(subscription.ready, signal, (reason) => this.#abortedError(reason));
      if (this.#closeController.signal.aborted) throw this.#closedError('config.load');
      this.#value = value;
      this.#loaded = true;
    } catch (error) {
      await subscription.close();
      this.#subscription = undefined;
      if (!this.#closeController.signal.aborted) this.#state = 'idle';
      // The startup failure names the operation the caller ran.
      if (error instanceof ConfigValidationError) {
        throw new ConfigValidationError('config.load', this.prefix, error.issues, error);
      }
      throw error;
    }
    this.#state = 'ready';
    return this.#value;
  }

  #apply(current: z.output<S>): void {
    if (this.#state !== 'ready') return;
    const previous = this.#value as z.output<S>;
    // Keep the old object when nothing really changed, so `get()` stays referentially stable.
    if (sameValue(previous, current)) return;
    this.#value = current;
    this.emit('change', { current, previous });
    for (const { select, listener } of [...this.#listeners]) {
      try {
        const before = select(previous);
        const after = select(current);
        if (!sameValue(before, after)) listener(after, before);
      } catch (error) {
        this.#logger.error(
          { key: this.prefix, err: error },
          `config ${this.prefix}: onChange listener threw`,
        );
      }
    }
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#closeController.abort(this.#closedError('config.close'));
    const subscription = this.#subscription;
    this.#subscription = undefined;
    this.#listeners.clear();
    this.removeAllListeners();
    await subscription?.close();
    if (this.#ownsWatcher) await this.#watcher.close();
  }

  #closedError(operation: string): ClosedError {
    return new ClosedError(`config ${this.prefix}: closed`, { operation, key: this.prefix });
  }

  #abortedError(reason: unknown): AbortedError {
    return new AbortedError(`config.load ${this.prefix}: aborted before Consul answered`, {
      operation: 'config.load',
      key: this.prefix,
      cause: reason,
    });
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
