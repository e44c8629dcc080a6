/**
 * The life every config view shares (`defineConfig`, `defineLayeredConfig`): the Watcher it reads through
 * (its own, closed with it, or a shared one, left open), `load()` once (again after a failure), `get()`,
 * `onChange(selector)` handlers that run only when their part changed, and `close()` once.
 * @module
 */
import { AbortedError, ClosedError, InvalidArgumentError } from '../errors.js';
import { SafeEmitter } from '../events.js';
import { type Logger, resolveLogger } from '../logger.js';
import type { WatcherOptions } from '../watch/types.js';
import { Watcher } from '../watch/watcher.js';
import { ChangeListeners, type ConfigListener, sameValue } from './change-listeners.js';

/** Where a config view is in its life. */
export type ConfigState = 'idle' | 'loading' | 'ready' | 'closed';

/** Options of {@link LoadOptions}-taking `load()`. */
export interface LoadOptions {
  /**
   * Aborts the wait for the first answer from Consul (e.g. `AbortSignal.timeout(10_000)` to fail startup when
   * Consul is unreachable). Only the wait is cancelled; after `load()` resolves the signal is ignored.
   * @default none: wait until Consul answers
   */
  signal?: AbortSignal;
}

/** What every config view is made from: where it logs and what it reads through. */
export interface ConfigViewOptions {
  logger?: Logger | undefined;
  watcher?: Watcher | WatcherOptions | undefined;
}

/** A config view over the engine; subclasses say how to start watching and how to stop. */
export abstract class ConfigView<T, E extends object> extends SafeEmitter<E & object> {
  /** How the view is named in messages and logs: its prefix, or its layers. */
  readonly #name: string;
  readonly #watcher: Watcher;
  readonly #ownsWatcher: boolean;
  readonly #closeController = new AbortController();
  readonly #listeners: ChangeListeners<T>;
  #state: ConfigState = 'idle';
  #value: T | undefined;
  #loaded = false;
  #loading: Promise<T> | undefined;
  #closing: Promise<void> | undefined;
  /** Where the view logs, resolved once. */
  protected readonly logger: Required<Logger>;

  protected constructor(name: string, options: ConfigViewOptions) {
    const logger = resolveLogger(options.logger);
    super((event, error) =>
      logger.error({ key: name, event, err: error }, `config ${name}: a '${event}' listener threw`),
    );
    this.#name = name;
    this.logger = logger;
    this.#listeners = new ChangeListeners((error) =>
      logger.error({ key: name, err: error }, `config ${name}: onChange listener threw`),
    );
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
   * Starts following the config and resolves with its first valid value; rejects with one
   * `ConfigValidationError` listing every problem, so a service can fail fast at startup.
   *
   * Calling it again returns the same promise; after a failure it may be called again to retry.
   */
  load(options: LoadOptions = {}): Promise<T> {
    if (this.#state === 'closed') return Promise.reject(this.closedError('config.load'));
    this.#loading ??= this.#load(options.signal).catch((error: unknown) => {
      this.#loading = undefined;
      throw error;
    });
    return this.#loading;
  }

  /** The current typed config: the last value that passed validation. Throws before `load()` resolves. */
  get(): T {
    if (!this.#loaded) {
      throw new InvalidArgumentError(`config ${this.#name}: get() called before load() resolved`, {
        operation: 'config.get',
        key: this.#name,
      });
    }
    return this.#value as T;
  }

  /**
   * Calls `listener(value, previous)` when the part chosen by `select` changes: after each accepted change,
   * `select` runs on the config before and after it and the listener fires only when the two results differ
   * structurally. So a listener on `(c) => c.db.pool` does not run when only `features.x` changed.
   *
   * Returns a function that removes the listener. A listener that throws is logged and does not stop the others.
   */
  onChange<R>(select: (config: T) => R, listener: ConfigListener<R>): () => void {
    return this.#listeners.add(select, listener);
  }

  /**
   * Stops following changes and closes the Watcher if this config created it. A pending `load()` rejects with
   * a `ClosedError`. Idempotent: a second call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The Watcher the view reads through. */
  protected get watcher(): Watcher {
    return this.#watcher;
  }

  /** Aborted by `close()`: every subscription of the view is watched with it. */
  protected get closeSignal(): AbortSignal {
    return this.#closeController.signal;
  }

  /** The value `get()` returns; undefined before the first. */
  protected get value(): T | undefined {
    return this.#value;
  }

  /**
   * Starts watching and resolves with the first valid config (racing `signal` through {@link abortedError}).
   * On failure it closes what it opened and rejects.
   */
  protected abstract start(signal: AbortSignal | undefined): Promise<T>;

  /** Stops every subscription the view opened. */
  protected abstract stop(): Promise<void>;

  /**
   * Takes a new valid config after `load()`: keeps the old object when nothing changed structurally (so
   * `get()` stays referentially stable) and returns false; otherwise returns true after `announce(previous)`
   * (the subclass's `change` event) and the `onChange` listeners ran.
   */
  protected replace(current: T, announce: (previous: T, changed: boolean) => void, force = false): boolean {
    if (this.#state !== 'ready') return false;
    const previous = this.#value as T;
    const changed = !sameValue(previous, current);
    if (!changed && !force) return false;
    if (changed) this.#value = current;
    announce(previous, changed);
    if (changed) this.#listeners.notify(previous, current);
    return changed;
  }

  protected closedError(operation: string): ClosedError {
    return new ClosedError(`config ${this.#name}: closed`, { operation, key: this.#name });
  }

  protected abortedError(reason: unknown): AbortedError {
    return new AbortedError(`config.load ${this.#name}: aborted before Consul answered`, {
      operation: 'config.load',
      key: this.#name,
      cause: reason,
    });
  }

  async #load(signal: AbortSignal | undefined): Promise<T> {
    this.#state = 'loading';
    let value: T;
    try {
      value = await this.start(signal);
      if (this.#closeController.signal.aborted) throw this.closedError('config.load');
    } catch (error) {
      if (!this.#closeController.signal.aborted) this.#state = 'idle';
      throw error;
    }
    this.#value = value;
    this.#loaded = true;
    this.#state = 'ready';
    return value;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#closeController.abort(this.closedError('config.close'));
    this.#listeners.clear();
    this.removeAllListeners();
    await this.stop();
    if (this.#ownsWatcher) await this.#watcher.close();
  }
}
