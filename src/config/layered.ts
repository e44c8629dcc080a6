/**
 * `defineLayeredConfig()`: one typed config read from several Consul prefixes, later layers overriding
 * earlier ones, as Spring Cloud Consul reads `config/application/`, `config/application,<profile>/`,
 * `config/<app>/` and `config/<app>,<profile>/`.
 *
 * A view over one `watcher.watch(prefix, { format })` per layer, with no schema: a layer alone is partial
 * by design, so only the merged tree can be validated. The engine decodes each layer's keys and refuses a
 * layer whose keys do not decode (naming the key); the layers' last good keys are deep-merged
 * (layered-tree.ts), validated once by the engine's mapper (`validateTree`), and each problem and change names the Consul key
 * that wins at its path.
 * @module
 */
import type * as z from 'zod/v4';
import { raceAbort } from '../abort.js';
import {
  ConfigValidationError,
  type ConsulError,
  InvalidArgumentError,
  type ValidationIssue,
} from '../errors.js';
import type { Logger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { UnknownKeysMode, WatcherOptions, WatchFormat } from '../watch/types.js';
import { UnknownKeysPolicy, validateTree, validateWatchOptions, type Watcher } from '../watch/watcher.js';
import { ConfigView } from './config-view.js';
import { diffLeaves, type LayeredChange, type MergedLeaf, mergeLayers } from './layered-tree.js';

/**
 * The layers of an application, built as Spring Cloud Consul builds its property sources. For each base
 * prefix, lowest precedence first: `<prefix>/<sharedContext>/`, `<prefix>/<sharedContext><sep><profile>/`
 * for each profile, `<prefix>/<app>/`, `<prefix>/<app><sep><profile>/` for each profile. A later profile
 * overrides an earlier one, and a later base prefix overrides an earlier one.
 *
 * @example
 * { app: 'checkout', profiles: ['prod'] }
 * // config/application/ < config/application,prod/ < config/checkout/ < config/checkout,prod/
 */
export interface AppLayers {
  /** The application's folder name (Spring's `spring.application.name`), e.g. `'checkout'`. */
  app: string;
  /**
   * Active profiles, lowest precedence first (Spring's active profiles), e.g. `['cloud', 'prod']`.
   * @default [] (no profile layers)
   */
  profiles?: readonly string[];
  /**
   * The base folder, or several, lowest precedence first (Spring's `spring.cloud.consul.config.prefixes`).
   * Leading and trailing `/` are ignored; `''` puts the contexts at the root of the KV store.
   * @default 'config'
   */
  prefix?: string | readonly string[];
  /**
   * The folder shared by every application (Spring's `spring.cloud.consul.config.default-context`).
   * @default 'application'
   */
  sharedContext?: string;
  /**
   * What joins a context and a profile in a folder name (Spring's `spring.cloud.consul.config.profile-separator`).
   * @default ','
   */
  profileSeparator?: string;
}

/** Options of {@link defineLayeredConfig}. */
export interface LayeredConfigOptions<S extends z.core.$ZodType> {
  /**
   * The Consul prefixes to merge, lowest precedence first (`['config/application/', 'config/checkout/']`:
   * a key of `config/checkout/` overrides the same path in `config/application/`), or an {@link AppLayers}
   * that builds them as Spring Cloud Consul does. A missing trailing `/` is added to each prefix. A prefix
   * with no key is an empty layer.
   */
  layers: readonly string[] | AppLayers;
  /** The zod 4 schema of the merged tree. Its defaults fill missing keys; its output type is the config's type. */
  schema: S;
  /**
   * How each key's value is decoded, in every layer: `'json'`, `'text'`, `'yaml'` or a function.
   * @default 'json'
   */
  format?: WatchFormat;
  /**
   * Keys in Consul, in any layer, that the schema does not describe: `'warn'` logs each one once when it
   * appears, `'error'` makes them validation issues, `'ignore'` says nothing.
   * @default 'warn'
   */
  unknownKeys?: UnknownKeysMode;
  /**
   * The Watcher to read through (shared, left open by {@link LayeredConfigBinding.close}), or options for
   * one this config creates and closes. Set `roots` (e.g. `['config/']`) so that every layer is served by
   * one blocking query instead of one per layer.
   * @default {} (a new Watcher configured from `CONSUL_*` environment variables)
   */
  watcher?: Watcher | WatcherOptions;
  /**
   * Where warnings go (unknown keys, refused reloads, listener failures).
   * @default no logging
   */
  logger?: Logger;
}

/** Payload of the `change` event of a {@link LayeredConfigBinding}. */
export interface LayeredConfigChangeEvent<T> {
  /** The new config; `get()` already returns it. The same object as `previous` when only a winning key moved. */
  current: T;
  /** The config before this change. */
  previous: T;
  /** Every value of the merged tree that changed or is now supplied by another key, deletions last. */
  changes: readonly LayeredChange[];
}

/** Events of a {@link LayeredConfigBinding}. */
export interface LayeredConfigEvents<T> {
  /**
   * The config changed structurally, or a value is now supplied by another key (a deletion in a higher
   * layer uncovered the same value below). Re-reads that change neither emit nothing.
   */
  change: (event: LayeredConfigChangeEvent<T>) => void;
  /**
   * A change was refused: a layer holds a key that does not decode (the engine's error for that layer), or
   * the merged tree fails the schema (naming the winning keys). The last good config keeps serving.
   */
  invalid: (error: ConfigValidationError) => void;
  /** A watch error of a layer (transport, ACL, server). The watch retries; the last good config keeps serving. */
  error: (error: ConsulError) => void;
}

/** Defaults of {@link LayeredConfigOptions} and {@link AppLayers}. */
const LAYERED_DEFAULTS = {
  format: 'json',
  unknownKeys: 'warn',
  prefix: 'config',
  sharedContext: 'application',
  profileSeparator: ',',
} as const satisfies Pick<Required<LayeredConfigOptions<z.core.$ZodType>>, 'format' | 'unknownKeys'> &
  Required<Pick<AppLayers, 'sharedContext' | 'profileSeparator'>> & { prefix: string };

type Checked<T> =
  | { ok: true; value: T; leaves: Map<string, MergedLeaf> }
  | { ok: false; issues: ValidationIssue[] };

/**
 * A typed config merged from several Consul prefixes: `await load()` once at startup, then `get()` anywhere
 * and `onChange(selector, listener)` for the parts that must react.
 */
export class LayeredConfigBinding<S extends z.core.$ZodType> extends ConfigView<
  z.output<S>,
  LayeredConfigEvents<z.output<S>>
> {
  /** The watched prefixes, lowest precedence first, each ending in `/`. */
  readonly layers: readonly string[];
  /** The layers as named in messages: `config/application/ < config/checkout/`. */
  readonly name: string;
  readonly #schema: S;
  readonly #format: WatchFormat;
  readonly #unknownKeys: UnknownKeysMode;
  readonly #userLogger: Logger | undefined;
  /** The merged tree's values behind the current value, to diff the next change against. */
  #leaves = new Map<string, MergedLeaf>();
  #subscriptions: Subscription<unknown>[] = [];
  #evaluationScheduled = false;
  readonly #policy: UnknownKeysPolicy;

  /** Use {@link defineLayeredConfig}. */
  constructor(options: LayeredConfigOptions<S>) {
    const layers = resolveLayers(options.layers);
    const name = layers.join(' < ');
    super(name, options);
    this.layers = layers;
    this.name = name;
    this.#userLogger = options.logger;
    this.#schema = options.schema;
    this.#format = options.format ?? LAYERED_DEFAULTS.format;
    this.#unknownKeys = options.unknownKeys ?? LAYERED_DEFAULTS.unknownKeys;
    for (const prefix of layers) {
      validateWatchOptions(prefix, { format: this.#format, unknownKeys: this.#unknownKeys });
    }
    this.#policy = new UnknownKeysPolicy(this.#unknownKeys, this.logger, name);
  }

  protected async start(signal: AbortSignal | undefined): Promise<z.output<S>> {
    try {
      for (const prefix of this.layers) this.#subscriptions.push(this.#watchLayer(prefix));
      const settled = await raceAbort(
        Promise.allSettled(this.#subscriptions.map((subscription) => subscription.ready)),
        signal,
        (reason) => this.abortedError(reason),
      );
      const rejected = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
      // Consul refused or did not answer: retrying load() may help, a list of problems would not.
      const failure = rejected.find((reason) => !(reason instanceof ConfigValidationError));
      if (failure !== undefined) throw failure;
      const layerIssues = (rejected as ConfigValidationError[]).flatMap((error) => error.issues);
      const outcome = this.#check();
      // A layer refused is missing from the merge: drop the schema's complaints about its paths.
      const refused = new Set(layerIssues.map((issue) => JSON.stringify(issue.path)));
      const mergedIssues = outcome.ok
        ? []
        : outcome.issues.filter((issue) => !refused.has(JSON.stringify(issue.path)));
      if (!outcome.ok || layerIssues.length > 0) {
        throw new ConfigValidationError('config.load', this.name, [...layerIssues, ...mergedIssues]);
      }
      this.#leaves = outcome.leaves;
      return outcome.value;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  protected async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
  }

  #watchLayer(prefix: string): Subscription<unknown> {
    const subscription = this.watcher.watch(prefix, {
      format: this.#format,
      signal: this.closeSignal,
      ...(this.#userLogger === undefined ? {} : { logger: this.#userLogger }),
    });
    // Every layer of one Consul answer (layers under one root) reports its change in the same task: merge
    // once, after all of them, so an atomic write across layers is never judged half-applied.
    subscription.on('change', () => this.#schedule());
    // The watcher has logged it; before `ready` it also rejects the layer's `ready`, reaching load().
    subscription.on('invalid', (error) => {
      if (this.state === 'ready') this.emit('invalid', error);
    });
    subscription.on('error', (error) => this.emit('error', error));
    return subscription;
  }

  #schedule(): void {
    if (this.#evaluationScheduled) return;
    this.#evaluationScheduled = true;
    queueMicrotask(() => {
      this.#evaluationScheduled = false;
      this.#evaluate();
    });
  }

  /** Merges the layers' last good keys and validates the merged tree, as the engine checks one prefix. */
  #check(): Checked<z.output<S>> {
    const tree = mergeLayers(
      this.#subscriptions.map((subscription, index) => ({
        prefix: this.layers[index]!,
        entries: subscription.entries,
      })),
    );
    const outcome = validateTree(this.#schema, tree.root, {
      keyOf: (path) => tree.keyOf(path),
      isFolder: (node) => tree.isFolder(node),
      // A merged tree names no single key: secrets are told by their path, as under a prefix.
      secret: false,
      findUnknownKeys: this.#policy.active,
    });
    const checked = this.#policy.apply(outcome);
    return checked.ok ? { ...checked, leaves: tree.leaves() } : checked;
  }

  #evaluate(): void {
    if (this.state !== 'ready') return;
    const outcome = this.#check();
    if (!outcome.ok) {
      const error = new ConfigValidationError('config.reload', this.name, outcome.issues);
      this.logger.warn({ key: this.name, issues: outcome.issues.length }, error.message);
      this.emit('invalid', error);
      return;
    }
    const changes = diffLeaves(this.#leaves, outcome.leaves);
    const moved = changes.some((change) => change.type === 'updated' && change.previousKey !== undefined);
    // Announced when the value changed or a winning key moved (the old object is kept then); a re-read, or
    // a key the schema drops, announces nothing and the next change is diffed from here.
    this.replace(
      outcome.value,
      (previous, changed) => {
        this.emit('change', { current: changed ? outcome.value : previous, previous, changes });
      },
      moved,
    );
    this.#leaves = outcome.leaves;
  }
}

/**
 * Defines a typed config merged from several Consul prefixes, later layers overriding earlier ones, and
 * validated once by `schema`.
 *
 * @example
 * const config = defineLayeredConfig({ layers: { app: 'checkout', profiles: ['prod'] }, schema: AppConfig, watcher });
 * const { db } = await config.load(); // config/checkout,prod/db/host wins over config/checkout/db/host
 */
export function defineLayeredConfig<S extends z.core.$ZodType>(
  options: LayeredConfigOptions<S>,
): LayeredConfigBinding<S> {
  return new LayeredConfigBinding(options);
}

/**
 * The prefixes of `layers`, lowest precedence first, each ending in `/`.
 * @throws InvalidArgumentError naming the option that cannot be used
 */
export function resolveLayers(layers: unknown): string[] {
  if (Array.isArray(layers)) {
    if (layers.length === 0) throw invalid('layers must list at least one prefix, lowest precedence first');
    const prefixes = layers.map((prefix: unknown) => {
      if (typeof prefix !== 'string' || prefix === '' || prefix === '/') {
        throw invalid(
          `each layer must be a Consul key prefix such as 'config/app/', got ${JSON.stringify(prefix)}`,
        );
      }
      return prefix.endsWith('/') ? prefix : `${prefix}/`;
    });
    const repeated = prefixes.find((prefix, index) => prefixes.indexOf(prefix) !== index);
    if (repeated !== undefined) throw invalid(`layer ${repeated} is listed twice`);
    return prefixes;
  }
  if (typeof layers !== 'object' || layers === null) {
    throw invalid(`layers must be a list of prefixes or { app, profiles? }, got ${JSON.stringify(layers)}`);
  }
  const spec = layers as AppLayers;
  const app = folderName(spec.app, 'layers.app');
  const shared = folderName(spec.sharedContext ?? LAYERED_DEFAULTS.sharedContext, 'layers.sharedContext');
  const separator = folderName(
    spec.profileSeparator ?? LAYERED_DEFAULTS.profileSeparator,
    'layers.profileSeparator',
  );
  if (spec.profiles !== undefined && !Array.isArray(spec.profiles)) {
    throw invalid('layers.profiles must be a list of profile names');
  }
  const profiles = (spec.profiles ?? []).map((profile: unknown, index) =>
    folderName(profile, `layers.profiles[${index}]`),
  );
  const rawPrefix = spec.prefix ?? LAYERED_DEFAULTS.prefix;
  const bases = typeof rawPrefix === 'string' ? [rawPrefix] : rawPrefix;
  if (!Array.isArray(bases) || bases.length === 0 || bases.some((base) => typeof base !== 'string')) {
    throw invalid(
      `layers.prefix must be a folder or a non-empty list of folders, got ${JSON.stringify(rawPrefix)}`,
    );
  }
  const contexts: string[] = [];
  for (const base of bases) {
    const folder = base.replace(/^\/+|\/+$/g, '');
    const at = (context: string): string => (folder === '' ? `${context}/` : `${folder}/${context}/`);
    for (const context of [shared, app]) {
      contexts.push(at(context));
      for (const profile of profiles) contexts.push(at(`${context}${separator}${profile}`));
    }
  }
  // `app: 'application'` repeats the shared contexts: keep each where it ranks highest.
  return contexts.filter((prefix, index) => contexts.lastIndexOf(prefix) === index);
}

function folderName(value: unknown, option: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('/')) {
    throw invalid(`${option} must be a non-empty folder name without '/', got ${JSON.stringify(value)}`);
  }
  return value;
}

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`defineLayeredConfig: ${message}`, { operation: 'config.define' });
}
