/**
 * `defineConfig()`: typed application config read from a Consul prefix, validated at startup and kept live.
 *
 * The config watches its prefix without a schema and validates the raw tree itself, because only the raw
 * tree still shows the keys a zod object would strip (the unknown keys) and the values as Consul holds them
 * (what an issue reports as "found").
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type * as z from 'zod';
import {
  AbortedError,
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  InvalidArgumentError,
  type ValidationIssue,
} from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import { type Decoder, isWatchFormat, type WatchFormat } from '../watch/decode.js';
import { emptyTree } from '../watch/tree.js';
import { Watcher, type WatcherOptions } from '../watch/watcher.js';
import { deepEqual } from './equal.js';
import { checkTree, type TreeCheck, tolerantDecoder } from './validate.js';

/** Payload of a subscription's `change` event, as far as the bindings read it. */
export interface WatchChangeEvent {
  /** The value after the change: the decoded value of a key, or the tree under a prefix. */
  current: unknown;
}

/**
 * The part of a subscription the bindings use. A `Subscription` from `Watcher.watch()` is one; unit tests
 * pass a fake.
 */
export interface WatchSubscription {
  /** Resolves with the first value Consul returned; rejects when it could not be read or decoded. */
  readonly ready: Promise<unknown>;
  /** The last good value. */
  readonly current: unknown;
  on(event: 'change', listener: (event: WatchChangeEvent) => void): unknown;
  on(event: 'invalid', listener: (error: ConfigValidationError) => void): unknown;
  on(event: 'error', listener: (error: ConsulError) => void): unknown;
  /** Stops the watch; resolves once its request has ended. */
  close(): Promise<void>;
}

/** The part of a `Watcher` the bindings use: `watch()` a key or prefix, and `close()`. */
export interface WatchSource {
  watch(key: string, options: { format: WatchFormat; signal?: AbortSignal }): WatchSubscription;
  close(): Promise<void>;
}

/** What to do with keys found under the prefix that the schema does not describe. */
export type UnknownKeysMode = 'warn' | 'error' | 'ignore';

/** Options of {@link defineConfig}. */
export interface ConfigOptions<S extends z.core.$ZodType> {
  /**
   * The Consul prefix holding the config, e.g. `'config/app/'`. A missing trailing `/` is added, because a
   * prefix match in Consul is a raw string match (`config/app` would also read `config/apple`; semantics §8).
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
   * The Watcher to read through: an existing one, shared with other bindings and left open by
   * {@link ConfigBinding.close}, or options for a Watcher this config creates and closes itself.
   * @default {} (a new Watcher configured from `CONSUL_*` environment variables)
   */
  watcher?: WatchSource | WatcherOptions;
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

interface SelectorListener<T> {
  select: (config: T) => unknown;
  listener: ConfigListener<unknown>;
}

/**
 * A typed config read from a Consul prefix: `await load()` once at startup, then `get()` anywhere and
 * `onChange(selector, listener)` for the parts that must react.
 */
export class ConfigBinding<S extends z.core.$ZodType> extends EventEmitter<ConfigEvents<z.output<S>>> {
  /** The watched prefix, always ending in `/`. */
  readonly prefix: string;
  readonly #schema: S;
  /** Decodes with the user's format, leaving failures in the tree so load() reports them with the rest. */
  readonly #decoder: Decoder;
  readonly #unknownKeys: UnknownKeysMode;
  readonly #logger: Required<Logger>;
  readonly #watcher: WatchSource;
  readonly #ownsWatcher: boolean;
  readonly #closeController = new AbortController();
  readonly #listeners = new Set<SelectorListener<z.output<S>>>();
  #state: ConfigState = 'idle';
  #value: z.output<S> | undefined;
  #loaded = false;
  #subscription: WatchSubscription | undefined;
  #loading: Promise<z.output<S>> | undefined;
  #closing: Promise<void> | undefined;
  /** Unknown keys already logged, so `'warn'` logs a key once per appearance, not on every change. */
  #warnedUnknown = new Set<string>();

