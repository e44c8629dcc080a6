/**
 * An OpenFeature server provider that evaluates flagd flag definitions kept in Consul KV and reloads them
 * as they change. Evaluation is flagd-core's; this module only feeds it and turns watcher news into
 * provider events.
 * @module
 */

import { type FeatureFlag, FlagdCore, type Storage } from '@openfeature/flagd-core';
import {
  ErrorCode,
  type EvaluationContext,
  type FlagMetadata,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Logger as OpenFeatureLogger,
  ParseError,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { ClosedError, ConfigValidationError, InvalidArgumentError, type ValidationIssue } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { WatcherOptions } from '../watch/types.js';
import { Watcher } from '../watch/watcher.js';
import { decodeFlagValue, type FlagSet, issueText, loadFlagSet } from './flag-set.js';

/** Where the flag definitions live: exactly one of `key` or `prefix`. */
export type FlagSource =
  | {
      /**
       * One Consul key holding a whole flagd document: `{ "flags": {…}, "$evaluators": {…}, "metadata": {…} }`.
       * @example 'config/flags.json'
       */
      key: string;
      prefix?: undefined;
    }
  | {
      /**
       * A Consul prefix (ending in `/`) with one key per flag: the key name after the prefix is the flag key
       * and its value is that flag's definition. The key `<prefix>$evaluators` may hold shared evaluators,
       * referenced from targeting rules as `{ "$ref": "name" }`.
       * @example 'flags/'
       */
      prefix: string;
      key?: undefined;
    };

/** Options of {@link ConsulFlagProvider}: a {@link FlagSource}, then either a `watcher` or options to make one. */
export type ConsulFlagProviderOptions = FlagSource &
  WatcherOptions & {
    /**
     * A watcher to share. The provider subscribes through it and leaves it open on close. When it is
     * given, no other watcher option may be.
     * @default undefined (the provider makes a watcher from the other options and closes it on close)
     */
    watcher?: Watcher;
    /**
     * Logger for refused flag definitions and flagd-core's parse notes (pino- or console-shaped).
     * @default the watcher's logger option, else silent
     */
    logger?: Logger;
  };

/** The provider's name in OpenFeature metadata and event details. */
const PROVIDER_NAME = 'consul-hotreload';
const OPERATION = 'openfeature.load';
/** Options that belong to the provider itself; everything else is passed to the watcher it makes. */
const OWN_OPTIONS = new Set(['watcher', 'key', 'prefix', 'logger']);

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * flagd-core's logger: everything at debug level, because whatever matters in its notes (a refused flag,
 * targeting that does not compile) is reported as a validation issue instead.
 */
function flagdLogger(logger: Required<Logger>): OpenFeatureLogger {
  const toDebug = (...args: unknown[]): void =>
    logger.debug({ source: 'flagd-core' }, args.map(String).join(' '));
  return { error: toDebug, warn: toDebug, info: toDebug, debug: toDebug };
}

/** A FlagdCore answering from flags parsed elsewhere: evaluation stays flagd-core's, loading is ours. */
function servingCore(flags: Map<string, FeatureFlag>, metadata: FlagMetadata, logger: OpenFeatureLogger) {
  const storage: Storage = {
    getFlag: (key) => flags.get(key),
    getFlags: () => flags,
    getFlagSetMetadata: () => metadata,
    setConfigurations: () => {
      throw new Error('ConsulFlagProvider loads definitions itself, one flag at a time');
    },
  };
  return new FlagdCore(storage, logger);
}

/** Keys of flags added, removed or redefined between two flag sets, sorted (flagd-core's definition hash). */
function changedFlagKeys(previous: Map<string, FeatureFlag>, next: Map<string, FeatureFlag>): string[] {
  const keys = new Set([...previous.keys(), ...next.keys()]);
  return [...keys].filter((key) => previous.get(key)?.hash !== next.get(key)?.hash).sort(compareText);
}

/**
 * OpenFeature server provider backed by Consul KV: flagd flag definitions, evaluated by
 * `@openfeature/flagd-core`, reloaded without restart through a {@link Watcher}.
 *
 * - Flags are loaded one at a time, as flagd does: a flag flagd refuses (bad shape, bad default variant,
 *   targeting that does not compile, a `$ref` to a missing evaluator) keeps its last good definition if it
 *   had one, and otherwise answers `PARSE_ERROR`; every other flag of the document loads normally.
 * - `initialize()` resolves after the first load (the SDK then emits Ready) and rejects with a
 *   {@link ConfigValidationError} only when nothing can be served: the value is not a flagd document (or
 *   not JSON), or no flag of it loads.
 * - Later it emits ConfigurationChanged with exactly the flag keys whose served definitions changed, Error
 *   when new definitions are refused in whole or in part (naming each flag and its Consul key), Stale when
 *   the watcher's data goes stale, and Ready when either condition ends.
 *
 * @example
 * ```ts
 * await OpenFeature.setProviderAndWait(new ConsulFlagProvider({ prefix: 'flags/', address: 'http://127.0.0.1:8500' }));
 * const enabled = await OpenFeature.getClient().getBooleanValue('new-ui', false, { targetingKey: 'user-1' });
 * ```
 */
