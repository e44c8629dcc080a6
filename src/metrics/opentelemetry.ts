/**
 * OpenTelemetry metrics for a Watcher: observable instruments read `watcher.stats()` once per collection,
 * and the diagnostics channels feed what the stats do not keep (latency, errors by code, refused values).
 * Needs the optional peer dependency `@opentelemetry/api`; without an SDK its meter is a no-op.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type Attributes, type BatchObservableResult, type Meter, metrics } from '@opentelemetry/api';
import {
  type RequestFinishMessage,
  requestFinishChannel,
  type WatchErrorMessage,
  watchErrorChannel,
} from '../diagnostics.js';
import { ConfigValidationError, InvalidArgumentError, isConsulError } from '../errors.js';
import type { QueryStats, WatcherStats } from '../watch/types.js';
import { identityId, type QueryIdentity, QueryTotals } from './query-totals.js';
import { kvReadTarget } from './request-target.js';

const OPERATION = 'instrumentWatcher';

/** What {@link instrumentWatcher} reads: a {@link Watcher} (from this or another loaded copy of the library). */
export interface InstrumentedWatcher {
  stats(): WatcherStats;
}

/** Options of {@link instrumentWatcher}. */
export interface InstrumentWatcherOptions {
  /**
   * The meter the instruments are made on. Without one, `metrics.getMeter('consul-hotreload')` of the global
   * MeterProvider: a no-op until an OpenTelemetry SDK registers one, so instrumenting costs nothing then.
   * @default metrics.getMeter('consul-hotreload')
   */
  meter?: Meter | undefined;
  /**
   * Start of every instrument name, joined with `.` (`consul_hotreload.requests`). Give each instrumented
   * watcher the same prefix: their series differ by attributes (see docs/metrics.md, "Several watchers").
   * @default 'consul_hotreload'
   */
  prefix?: string | undefined;
  /**
   * Attributes added to every series of this watcher, e.g. `{ watcher: 'flags' }`. Needed only when two
   * instrumented watchers of one process may watch the same key: the observable series of both would
   * otherwise share one attribute set, and one would hide the other. Never put a token here.
   * @default {} (a series is attributed by its query alone)
   */
  attributes?: Attributes | undefined;
}

/** Handle of one {@link instrumentWatcher} call. */
export interface WatcherInstrumentation {
  /**
   * Stops observing: removes the collection callback and unsubscribes from the diagnostics channels, so
   * nothing more is recorded for this watcher. Idempotent. The watcher itself keeps running.
   */
  close(): void;
  /** Same as {@link WatcherInstrumentation.close}. */
  [Symbol.dispose](): void;
}

/** Defaults of {@link InstrumentWatcherOptions}. */
const DEFAULTS = { prefix: 'consul_hotreload', meterName: 'consul-hotreload' } as const;

/** OpenTelemetry's instrument name syntax, for the prefix (the rest of each name is ours). */
const INSTRUMENT_NAME = /^[A-Za-z][\w.\-/]{0,200}$/;

/**
 * Bucket boundaries of the blocking-query latency, in seconds: a blocking query is answered within
 * milliseconds of a change, or at the end of its wait (5 minutes by default, at most 10).
 */
const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

interface ResolvedOptions {
  meter: Meter;
  prefix: string;
  attributes: Attributes;
}

function resolveOptions(options: InstrumentWatcherOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`${OPERATION}: options must be an object`, { operation: OPERATION });
  }
  const prefix = options.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== 'string' || !INSTRUMENT_NAME.test(prefix)) {
    throw new InvalidArgumentError(
      `${OPERATION}: prefix must start with a letter and hold only letters, digits, '_', '.', '-' or '/' (at most 201 characters); got ${JSON.stringify(prefix)}`,
      { operation: OPERATION },
    );
  }
  const meter = options.meter ?? metrics.getMeter(DEFAULTS.meterName);
  if (typeof meter !== 'object' || meter === null || typeof meter.createCounter !== 'function') {
    throw new InvalidArgumentError(`${OPERATION}: meter must be an OpenTelemetry Meter`, {
      operation: OPERATION,
    });
  }
  const attributes = options.attributes ?? {};
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw new InvalidArgumentError(`${OPERATION}: attributes must be an object of attribute values`, {
      operation: OPERATION,
    });
  }
  return { meter, prefix, attributes };
}

/** The query of `stats` that serves a subscription to `key`: its own, else the longest root above it. */
function servingQuery(queries: readonly QueryStats[], key: string): QueryStats | undefined {
  let best: QueryStats | undefined;
  for (const query of queries) {
    if (query.key === key) return query;
    if (query.kind === 'prefix' && key.startsWith(query.key) && query.key.length > (best?.key.length ?? -1))
      best = query;
  }
  return best;
}

/**
 * Records OpenTelemetry metrics for `watcher` until the returned handle is closed. The instruments are
 * listed in docs/metrics.md; every series is attributed with the query's `key`, `kind` and `consistency`
 * (errors also with `code`) and {@link InstrumentWatcherOptions.attributes}, never with a token or a value.
 *
 * Cost: one `watcher.stats()` per collection for the observable instruments, and, while instrumented, one
 * per blocking answer, per request error and per refused value (the channels carry the key, which is
 * matched against this watcher's queries). Nothing is subscribed after `close()`.
 *
 * @example
 * ```ts
 * const watcher = new Watcher();
 * const instrumentation = instrumentWatcher(watcher); // the global MeterProvider's meter
 * // later
 * instrumentation.close();
 * await watcher.close();
 * ```
 * @throws InvalidArgumentError when `prefix` is not a valid instrument name or `meter` is not a Meter
 */
