/**
 * Watcher and watch options, resolved once into records with no optional fields and handed down: bad
 * input throws InvalidArgumentError naming the option, at the call.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { DEFAULT_WAIT_MS, MAX_QUERY_TIME_MS } from '../consul/blocking.js';
import type { Consistency } from '../consul/config.js';
import { checkTimerMs, parseDuration } from '../consul/duration.js';
import { validateKey } from '../consul/kv-args.js';
import { InvalidArgumentError } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import { isWatchFormat } from './decode.js';
import type {
  ServiceWatchOptions,
  UnknownKeysMode,
  WarningPolicy,
  WatcherOptions,
  WatchFormat,
  WatchOptions,
} from './types.js';

/** Defaults of {@link WatcherOptions}, in ms. */
export const WATCHER_DEFAULTS = {
  waitMs: DEFAULT_WAIT_MS,
  minIntervalMs: 100,
  churnIntervalMs: 15_000,
  backoffMinMs: 250,
  backoffMaxMs: 30_000,
  staleAfterMs: 60_000,
  startTimeoutMs: 30_000,
  decodeCacheSize: 1_000,
  maxBlockingQueries: 32,
} as const;

/** Defaults of {@link WatchOptions} that are not the watcher's. */
export const WATCH_DEFAULTS = { format: 'json', unknownKeys: 'ignore' } as const;

const OPERATION = 'watch';

/** {@link WatcherOptions} resolved. Times in ms. */
export interface ResolvedWatcherOptions {
  waitMs: number;
  minIntervalMs: number;
  churnIntervalMs: number;
  backoff: { minMs: number; maxMs: number };
  staleAfterMs: number;
  roots: readonly string[];
  consistency: Consistency;
  maxStaleMs: number | undefined;
  debounce: { minMs: number; maxMs: number } | undefined;
  startTimeoutMs: number;
  decodeCacheSize: number;
  random: (() => number) | undefined;
  cachePath: string | undefined;
  /** undefined: the cache file's default. */
  cacheMaxBytes: number | undefined;
  logger: Required<Logger>;
  /** At least 1. */
  maxBlockingQueries: number;
}

/** {@link WatchOptions} resolved against the watcher's. Times in ms. */
export interface ResolvedWatchOptions {
  format: WatchFormat;
  schema: zc.$ZodType | undefined;
  unknownKeys: UnknownKeysMode;
  consistency: Consistency;
  debounce: { minMs: number; maxMs: number } | undefined;
  startTimeoutMs: number;
  logger: Required<Logger>;
  signal: AbortSignal | undefined;
}

function invalid(message: string, key?: string): InvalidArgumentError {
  const where = key === undefined ? 'Watcher' : `watch ${key}`;
  return new InvalidArgumentError(`${where}: ${message}`, { operation: OPERATION, key });
}

function nonNegative(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(`${name} must be a non-negative number of milliseconds; got ${String(value)}`);
  }
  // Above 2^31-1 ms a Node.js timer fires after 1 ms: refuse rather than misbehave.
  return checkTimerMs(value, name, OPERATION);
}

function entryCount(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} must be a non-negative whole number of entries; got ${String(value)}`);
  }
  return value;
}

function resolveConsistency(value: unknown, name: string): Consistency {
  if (value === 'default' || value === 'stale' || value === 'consistent') return value;
  throw invalid(`${name} must be 'default', 'stale' or 'consistent'; got ${String(value)}`);
}

function resolveDebounce(
  value: WatcherOptions['debounce'],
  name: string,
): { minMs: number; maxMs: number } | undefined {
  if (value === undefined) return undefined;
  const minMs = parseDuration(value.min, `${name}.min`, OPERATION);
  const maxMs = parseDuration(value.max, `${name}.max`, OPERATION);
  if (maxMs < minMs)
    throw invalid(`${name}.max (${maxMs} ms) must not be less than ${name}.min (${minMs} ms)`);
  return { minMs, maxMs };
}

/** Resolves every option of a Watcher once. */
export function resolveWatcherOptions(options: WatcherOptions): ResolvedWatcherOptions {
  const waitMs = parseDuration(options.wait ?? WATCHER_DEFAULTS.waitMs, 'wait', OPERATION);
  if (waitMs < 1 || waitMs > MAX_QUERY_TIME_MS) {
    throw invalid(`wait must be between 1 ms and 10 minutes (Consul's max_query_time); got ${waitMs} ms`);
  }
  const minMs = nonNegative(options.backoff?.min, 'backoff.min', WATCHER_DEFAULTS.backoffMinMs);
  const maxMs = nonNegative(options.backoff?.max, 'backoff.max', WATCHER_DEFAULTS.backoffMaxMs);
  if (maxMs < minMs) throw invalid(`backoff.max (${maxMs}) must not be less than backoff.min (${minMs})`);
  const roots = options.roots ?? [];
  if (!Array.isArray(roots)) throw invalid('roots must be an array of prefixes');
  for (const root of roots) validateKey(root, 'Watcher roots', true);
  const staleAfterMs = nonNegative(options.staleAfter, 'staleAfter', WATCHER_DEFAULTS.staleAfterMs);
  if (staleAfterMs === 0) throw invalid('staleAfter must be above 0');
  const random = options.random;
  if (random !== undefined && typeof random !== 'function') throw invalid('random must be a function');
  const cachePath = options.cache?.path;
  if (options.cache !== undefined && (typeof cachePath !== 'string' || cachePath === '')) {
    throw invalid('cache.path must be a non-empty file path');
  }
  return {
    waitMs,
    minIntervalMs: nonNegative(options.minInterval, 'minInterval', WATCHER_DEFAULTS.minIntervalMs),
    churnIntervalMs: nonNegative(options.churnInterval, 'churnInterval', WATCHER_DEFAULTS.churnIntervalMs),
    backoff: { minMs, maxMs },
    staleAfterMs,
    roots: [...roots],
    consistency: resolveConsistency(options.consistency ?? 'default', 'consistency'),
    maxStaleMs: options.maxStale === undefined ? undefined : nonNegative(options.maxStale, 'maxStale', 0),
    debounce: resolveDebounce(options.debounce, 'debounce'),
    startTimeoutMs: nonNegative(options.startTimeout, 'startTimeout', WATCHER_DEFAULTS.startTimeoutMs),
    decodeCacheSize: entryCount(options.decodeCacheSize, 'decodeCacheSize', WATCHER_DEFAULTS.decodeCacheSize),
    random,
    cachePath,
    cacheMaxBytes: options.cache?.maxBytes,
    logger: resolveLogger(options.logger),
    maxBlockingQueries: resolveMaxBlockingQueries(options.maxBlockingQueries),
  };
}