export class ConsulFlagProvider implements Provider {
  /** Provider metadata shown by the SDK and in event details. */
  readonly metadata = { name: PROVIDER_NAME } as const;
  /** This provider is for the server SDK. */
  readonly runsOn = 'server' as const;
  /** Events emitted after initialization: ConfigurationChanged, Stale, Error, Ready. */
  readonly events = new OpenFeatureEventEmitter();

  readonly #watcher: Watcher;
  readonly #ownsWatcher: boolean;
  /** The Consul key or prefix watched. */
  readonly #source: string;
  readonly #isPrefix: boolean;
  readonly #logger: Required<Logger>;
  readonly #flagdLogger: OpenFeatureLogger;
  /** The flags served: the good flags of the last load, plus the last good definition of any that broke. */
  #flags = new Map<string, FeatureFlag>();
  /** Flags that answer PARSE_ERROR: refused in the last load, with no earlier good definition. */
  #broken = new Map<string, ValidationIssue>();
  /** flagd-core evaluating {@link #flags}. */
  #core: FlagdCore;
  /** The problems of the definitions last loaded, one line each ({@link issueText}). */
  #reported: ReadonlySet<string> = new Set();
  #subscription: Subscription<unknown> | undefined;
  #initializing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Events are applied only once the first load has settled: the SDK owns the first Ready or Error. */
  #started = false;
  /** Definitions in Consul were refused since the last clean load (the SDK status is ERROR). */
  #failed = false;
  /** The watcher reports its data as stale. */
  #stale = false;

  /** @throws {InvalidArgumentError} when not exactly one of `key`/`prefix` is given, or `watcher` comes with watcher options. */
  constructor(options: ConsulFlagProviderOptions) {
    const { watcher, key, prefix, logger } = options;
    if ((key === undefined) === (prefix === undefined)) {
      throw new InvalidArgumentError('ConsulFlagProvider: give exactly one of "key" or "prefix"', {
        operation: 'openfeature.provider',
      });
    }
    if (prefix !== undefined && !prefix.endsWith('/')) {
      throw new InvalidArgumentError(`ConsulFlagProvider: prefix "${prefix}" must end with "/"`, {
        operation: 'openfeature.provider',
        key: prefix,
      });
    }
    const watcherOptions = Object.fromEntries(
      Object.entries(options).filter(([name]) => !OWN_OPTIONS.has(name)),
    );
    if (watcher !== undefined && Object.keys(watcherOptions).length > 0) {
      throw new InvalidArgumentError(
        `ConsulFlagProvider: watcher options (${Object.keys(watcherOptions).join(', ')}) cannot be combined with "watcher"; set them on that watcher`,
        { operation: 'openfeature.provider' },
      );
    }
    this.#source = key ?? prefix ?? '';
    this.#isPrefix = prefix !== undefined;
    this.#logger = resolveLogger(logger);
    this.#flagdLogger = flagdLogger(this.#logger);
    this.#core = servingCore(this.#flags, {}, this.#flagdLogger);
    this.#ownsWatcher = watcher === undefined;
    this.#watcher = watcher ?? new Watcher({ ...watcherOptions, logger } as WatcherOptions);
  }

  /**
   * Subscribes and loads the definitions. Resolves after the first load that yields at least one flag (or
   * finds no definitions at all); broken flags then answer PARSE_ERROR and are logged. Rejects with the
   * watcher's error, or a {@link ConfigValidationError} when the value is not a flagd document or no flag of
   * it loads. After a rejection the provider keeps watching and emits Ready once good definitions arrive.
   * Called by the SDK; a second call returns the first call's promise.
   */
  initialize(): Promise<void> {
    this.#initializing ??= this.#start();
    return this.#initializing;
  }

