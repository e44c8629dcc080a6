/**
 * An OpenFeature server provider that evaluates flagd flag definitions kept in Consul KV and reloads them
 * as they change. Evaluation is flagd-core's; this module only feeds it and turns watcher news into
 * provider events.
 * @module
 */

import { type FeatureFlag, FlagdCore } from '@openfeature/flagd-core';
import {
  ErrorCode,
  type EvaluationContext,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Logger as OpenFeatureLogger,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { ClosedError, ConfigValidationError, InvalidArgumentError, type ValidationIssue } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { WatcherOptions } from '../watch/types.js';
import { Watcher } from '../watch/watcher.js';

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
const EVALUATORS_KEY = '$evaluators';
/** Options that belong to the provider itself; everything else is passed to the watcher it makes. */
const OWN_OPTIONS = new Set(['watcher', 'key', 'prefix', 'logger']);

/** One Consul key below the watched key or prefix and its decoded JSON (undefined for an empty value). */
interface ConsulDocument {
  readonly key: string;
  readonly value: unknown;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** Sets an own property, even one named `__proto__` (a flag key is any string). */
function setOwn(target: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/** A flagd document ready for flagd-core, with the Consul key (and path) each flag came from. */
interface FlagDocument {
  document: { flags: Record<string, unknown>; [field: string]: unknown };
  origins: Map<string, { key: string; path: string[] }>;
  issues: ValidationIssue[];
}

/** Single-key layout: the value is a flagd document as flagd itself reads it from a file. */
function documentFromKey(key: string, value: unknown): FlagDocument {
  const result: FlagDocument = { document: { flags: {} }, origins: new Map(), issues: [] };
  if (value === undefined) return result;
  if (!isPlainObject(value) || !isPlainObject(value.flags)) {
    result.issues.push({
      key,
      path: [],
      message: 'expected a flagd document: an object with a "flags" object',
      received: isPlainObject(value) ? `"flags": ${typeName(value.flags)}` : typeName(value),
    });
    return result;
  }
  result.document = { ...value, flags: value.flags };
  for (const name of Object.keys(value.flags)) result.origins.set(name, { key, path: ['flags', name] });
  return result;
}

/** Prefix layout: one key per flag; `$evaluators` holds shared evaluators; any other `$` name is a mistake. */
function documentFromPrefix(prefix: string, documents: ConsulDocument[]): FlagDocument {
  const result: FlagDocument = { document: { flags: {} }, origins: new Map(), issues: [] };
  for (const { key, value } of documents) {
    const name = key.slice(prefix.length);
    // An empty value defines nothing (the watcher already leaves folder keys such as `flags/team/` out).
    if (value === undefined) continue;
    if (name === EVALUATORS_KEY) {
      if (isPlainObject(value)) result.document[EVALUATORS_KEY] = value;
      else result.issues.push({ key, path: [], message: 'expected an object of named evaluators' });
    } else if (name.startsWith('$')) {
      result.issues.push({
        key,
        path: [],
        message: `unknown reserved key "${name}"; the only one is "${EVALUATORS_KEY}"`,
      });
    } else {
      setOwn(result.document.flags, name, value);
      result.origins.set(name, { key, path: [] });
    }
  }
  return result;
}

/** The most telling message of a flagd-core error: its ParseError wraps the real reason as `cause`. */
function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    return error.cause instanceof Error ? error.cause.message : error.message;
  }
  return String(error);
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

/** The message of a flag whose targeting does not compile, or undefined when it compiles. */
function targetingProblem(flag: FeatureFlag, logger: OpenFeatureLogger): string | undefined {
  // flagd-core keeps such a flag and answers PARSE_ERROR for it at every evaluation (checked before the
  // rule runs, so an empty context is enough to see it).
  const probe = flag.evaluate({}, logger);
  return probe.reason === 'ERROR' && probe.errorCode === ErrorCode.PARSE_ERROR
    ? probe.errorMessage
    : undefined;
}

/**
 * Builds a FlagdCore holding the flags, or throws a {@link ConfigValidationError} listing every problem at
 * once, each with its Consul key: the document's shape, flags flagd-core refuses, targeting that does not
 * compile. Refusing the whole update keeps the previous good definitions serving.
 */
function compileFlags(source: string, flags: FlagDocument, logger: OpenFeatureLogger): FlagdCore {
  const issues = [...flags.issues];
  const originOf = (name: string) => flags.origins.get(name) ?? { key: source, path: ['flags', name] };
  const { flags: definitions, ...shared } = flags.document;
  const candidates: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(definitions)) {
    if (isPlainObject(definition)) setOwn(candidates, name, definition);
    else
      issues.push({
        ...originOf(name),
        message: 'expected a flag definition object (state, variants, defaultVariant)',
      });
  }
  const core = new FlagdCore(undefined, logger);
  const check = (name: string, flag: FeatureFlag) => {
    const problem = targetingProblem(flag, logger);
    if (problem !== undefined) issues.push({ ...originOf(name), message: problem });
  };
  try {
    core.setConfigurations(JSON.stringify({ ...shared, flags: candidates }));
    for (const [name, flag] of core.getFlags()) check(name, flag);
  } catch (error) {
    // flagd-core stops at the first bad flag; load each alone so the error names all of them.
    const before = issues.length;
    for (const [name, definition] of Object.entries(candidates)) {
      const single = new FlagdCore(undefined, logger);
      try {
        single.setConfigurations(JSON.stringify({ ...shared, flags: { [name]: definition } }));
      } catch (flagError) {
        issues.push({ ...originOf(name), message: reasonOf(flagError) });
        continue;
      }
      const flag = single.getFlag(name);
      if (flag !== undefined) check(name, flag);
    }
    if (issues.length === before) issues.push({ key: source, path: [], message: reasonOf(error) });
  }
  if (issues.length > 0) {
    issues.sort((a, b) => compareText(a.key, b.key) || compareText(a.path.join('.'), b.path.join('.')));
    throw new ConfigValidationError(OPERATION, source, issues);
  }
  return core;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
 * - `initialize()` resolves after the first load (the SDK then emits Ready) and rejects with a
 *   {@link ConfigValidationError} when the definitions in Consul are invalid.
 * - Later it emits ConfigurationChanged with exactly the flag keys whose definitions changed, Error when
 *   new definitions are refused (the previous good ones keep serving), Stale when the watcher's data goes
 *   stale, and Ready when either condition ends.
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
  #core: FlagdCore;
  #subscription: Subscription<unknown> | undefined;
  #initializing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Events are applied only once the first load has settled: the SDK owns the first Ready or Error. */
  #started = false;
  /** The definitions in Consul are currently refused (the SDK status is ERROR). */
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
    this.#core = new FlagdCore(undefined, this.#flagdLogger);
    this.#ownsWatcher = watcher === undefined;
    this.#watcher = watcher ?? new Watcher({ ...watcherOptions, logger } as WatcherOptions);
  }

  /**
   * Subscribes and loads the definitions. Resolves after the first good load; rejects with the watcher's
   * error or a {@link ConfigValidationError} for definitions flagd refuses. After a rejection the provider
   * keeps watching and emits Ready once good definitions arrive. Called by the SDK; a second call returns
   * the first call's promise.
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

  /** Resolves a boolean flag with flagd-core. */
  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<boolean>> {
    return this.#core.resolveBooleanEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves a string flag with flagd-core. */
  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<string>> {
    return this.#core.resolveStringEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves a number flag with flagd-core. */
  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<number>> {
    return this.#core.resolveNumberEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Resolves an object flag with flagd-core. */
  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    logger: OpenFeatureLogger,
  ): Promise<ResolutionDetails<T>> {
    return this.#core.resolveObjectEvaluation(flagKey, defaultValue, context, logger);
  }

  async #start(): Promise<void> {
    if (this.#closing !== undefined) {
      throw new ClosedError('ConsulFlagProvider is closed', {
        operation: 'openfeature.initialize',
        key: this.#source,
      });
    }
    // Bad JSON never reaches the provider: the watcher reports it as `invalid`, naming the key.
    const subscription = this.#watcher.watch(this.#source, { format: 'json' });
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
      this.#core = this.#compile(subscription);
    } catch (error) {
      this.#failed = true;
      throw error;
    } finally {
      this.#started = true;
    }
  }

  /** Compiles the subscription's last good values (one per key, by full key: no tree to walk). */
  #compile(subscription: Subscription<unknown>): FlagdCore {
    const documents = [...subscription.entries].map(([key, entry]) => ({ key, value: entry.value }));
    const flags = this.#isPrefix
      ? documentFromPrefix(this.#source, documents)
      : documentFromKey(this.#source, documents[0]?.value);
    return compileFlags(this.#source, flags, this.#flagdLogger);
  }

  /** A good value from the watcher: swap in the new flags, then report recovery and the changed keys. */
  #load(subscription: Subscription<unknown>): void {
    let core: FlagdCore;
    try {
      core = this.#compile(subscription);
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      this.#logger.warn({ key: this.#source, issues: error.issues }, error.message);
      this.#refuse(error);
      return;
    }
    const flagsChanged = changedFlagKeys(this.#core.getFlags(), core.getFlags());
    this.#core = core;
    if (this.#failed) {
      this.#failed = false;
      this.events.emit(this.#stale ? ProviderEvents.Stale : ProviderEvents.Ready);
    }
    if (flagsChanged.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged });
  }

  /** Refused definitions: the SDK status becomes ERROR; the previous flags keep serving. */
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
