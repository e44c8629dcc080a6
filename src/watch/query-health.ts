/**
 * The service-health query kind: a blocking read of `/v1/health/service/<name>` with the same parameters
 * shared by every service list that asks for them, handing each answer's entries to its lists.
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import type { Consistency } from '../consul/config.js';
import { type HealthServiceEntry, sameEntries } from '../consul/health.js';
import { sanitizeIndex } from './index-rules.js';
import type { LoopAnswer } from './loop.js';
import type { ResolvedWatcherOptions } from './options.js';
import { BlockingQuery } from './query.js';
import { kApply, type ServiceList } from './service-list.js';
import type { LoopState, ServiceQueryStats } from './types.js';

/** One answer of a health read. */
export interface HealthAnswer extends LoopAnswer {
  entries: readonly HealthServiceEntry[];
  lastContact: number;
  bytes: number;
}

/** What Consul is asked: lists with the same target share one query. */
export interface HealthTarget {
  /** Coalescing key. */
  readonly id: string;
  readonly service: string;
  /** Whether `?passing` is sent (the list may still filter `critical` itself, see {@link WarningPolicy}). */
  readonly passing: boolean;
  /** Sorted, so the order a caller gives them in does not split a query. */
  readonly tags: readonly string[];
  readonly dc: string | undefined;
  readonly filter: string | undefined;
  readonly near: string | undefined;
  readonly consistency: Consistency;
}

/** The target of a list; every field is part of the coalescing key. */
export function healthTarget(fields: Omit<HealthTarget, 'id'>): HealthTarget {
  const tags = [...fields.tags].sort();
  const id = JSON.stringify([
    'health',
    fields.service,
    fields.passing,
    tags,
    fields.dc ?? null,
    fields.filter ?? null,
    fields.near ?? null,
    fields.consistency,
  ]);
  return { ...fields, tags, id };
}

/** What serves a service list: its own blocking query, or the watcher's shared watch (query-health-shared.ts). */
export interface ServiceSource {
  readonly target: HealthTarget;
  readonly subscriptions: number;
  add(list: ServiceList): void;
  /** Unregisters a list; the last one out stops what served it. */
  remove(list: ServiceList): Promise<void>;
  close(): Promise<void>;
  all(): ServiceList[];
  stats(): ServiceQueryStats;
}

/** The counters a source keeps beside its loop's. */
export interface FanOutCounters {
  readonly changes: number;
  readonly spurious: number;
  readonly bytes: number;
  readonly lastIndex: number;
}

/**
 * The lists of one target and the last answer they were given: every answer is compared as a whole with
 * the last one (the list is small, and any check change of the service moves its index, consul-semantics
 * §S3.2, so unlike KV there is no per-entry index to trust); only one that differs reaches the lists.
 */
export class HealthFanOut implements FanOutCounters {
  readonly #lists = new Set<ServiceList>();
  /** Lists added since the last answer that have not been told what the query knows yet. */
  readonly #joining = new Set<ServiceList>();
  #entries: readonly HealthServiceEntry[] = [];
  #answered = false;
  lastIndex = 0;
  changes = 0;
  spurious = 0;
  bytes = 0;

  get size(): number {
    return this.#lists.size;
  }

  get answered(): boolean {
    return this.#answered;
  }