export function instrumentWatcher(
  watcher: InstrumentedWatcher,
  options: InstrumentWatcherOptions = {},
): WatcherInstrumentation {
  if (typeof watcher?.stats !== 'function') {
    throw new InvalidArgumentError(`${OPERATION}: watcher must be a Watcher (it has no stats())`, {
      operation: OPERATION,
    });
  }
  const { meter, prefix, attributes: extra } = resolveOptions(options);
  const name = (suffix: string): string => `${prefix}.${suffix}`;
  const attributesOf = (query: QueryIdentity): Attributes => ({
    ...extra,
    key: query.key,
    kind: query.kind,
    consistency: query.consistency,
  });

  const requests = meter.createObservableCounter(name('requests'), {
    description: 'Requests a blocking query started (stale re-reads included).',
    unit: '{request}',
  });
  const changes = meter.createObservableCounter(name('changes'), {
    description: 'Answers that changed at least one key (the first answer counts when it holds keys).',
    unit: '{answer}',
  });
  const spurious = meter.createObservableCounter(name('spurious_wakeups'), {
    description: 'Answers after the first that changed nothing (wait timeouts, writes to other keys).',
    unit: '{answer}',
  });
  const indexResets = meter.createObservableCounter(name('index_resets'), {
    description: "Times Consul's index went backwards and the query read everything again.",
    unit: '{reset}',
  });
  const bytes = meter.createObservableCounter(name('bytes_received'), {
    description: 'Body bytes received by a blocking query.',
    unit: 'By',
  });
  const stale = meter.createObservableGauge(name('stale'), {
    description: 'Whether a blocking query is stale: 1 while its requests keep failing, else 0.',
    unit: '1',
  });
  const errors = meter.createCounter(name('errors'), {
    description: 'Failed requests of a blocking query, by error code.',
    unit: '{error}',
  });
  const invalid = meter.createCounter(name('invalid_values'), {
    description: 'Values a subscription refused (decoding or schema), counted per subscription.',
    unit: '{value}',
  });
  const latency = meter.createHistogram(name('blocking_query.duration'), {
    description: 'Time a blocking query took to answer (index > 0, answered without error).',
    unit: 's',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
  });

  const totals = new QueryTotals(attributesOf);
  /**
   * `errors` of each query of this watcher as last seen. A request error is published by its query, under
   * the query's key, right after the query counted it (src/watch/loop.ts): the query of this watcher whose
   * count moved is the one that failed; another watcher's error on the same key, or a listener's, moves none.
   */
  const errorsSeen = new Map<string, number>();
  /** Takes the counts of the live queries, and forgets stopped ones (a query that starts again counts from 0). */
  const syncErrorsSeen = (queries: readonly QueryStats[]): void => {
    const live = new Map(queries.map((query) => [identityId(query), query.errors]));
    for (const id of errorsSeen.keys()) if (!live.has(id)) errorsSeen.delete(id);
    for (const [id, count] of live) errorsSeen.set(id, count);
  };
  syncErrorsSeen(watcher.stats().queries);

  const observe = (result: BatchObservableResult): void => {
    const { queries } = watcher.stats();
    syncErrorsSeen(queries);
    for (const { attributes, totals: counted } of totals.update(queries)) {
      result.observe(requests, counted.requests, attributes);
      result.observe(changes, counted.changes, attributes);
      result.observe(spurious, counted.spurious, attributes);
      result.observe(indexResets, counted.indexResets, attributes);
      result.observe(bytes, counted.bytes, attributes);
    }
    for (const query of queries) result.observe(stale, query.state === 'stale' ? 1 : 0, attributesOf(query));
  };
  const observables = [requests, changes, spurious, indexResets, bytes, stale];
  meter.addBatchObservableCallback(observe, observables);

  const onRequestFinish = (message: unknown): void => {
    const finish = message as RequestFinishMessage;
    // Only the answers of blocking queries: a full read (index 0) is answered at once by design.
    if (finish.index === 0 || finish.error !== undefined || finish.method !== 'GET') return;
    const target = kvReadTarget(finish.operation, finish.path);
    if (target === undefined) return;
    const query = watcher
      .stats()
      .queries.find(
        (q) => q.key === target.key && q.kind === target.kind && q.consistency === target.consistency,
      );
    if (query !== undefined) latency.record(finish.durationMs / 1000, attributesOf(query));
  };

  const onWatchError = (message: unknown): void => {
    const { key, error } = message as WatchErrorMessage;
    // Failed cache writes and most throwing listeners carry the file system's or the user's error.
    if (!isConsulError(error)) return;
    const { queries } = watcher.stats();
    if (error instanceof ConfigValidationError) {
      // Published by the subscription, under its own key: count it for the query that serves it.
      const query = servingQuery(queries, key);
      if (query !== undefined) invalid.add(1, attributesOf(query));
      return;
    }
    // A request error: count it for the query of this key whose error count moved (see errorsSeen).
    for (const query of queries) {
      if (query.key !== key) continue;
      const id = identityId(query);
      if ((errorsSeen.get(id) ?? 0) === query.errors) continue;
      errorsSeen.set(id, query.errors);
      errors.add(1, { ...attributesOf(query), code: error.code });
      return;
    }
  };

  diagnosticsChannel.subscribe(requestFinishChannel.name, onRequestFinish);
  diagnosticsChannel.subscribe(watchErrorChannel.name, onWatchError);

  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    meter.removeBatchObservableCallback(observe, observables);
    diagnosticsChannel.unsubscribe(requestFinishChannel.name, onRequestFinish);
    diagnosticsChannel.unsubscribe(watchErrorChannel.name, onWatchError);
  };
  return { close, [Symbol.dispose]: close };
}