function resolveMaxBlockingQueries(value: number | undefined): number {
  if (value === undefined) return WATCHER_DEFAULTS.maxBlockingQueries;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw invalid(`maxBlockingQueries must be a whole number above 0; got ${String(value)}`);
  }
  return value;
}

/** Checks what a `watch()` call can check without a watcher; throws InvalidArgumentError naming the option. */
export function checkWatchOptions(key: string, options: WatchOptions): void {
  const format = options.format ?? WATCH_DEFAULTS.format;
  if (!isWatchFormat(format)) {
    throw invalid(`format must be 'text', 'json', 'yaml' or a function; got ${String(format)}`, key);
  }
  const unknownKeys = options.unknownKeys ?? WATCH_DEFAULTS.unknownKeys;
  if (unknownKeys !== 'warn' && unknownKeys !== 'error' && unknownKeys !== 'ignore') {
    throw invalid(`unknownKeys must be 'warn', 'error' or 'ignore'; got ${String(unknownKeys)}`, key);
  }
}

/** Resolves the options of one `watch()` call against the watcher's. */
export function resolveWatchOptions(
  key: string,
  options: WatchOptions,
  watcher: ResolvedWatcherOptions,
): ResolvedWatchOptions {
  checkWatchOptions(key, options);
  return {
    format: options.format ?? WATCH_DEFAULTS.format,
    schema: options.schema,
    unknownKeys: options.unknownKeys ?? WATCH_DEFAULTS.unknownKeys,
    consistency:
      options.consistency === undefined
        ? watcher.consistency
        : resolveConsistency(options.consistency, 'consistency'),
    debounce:
      options.debounce === false
        ? undefined
        : (resolveDebounce(options.debounce, 'debounce') ?? watcher.debounce),
    startTimeoutMs: nonNegative(options.startTimeout, 'startTimeout', watcher.startTimeoutMs),
    logger: options.logger === undefined ? watcher.logger : resolveLogger(options.logger),
    signal: options.signal,
  };
}

/** Defaults of {@link ServiceWatchOptions} that are not the watcher's. */
export const SERVICE_WATCH_DEFAULTS = { passing: true, warning: 'exclude' } as const;

/** {@link ServiceWatchOptions} resolved against the watcher's. Times in ms. */
export interface ResolvedServiceWatchOptions {
  passing: boolean;
  warning: WarningPolicy;
  tags: readonly string[];
  dc: string | undefined;
  filter: string | undefined;
  near: string | undefined;
  consistency: Consistency;
  startTimeoutMs: number;
  logger: Required<Logger>;
  signal: AbortSignal | undefined;
}

/** Resolves the options of one `service()` call; throws InvalidArgumentError naming the option. */
export function resolveServiceWatchOptions(
  service: string,
  options: ServiceWatchOptions,
  watcher: ResolvedWatcherOptions,
): ResolvedServiceWatchOptions {
  const fail = (message: string): InvalidArgumentError =>
    new InvalidArgumentError(`watch service ${service}: ${message}`, {
      operation: 'watch.service',
      key: service,
    });
  if (typeof options !== 'object' || options === null) throw fail('options must be an object');
  const passing = options.passing ?? SERVICE_WATCH_DEFAULTS.passing;
  if (typeof passing !== 'boolean') throw fail(`passing must be a boolean; got ${String(passing)}`);
  const warning = options.warning ?? SERVICE_WATCH_DEFAULTS.warning;
  if (warning !== 'exclude' && warning !== 'include') {
    throw fail(`warning must be 'exclude' or 'include'; got ${String(warning)}`);
  }
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag !== '')) {
    throw fail('tags must be an array of non-empty strings');
  }
  const text = (value: unknown, name: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw fail(`${name} must be a non-empty string`);
    return value;
  };
  return {
    passing,
    warning,
    tags: [...tags],
    dc: text(options.dc, 'dc'),
    filter: text(options.filter, 'filter'),
    near: text(options.near, 'near'),
    consistency:
      options.consistency === undefined
        ? watcher.consistency
        : resolveConsistency(options.consistency, 'consistency'),
    startTimeoutMs: nonNegative(options.startTimeout, 'startTimeout', watcher.startTimeoutMs),
    logger: options.logger === undefined ? watcher.logger : resolveLogger(options.logger),
    signal: options.signal,
  };
}