  /**
   * Registers a list. What the query already knows (`welcome`, then the last entries once answered) reaches it
   * in a microtask, not inside `Watcher.service()`: a listener added right after that call gets it.
   */
  add(list: ServiceList, welcome: () => void): void {
    this.#lists.add(list);
    this.#joining.add(list);
    queueMicrotask(() => {
      if (!this.#joining.delete(list)) return;
      welcome();
      if (this.#answered) list[kApply](this.#entries, this.lastIndex);
    });
  }

  /** Whether the list was registered. */
  delete(list: ServiceList): boolean {
    this.#joining.delete(list);
    return this.#lists.delete(list);
  }

  /** Every list, copied: a listener may close one while the fan-out iterates. */
  all(): ServiceList[] {
    return [...this.#lists];
  }

  /** Applies one answer; `first` forces it through even when it equals the last (a fresh start). */
  answer(entries: readonly HealthServiceEntry[], index: number, bytes: number, first: boolean): void {
    this.lastIndex = sanitizeIndex(index);
    this.bytes += bytes;
    // Compared field by field rather than as JSON: no 10 KB string per answer to build and collect.
    if (this.#answered && !first && sameEntries(entries, this.#entries)) {
      this.spurious++;
      return;
    }
    this.#answered = true;
    this.changes++;
    this.#entries = entries;
    // A list still joining gets this answer now; its welcome would only repeat it.
    this.#joining.clear();
    for (const list of this.all()) list[kApply](this.#entries, this.lastIndex);
  }
}

/** A stats row from a target, its fan-out's counters and its loop's. */
export function serviceStats(
  target: HealthTarget,
  subscriptions: number,
  counters: FanOutCounters,
  loop: {
    requests: number;
    errors: number;
    indexResets: number;
    lastSuccessAt: number | undefined;
    state: LoopState;
  },
  shared: boolean,
): ServiceQueryStats {
  return {
    service: target.service,
    passing: target.passing,
    tags: target.tags,
    consistency: target.consistency,
    shared,
    subscriptions,
    requests: loop.requests,
    errors: loop.errors,
    changes: counters.changes,
    spurious: counters.spurious,
    indexResets: loop.indexResets,
    bytes: counters.bytes,
    lastIndex: counters.lastIndex,
    lastSuccessAt: loop.lastSuccessAt,
    state: loop.state,
  };
}

/** Reads a target once, non-blocking unless `index` is above 0; a too-stale answer is read again consistently. */
export async function readTarget(
  client: ConsulClient,
  target: HealthTarget,
  options: { index: number; waitMs: number; maxStaleMs: number | undefined; signal: AbortSignal },
  onReread: () => void,
): Promise<HealthAnswer> {
  const read = (index: number, consistency: Consistency): Promise<HealthAnswer> => {
    const { service, passing, tags, dc, filter, near } = target;
    return client.health.service(service, {
      passing,
      tags,
      consistency,
      signal: options.signal,
      ...(dc === undefined ? {} : { dc }),
      ...(filter === undefined ? {} : { filter }),
      ...(near === undefined ? {} : { near }),
      // `wait` means nothing without an index (consul-semantics §4.1), so a full read sends neither.
      ...(index > 0 ? { index, wait: options.waitMs } : {}),
    });
  };
  const { consistency } = target;
  let answer = await read(options.index, consistency);
  // As for KV (consul-semantics §1.7): a stale answer from a server too long out of touch with the leader is
  // read again consistently, without blocking.
  if (
    consistency === 'stale' &&
    options.maxStaleMs !== undefined &&
    answer.lastContact > options.maxStaleMs
  ) {
    onReread();
    answer = await read(0, 'consistent');
  }
  return answer;
}

/** One blocking health query and the service lists it serves. */
export class HealthQuery implements ServiceSource {
  readonly target: HealthTarget;
  readonly #onEmpty: (query: HealthQuery) => void;
  readonly #query: BlockingQuery<HealthAnswer>;
  readonly #fanOut = new HealthFanOut();
  #rereads = 0;

  constructor(
    target: HealthTarget,
    client: ConsulClient,
    options: ResolvedWatcherOptions,
    onEmpty: (query: HealthQuery) => void,
  ) {
    this.target = target;
    this.#onEmpty = onEmpty;
    const { waitMs, maxStaleMs } = options;
    this.#query = new BlockingQuery<HealthAnswer>(`service:${target.service}`, options, {
      fetch: (index, signal) =>
        readTarget(client, target, { index, waitMs, maxStaleMs, signal }, () => this.#rereads++),
      onAnswer: (answer, _verify, first) =>
        this.#fanOut.answer(answer.entries, answer.index, answer.bytes, first),
      subscribers: () => this.#fanOut.all(),
    });
  }

  get subscriptions(): number {
    return this.#fanOut.size;
  }

  /** Registers a list; a query that has answered hands it the entries in a microtask (see {@link HealthFanOut.add}). */
  add(list: ServiceList): void {
    this.#fanOut.add(list, () => this.#query.welcome(list));
  }

  /** Unregisters a list; the last one out stops the loop, aborting its request. */
  remove(list: ServiceList): Promise<void> {
    if (!this.#fanOut.delete(list)) return Promise.resolve();
    if (this.#fanOut.size > 0) return Promise.resolve();
    this.#onEmpty(this);
    return this.#query.close();
  }

  /** Stops the loop, aborting its request; its lists stay registered (the watcher may move them). */
  close(): Promise<void> {
    return this.#query.close();
  }

  all(): ServiceList[] {
    return this.#fanOut.all();
  }

  stats(): ServiceQueryStats {
    const loop = this.#query.stats;
    return serviceStats(
      this.target,
      this.#fanOut.size,
      this.#fanOut,
      { ...loop, requests: loop.requests + this.#rereads },
      false,
    );
  }
}
