/**
 * The service-health query kind: a blocking read of `/v1/health/service/<name>` with the same parameters
 * shared by every service list that asks for them, handing each answer's entries to its lists.
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import type { Consistency } from '../consul/config.js';
import type { HealthServiceEntry } from '../consul/health.js';
import { sanitizeIndex } from './index-rules.js';
import type { LoopAnswer } from './loop.js';
import type { ResolvedWatcherOptions } from './options.js';
import { BlockingQuery } from './query.js';
import { kApply, type ServiceList } from './service-list.js';
import type { ServiceQueryStats } from './types.js';

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

/** A changed answer: the entries as JSON, to tell a real change from a wake-up that changed nothing. */
function signature(entries: readonly HealthServiceEntry[]): string {
  return JSON.stringify(entries);
}

/** One blocking health query and the service lists it serves. */
export class HealthQuery {
  readonly target: HealthTarget;
  readonly #client: ConsulClient;
  readonly #options: ResolvedWatcherOptions;
  readonly #onEmpty: (query: HealthQuery) => void;
  readonly #query: BlockingQuery<HealthAnswer>;
  readonly #lists = new Set<ServiceList>();
  #entries: readonly HealthServiceEntry[] = [];
  #signature: string | undefined;
  #lastIndex = 0;
  #changes = 0;
  #spurious = 0;
  #bytes = 0;
  #rereads = 0;

  constructor(
    target: HealthTarget,
    client: ConsulClient,
    options: ResolvedWatcherOptions,
    onEmpty: (query: HealthQuery) => void,
  ) {
    this.target = target;
    this.#client = client;
    this.#options = options;
    this.#onEmpty = onEmpty;
    this.#query = new BlockingQuery<HealthAnswer>(`service:${target.service}`, options, {
      fetch: (index, signal) => this.#fetch(index, signal),
      onAnswer: (answer, _verify, first) => this.#onAnswer(answer, first),
      subscribers: () => [...this.#lists],
    });
  }

  async #fetch(index: number, signal: AbortSignal): Promise<HealthAnswer> {
    const { consistency } = this.target;
    const { maxStaleMs } = this.#options;
    let answer = await this.#read(index, consistency, signal);
    // As for KV (consul-semantics §1.7): a stale answer from a server too long out of touch is read again
    // consistently, without blocking.
    if (consistency === 'stale' && maxStaleMs !== undefined && answer.lastContact > maxStaleMs) {
      this.#rereads++;
      answer = await this.#read(0, 'consistent', signal);
    }
    return answer;
  }

  #read(index: number, consistency: Consistency, signal: AbortSignal): Promise<HealthAnswer> {
    const { service, passing, tags, dc, filter, near } = this.target;
    return this.#client.health.service(service, {
      passing,
      tags,
      consistency,
      signal,
      ...(dc === undefined ? {} : { dc }),
      ...(filter === undefined ? {} : { filter }),
      ...(near === undefined ? {} : { near }),
      // `wait` means nothing without an index (consul-semantics §4.1), so a full read sends neither.
      ...(index > 0 ? { index, wait: this.#options.waitMs } : {}),
    });
  }

  get subscriptions(): number {
    return this.#lists.size;
  }

  /** Registers a list; a query that has answered hands it the entries at once. */
  add(list: ServiceList): void {
    this.#lists.add(list);
    this.#query.welcome(list);
    if (this.#query.answered) list[kApply](this.#entries, this.#lastIndex);
  }

  /** Unregisters a list; the last one out stops the loop, aborting its request. */
  remove(list: ServiceList): Promise<void> {
    if (!this.#lists.delete(list)) return Promise.resolve();
    if (this.#lists.size > 0) return Promise.resolve();
    this.#onEmpty(this);
    return this.#query.close();
  }

  close(): Promise<void> {
    return this.#query.close();
  }

  /** Every list, copied: a listener may close one while the query iterates. */
  all(): ServiceList[] {
    return [...this.#lists];
  }

  stats(): ServiceQueryStats {
    const loop = this.#query.stats;
    return {
      service: this.target.service,
      passing: this.target.passing,
      tags: this.target.tags,
      consistency: this.target.consistency,
      subscriptions: this.#lists.size,
      requests: loop.requests + this.#rereads,
      errors: loop.errors,
      changes: this.#changes,
      spurious: this.#spurious,
      indexResets: loop.indexResets,
      bytes: this.#bytes,
      lastIndex: this.#lastIndex,
      lastSuccessAt: loop.lastSuccessAt,
      state: loop.state,
    };
  }

  /**
   * Every answer is compared as a whole with the last one: the list is small, and any check change of the
   * service moves its index (consul-semantics §S3.2), so unlike KV there is no per-entry index to trust.
   */
  #onAnswer(answer: HealthAnswer, first: boolean): void {
    this.#lastIndex = sanitizeIndex(answer.index);
    this.#bytes += answer.bytes;
    const next = signature(answer.entries);
    if (!first && next === this.#signature) {
      this.#spurious++;
      return;
    }
    this.#changes++;
    this.#signature = next;
    this.#entries = answer.entries;
    for (const list of this.all()) list[kApply](this.#entries, this.#lastIndex);
  }
}