  /** Unsubscribes, and closes the watcher if the provider made it. Idempotent. Called by the SDK. */
  onClose(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Resolves a boolean flag with flagd-core; throws ParseError for a flag refused with no earlier good definition. */
  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<boolean>> {
    this.#throwIfBroken(flagKey);
    return this.#core.resolveBooleanEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves a string flag with flagd-core; throws ParseError for a flag refused with no earlier good definition. */
  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<string>> {
    this.#throwIfBroken(flagKey);
    return this.#core.resolveStringEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves a number flag with flagd-core; throws ParseError for a flag refused with no earlier good definition. */
  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<number>> {
    this.#throwIfBroken(flagKey);
    return this.#core.resolveNumberEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves an object flag with flagd-core; throws ParseError for a flag refused with no earlier good definition. */
  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<T>> {
    this.#throwIfBroken(flagKey);
    return this.#core.resolveObjectEvaluation(flagKey, defaultValue, context, logger);
  }

  async #start(): Promise<void> {
    if (this.#closing !== undefined) {
      throw new ClosedError('ConsulFlagProvider is closed', {
        operation: 'openfeature.initialize',
        key: this.#source,
      });
    }
    // A single key that is not JSON never reaches the provider: the watcher reports it as `invalid`, naming
    // the key. Under a prefix each key is one flag, so a value that is not JSON breaks only that flag.
    const format = this.#isPrefix ? decodeFlagValue : 'json';
    const subscription = this.#watcher.watch(this.#source, { format });
    this.#subscription = subscription;
    subscription.on('change', () => {
      if (this.#started) this.#load(subscription);
    });
    subscription.on('invalid', (error) => {
      if (this.#started) this.#refuse(error);
    });
    subscription.on('state', ({ state, previous }) => {
      if (this.#started) this.#onState(state, previous);
    });
    try {
      await subscription.ready;
      const loaded = this.#read(subscription);
      if (!loaded.unusable) this.#serve(loaded);
      this.#hasNewProblems(loaded);
      if (loaded.issues.length > 0) {
        const error = this.#logProblems(loaded);
        // Nothing to serve: reject, and the SDK reports Error. Otherwise it reports Ready, and the broken
        // flags answer PARSE_ERROR.
        if (loaded.unusable || this.#flags.size === 0) throw error;
      }
    } catch (error) {
      this.#failed = true;
      throw error;
    } finally {
      this.#started = true;
    }
  }

  /** Throws flagd's PARSE_ERROR for a flag refused with no earlier good definition; the SDK answers the default. */
  #throwIfBroken(flagKey: string): void {
    const issue = this.#broken.get(flagKey);
    if (issue !== undefined) throw new ParseError(issueText(issue));
  }

  /** Loads the subscription's last good values (one per key, by full key: no tree to walk). */
  #read(subscription: Subscription<unknown>): FlagSet {
    const documents = [...subscription.entries].map(([key, entry]) => ({ key, value: entry.value }));
    return loadFlagSet(this.#source, this.#isPrefix, documents, this.#flagdLogger);
  }

  /**
   * Serves a load: its good flags, and for each broken one its last good definition if there is one (else it
   * answers PARSE_ERROR). Returns the keys whose served definitions changed.
   */
  #serve(loaded: FlagSet): string[] {
    const flags = new Map(loaded.flags);
    const broken = new Map<string, ValidationIssue>();
    for (const [name, issue] of loaded.broken) {
      const kept = this.#flags.get(name);
      if (kept === undefined) broken.set(name, issue);
      else flags.set(name, kept);
    }
    const flagsChanged = changedFlagKeys(this.#flags, flags);
    this.#flags = flags;
    this.#broken = broken;
    this.#core = servingCore(flags, loaded.metadata, this.#flagdLogger);
    return flagsChanged;
  }

  /** Whether a load has a problem not in the previous load; remembers this load's problems either way. */
  #hasNewProblems(loaded: FlagSet): boolean {
    const problems = new Set(loaded.issues.map(issueText));
    const previous = this.#reported;
    this.#reported = problems;
    return [...problems].some((line) => !previous.has(line));
  }

  /**
   * A good value from the watcher: serve what loads, then report. Error comes only for a problem the last
   * load did not have (the same broken flag in every later load, or fewer broken flags, is no news); Ready
   * once a load has none.
   */
  #load(subscription: Subscription<unknown>): void {
    const loaded = this.#read(subscription);
    if (loaded.unusable) {
      this.#refuse(this.#logProblems(loaded));
      return;
    }
    const flagsChanged = this.#serve(loaded);
    if (this.#hasNewProblems(loaded)) {
      this.#refuse(this.#logProblems(loaded));
    } else if (loaded.issues.length === 0 && this.#failed) {
      this.#failed = false;
      this.events.emit(this.#stale ? ProviderEvents.Stale : ProviderEvents.Ready);
    }
    if (flagsChanged.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged });
  }

  /** Logs a load's problems at warn level; returns them as one error listing each with its Consul key. */
  #logProblems(loaded: FlagSet): ConfigValidationError {
    const error = new ConfigValidationError(OPERATION, this.#source, loaded.issues);
    this.#logger.warn({ key: this.#source, issues: error.issues }, error.message);
    return error;
  }

  /**
   * Refused definitions, all of them (not JSON, not a flagd document) or some flags: the SDK status becomes
   * ERROR; what was refused keeps its last good definition, or answers PARSE_ERROR when it had none.
   */
  #refuse(error: ConfigValidationError): void {
    this.#failed = true;
    this.events.emit(ProviderEvents.Error, { message: error.message, errorCode: ErrorCode.PARSE_ERROR });
  }

  /** Staleness maps to the SDK's STALE status; a refused definition (ERROR) outranks it. */
  #onState(state: string, previous: string): void {
    if (state === 'stale') {
      this.#stale = true;
      if (!this.#failed) this.events.emit(ProviderEvents.Stale);
    } else if (state === 'ready' && previous === 'stale') {
      this.#stale = false;
      if (!this.#failed) this.events.emit(ProviderEvents.Ready);
    }
  }

  async #close(): Promise<void> {
    // Closing the subscription also removes the provider's listeners from it.
    await this.#subscription?.close();
    if (this.#ownsWatcher) await this.#watcher.close();
  }
}