  /** Use {@link defineConfig}. */
  constructor(options: ConfigOptions<S>) {
    super();
    this.prefix = normalizePrefix(options.prefix);
    this.#schema = options.schema;
    const format = options.format ?? CONFIG_DEFAULTS.format;
    if (!isWatchFormat(format)) {
      throw new InvalidArgumentError(
        `defineConfig ${this.prefix}: format must be 'text', 'json', 'yaml' or a function, got ${String(format)}`,
        { operation: 'config.define', key: this.prefix },
      );
    }
    this.#decoder = tolerantDecoder(format);
    this.#unknownKeys = options.unknownKeys ?? CONFIG_DEFAULTS.unknownKeys;
    if (!['warn', 'error', 'ignore'].includes(this.#unknownKeys)) {
      throw new InvalidArgumentError(
        `defineConfig ${this.prefix}: unknownKeys must be 'warn', 'error' or 'ignore', got ${String(this.#unknownKeys)}`,
        { operation: 'config.define', key: this.prefix },
      );
    }
    this.#logger = resolveLogger(options.logger);
    const watcher = options.watcher ?? {};
    this.#ownsWatcher = !isWatchSource(watcher);
    // A watcher made here logs where the config logs, unless its options say otherwise.
    this.#watcher = isWatchSource(watcher) ? watcher : new Watcher({ logger: options.logger, ...watcher });
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
      format: this.#decoder,
      signal: this.#closeController.signal,
    });
    this.#subscription = subscription;
    // Listen at once: errors while the first read retries are worth passing on (Consul down at startup), and
    // no change can slip between `ready` and the first `change` listener.
    subscription.on('change', (event) => this.#apply(event.current));
    // The watcher has already logged these; pass them on. Before `ready`, an `invalid` also rejects `ready`
    // and so reaches the caller of load().
    subscription.on('invalid', (error) => {
      if (this.#state === 'ready') this.#safely('invalid listener', () => this.emit('invalid', error));
    });
    subscription.on('error', (error) => this.#safely('error listener', () => this.emit('error', error)));
    try {
      await abortable(subscription.ready, signal, this.prefix);
      if (this.#closeController.signal.aborted) throw this.#closedError('config.load');
      const check = this.#check(subscription.current);
      const issues = this.#issuesOf(check);
      if (issues.length > 0) throw new ConfigValidationError('config.load', this.prefix, issues);
      this.#value = check.value as z.output<S>;
      this.#loaded = true;
      this.#warnUnknownKeys(check.unknownKeys);
    } catch (error) {
      await subscription.close();
      this.#subscription = undefined;
      if (!this.#closeController.signal.aborted) this.#state = 'idle';
      throw error;
    }
    this.#state = 'ready';
    return this.#value;
  }

  #check(tree: unknown): TreeCheck<z.output<S>> {
    // An empty prefix reads as an empty folder, so the schema's defaults can fill it.
    return checkTree(this.#schema, tree ?? emptyTree(), this.prefix);
  }

  #issuesOf(check: TreeCheck<z.output<S>>): ValidationIssue[] {
    return this.#unknownKeys === 'error' ? [...check.issues, ...check.unknownKeys] : check.issues;
  }

  #apply(tree: unknown): void {
    if (this.#state !== 'ready') return;
    const check = this.#check(tree);
    const issues = this.#issuesOf(check);
    if (issues.length > 0) {
      this.#refuse(new ConfigValidationError('config.reload', this.prefix, issues));
      return;
    }
    this.#warnUnknownKeys(check.unknownKeys);
    const previous = this.#value as z.output<S>;
    const current = check.value as z.output<S>;
    // Keep the old object when nothing really changed, so `get()` stays referentially stable.
    if (deepEqual(previous, current)) return;
    this.#value = current;
    this.#safely('change listener', () => this.emit('change', { current, previous }));
    for (const { select, listener } of [...this.#listeners]) {
      this.#safely('onChange listener', () => {
        const before = select(previous);
        const after = select(current);
        if (!deepEqual(before, after)) listener(after, before);
      });
    }
  }

  #refuse(error: ConfigValidationError): void {
    this.#logger.warn({ key: this.prefix, issues: error.issues.length }, error.message);
    this.#safely('invalid listener', () => this.emit('invalid', error));
  }

  #warnUnknownKeys(unknownKeys: readonly ValidationIssue[]): void {
    if (this.#unknownKeys !== 'warn') return;
    const present = new Set<string>();
    for (const issue of unknownKeys) {
      const id = `${issue.key}\u0000${issue.path.join('\u0000')}`;
      present.add(id);
      if (this.#warnedUnknown.has(id)) continue;
      this.#logger.warn(
        { key: issue.key, path: issue.path.join('.'), received: issue.received },
        `unknown config key ${issue.key}: not described by the schema of ${this.prefix}`,
      );
    }
    // Forget keys that went away, so a key that comes back is reported again.
    this.#warnedUnknown = present;
  }

  /** Runs user code (listeners, selectors) so that a throw is logged and never reaches the watch loop. */
  #safely(what: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#logger.error({ key: this.prefix, err: error }, `config ${this.prefix}: ${what} threw`);
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

function isWatchSource(value: WatchSource | WatcherOptions): value is WatchSource {
  return typeof (value as Partial<WatchSource>).watch === 'function';
}

/** Waits for `promise`, rejecting with an `AbortedError` as soon as `signal` fires; removes its listener either way. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, key: string): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(
        new AbortedError(`config.load ${key}: aborted before Consul answered`, {
          operation: 'config.load',
          key,
          cause: signal.reason,
        }),
      );
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
