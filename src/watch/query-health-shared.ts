/**
 * The shared service watch: past the watcher's `maxBlockingQueries`, service lists are served by two
 * blocking queries for all of them, `/v1/health/state/any` (every check) and `/v1/catalog/services` (every
 * registration), whose changes trigger targeted non-blocking reads of only the services concerned.
 * @module
 */

import { Backoff } from '../backoff.js';
import type { ConsulClient } from '../consul/client.js';
import type { HealthStateCheck } from '../consul/health.js';
import { errorText, isConsulError, TransportError } from '../errors.js';
import type { LoopAnswer } from './loop.js';
import type { ResolvedWatcherOptions } from './options.js';
import { BlockingQuery } from './query.js';
import {
  HealthFanOut,
  type HealthTarget,
  readTarget,
  type ServiceSource,
  serviceStats,
} from './query-health.js';
import type { ServiceList } from './service-list.js';
import { kError } from './subscription.js';
import type { ServiceQueryStats } from './types.js';

/** Blocking queries the shared watch holds (checks and services) plus its targeted reads at once. */
const SHARED_WATCH_CONNECTIONS = 4;
/** Targeted reads in flight at once. */
const READ_CONCURRENCY = SHARED_WATCH_CONNECTIONS - 2;
/** How long a services-table move waits for the checks watch to explain it before every target is read. */
const SWEEP_GRACE_MS = 250;

interface ChecksAnswer extends LoopAnswer {
  checks: readonly HealthStateCheck[];
}

interface ServicesAnswer extends LoopAnswer {
  services: Record<string, string[]>;
}

/** Whether a check is unchanged: compared field by field, not as JSON built for every check of every answer. */
function sameCheckState(a: HealthStateCheck, b: HealthStateCheck): boolean {
  return (
    a.status === b.status &&
    a.output === b.output &&
    a.notes === b.notes &&
    a.name === b.name &&
    a.type === b.type &&
    a.serviceId === b.serviceId
  );
}

/** One service target served by the shared watch. */
class SharedTarget implements ServiceSource {
  readonly target: HealthTarget;
  readonly fanOut = new HealthFanOut();
  readonly #shared: SharedHealthWatch;
  readonly backoff: Backoff;
  /** A read is wanted (a change concerned this service, or the last read failed). */
  dirty = false;
  reading = false;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborts this target's read in flight when its last list leaves (or the watch closes). */
  readonly controller = new AbortController();
  reads = 0;
  errors = 0;
  lastSuccessAt: number | undefined;

  constructor(target: HealthTarget, shared: SharedHealthWatch, options: ResolvedWatcherOptions) {
    this.target = target;
    this.#shared = shared;
    this.backoff = new Backoff({ ...options.backoff, random: options.random });
  }

  get subscriptions(): number {
    return this.fanOut.size;
  }

  /**
   * Whether a change of `node`'s node check concerns this service: the node had an instance of it at a
   * read since the node joined, or the last checks answer has a check of this service on it. A `?passing`
   * read drops the instances of a node whose check is critical, so the last read alone would never see the
   * node pass again.
   */
  runsOn(node: string): boolean {
    return this.#shared.nodesOf(this).has(node) || this.#shared.hasServiceCheck(node, this.target.service);
  }

  add(list: ServiceList): void {
    this.fanOut.add(list, () => this.#shared.welcome(list));
  }

  remove(list: ServiceList): Promise<void> {
    if (!this.fanOut.delete(list) || this.fanOut.size > 0) return Promise.resolve();
    return this.#shared.drop(this);
  }

  close(): Promise<void> {
    return this.#shared.close();
  }

  all(): ServiceList[] {
    return this.fanOut.all();
  }

  stats(): ServiceQueryStats {
    const loop = this.#shared.loopStats();
    return serviceStats(
      this.target,
      this.fanOut.size,
      this.fanOut,
      {
        requests: this.reads,
        errors: this.errors + loop.errors,
        indexResets: loop.indexResets,
        lastSuccessAt: this.lastSuccessAt,
        state: loop.state,
      },
      true,
    );
  }
}

/** The shared watch of one Watcher; made when the first service list goes past the budget. */
export class SharedHealthWatch {
  readonly #client: ConsulClient;
  readonly #options: ResolvedWatcherOptions;
  readonly #targets = new Map<string, SharedTarget>();
  #checks: BlockingQuery<ChecksAnswer> | undefined;
  #services: BlockingQuery<ServicesAnswer> | undefined;
  /** The last answer's checks by `node\0checkId`, and whom each concerns. */
  #lastChecks = new Map<string, HealthStateCheck>();
  #checkOwners = new Map<string, { node: string; service: string }>();
  /** Whether the checks watch has answered since it started: its first answer is the baseline. */
  #checksSeen = false;
  #serviceTags = new Map<string, string>();
  #servicesIndex: number | undefined;
  /** Index of the last checks answer: a registration that also touched checks has the same one. */
  #checksIndex: number | undefined;
  /** A services-table move nothing explained yet, and the timer that will read every target for it. */
  #sweep: { index: number; timer: ReturnType<typeof setTimeout> } | undefined;
  readonly #nodes = new WeakMap<SharedTarget, Set<string>>();
  #inFlight = 0;
  #closing: Promise<void> | undefined;

  constructor(client: ConsulClient, options: ResolvedWatcherOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** The source serving `target`, made on first use; its first read starts at once. */
  source(target: HealthTarget): ServiceSource {
    let source = this.#targets.get(target.id);
    if (source === undefined) {
      source = new SharedTarget(target, this, this.#options);
      this.#targets.set(target.id, source);
      this.#start();
      this.#markDirty(source);
    }
    return source;
  }

  /** Shared sources, for the watcher's close and stats. */
  sources(): ServiceSource[] {
    return [...this.#targets.values()];
  }

  nodesOf(target: SharedTarget): ReadonlySet<string> {
    return this.#nodes.get(target) ?? new Set();
  }

  /** Whether the last checks answer has a check of `service` on `node`. */
  hasServiceCheck(node: string, service: string): boolean {
    const name = service.toLowerCase();
    for (const owner of this.#checkOwners.values()) {
      if (owner.node === node && owner.service === name) return true;
    }
    return false;
  }

  /**
   * The nodes a read saw the target on, plus those it saw before that are still in the checks answer: an
   * instance a critical node check hides (with no check of its own) is back when that check passes.
   */
  #nodesAfterRead(source: SharedTarget, seen: Iterable<string>): Set<string> {
    const nodes = new Set(seen);
    const before = this.#nodes.get(source);
    if (before === undefined) return nodes;
    const present = new Set<string>();
    for (const owner of this.#checkOwners.values()) present.add(owner.node);
    for (const node of before) if (present.has(node)) nodes.add(node);
    return nodes;
  }

  /** Tells a list that joins late what the shared loops know (staleness, a failure before any answer). */
  welcome(list: ServiceList): void {
    this.#checks?.welcome(list);
  }

  loopStats(): { errors: number; indexResets: number; state: ServiceQueryStats['state'] } {
    const checks = this.#checks?.stats;
    const services = this.#services?.stats;
    return {
      errors: (checks?.errors ?? 0) + (services?.errors ?? 0),
      indexResets: (checks?.indexResets ?? 0) + (services?.indexResets ?? 0),
      state: checks?.state ?? 'closed',
    };
  }

  /** The last list of a target left: forget it; the last target stops the shared loops. */
  drop(source: SharedTarget): Promise<void> {
    if (this.#targets.get(source.target.id) === source) this.#targets.delete(source.target.id);
    source.controller.abort();
    if (source.retryTimer !== undefined) clearTimeout(source.retryTimer);
    source.retryTimer = undefined;
    if (this.#targets.size > 0) return Promise.resolve();
    return this.#stopLoops();
  }

  /** Stops both loops and every read, and clears every retry timer. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const source of this.#targets.values()) {
        source.controller.abort();
        if (source.retryTimer !== undefined) clearTimeout(source.retryTimer);
      }
      await this.#stopLoops();
    })();
    return this.#closing;
  }

  #allLists(): ServiceList[] {
    return [...this.#targets.values()].flatMap((source) => source.all());
  }

  #start(): void {
    if (this.#checks !== undefined || this.#closing !== undefined) return;
    const { waitMs } = this.#options;
    const blocking = (index: number) => (index > 0 ? { index, wait: waitMs } : {});
    this.#checks = new BlockingQuery<ChecksAnswer>('health:state/any', this.#options, {
      fetch: (index, signal) =>
        this.#client.health.state('any', {
          signal,
          consistency: this.#options.consistency,
          ...blocking(index),
        }),
      onAnswer: (answer) => this.#onChecks(answer.checks, answer.index),
      subscribers: () => this.#allLists(),
    });
    this.#services = new BlockingQuery<ServicesAnswer>('catalog:services', this.#options, {
      fetch: (index, signal) =>
        this.#client.catalog.services({
          signal,
          consistency: this.#options.consistency,
          ...blocking(index),
        }),
      onAnswer: (answer) => this.#onServices(answer),
      // The checks loop reports health to the lists; this one's failures are only logged.
      subscribers: () => [],
    });
  }

  async #stopLoops(): Promise<void> {
    this.#cancelSweep();
    this.#checksIndex = undefined;
    const loops = [this.#checks, this.#services];
    this.#checks = undefined;
    this.#services = undefined;
    this.#lastChecks = new Map();
    this.#checkOwners = new Map();
    this.#checksSeen = false;
    this.#serviceTags = new Map();
    this.#servicesIndex = undefined;
    await Promise.all(loops.map((loop) => loop?.close()));
  }

  /** Every check that appeared, went or changed since the last answer concerns its service (or node). */
  #onChecks(checks: readonly HealthStateCheck[], index: number): void {
    this.#checksIndex = index;
    // The registration the services watch saw touched checks too: the reads below cover it.
    if (this.#sweep !== undefined && this.#sweep.index === index) this.#cancelSweep();
    const byKey = new Map<string, HealthStateCheck>();
    const owners = new Map<string, { node: string; service: string }>();
    const changed: Array<{ node: string; service: string }> = [];
    for (const check of checks) {
      const key = `${check.node}\u0000${check.checkId}`;
      const owner = { node: check.node, service: check.serviceName.toLowerCase() };
      byKey.set(key, check);
      owners.set(key, owner);
      const before = this.#lastChecks.get(key);
      if (before === undefined || !sameCheckState(before, check)) changed.push(owner);
    }
    for (const [key, owner] of this.#checkOwners) if (!byKey.has(key)) changed.push(owner);
    // The first answer only sets the baseline: every target was read when it joined.
    const baseline = !this.#checksSeen;
    this.#checksSeen = true;
    this.#lastChecks = byKey;
    this.#checkOwners = owners;
    if (baseline) {
      this.#pump();
      return;
    }
    for (const source of this.#targets.values()) {
      const name = source.target.service.toLowerCase();
      // A node check (no service) concerns every service on that node (consul-semantics §S8.2).
      if (changed.some((c) => (c.service === '' ? source.runsOn(c.node) : c.service === name))) {
        this.#markDirty(source);
      }
    }
  }

  /**
   * A registration came, went or changed. A service whose tags changed, or that appeared or went, is read.
   * When the index moved with no visible difference and no check changed at that index (an instance's
   * port or address changed, its checks did not), every target is read once after {@link SWEEP_GRACE_MS},
   * since the catalog list does not say which service it was (consul-semantics §S3.2).
   */
  #onServices(answer: ServicesAnswer): void {
    const tags = new Map<string, string>();
    for (const [name, list] of Object.entries(answer.services))
      tags.set(name.toLowerCase(), JSON.stringify(list));
    const first = this.#servicesIndex === undefined;
    const moved = !first && answer.index !== this.#servicesIndex;
    const before = this.#serviceTags;
    this.#serviceTags = tags;
    this.#servicesIndex = answer.index;
    if (first) {
      this.#pump();
      return;
    }
    let marked = false;
    for (const source of this.#targets.values()) {
      const name = source.target.service.toLowerCase();
      if (before.get(name) !== tags.get(name)) {
        this.#markDirty(source);
        marked = true;
      }
    }
    if (!moved || marked || answer.index === this.#checksIndex) return;
    // Wait a moment for the checks watch: one write registers a service and its checks at one index.
    this.#cancelSweep();
    const timer = setTimeout(() => {
      this.#sweep = undefined;
      for (const source of this.#targets.values()) this.#markDirty(source);
    }, SWEEP_GRACE_MS);
    this.#sweep = { index: answer.index, timer };
  }

  #cancelSweep(): void {
    if (this.#sweep !== undefined) clearTimeout(this.#sweep.timer);
    this.#sweep = undefined;
  }

  #markDirty(source: SharedTarget): void {
    if (this.#closing !== undefined) return;
    source.dirty = true;
    this.#pump();
  }

  /** Starts reads of dirty targets, at most {@link READ_CONCURRENCY} at once. */
  #pump(): void {
    if (this.#closing !== undefined) return;
    // Reads wait for both watches' first answers: a change after a read then always shows in a later answer.
    if (!this.#checksSeen || this.#servicesIndex === undefined) return;
    for (const source of this.#targets.values()) {
      if (this.#inFlight >= READ_CONCURRENCY) return;
      if (!source.dirty || source.reading || source.retryTimer !== undefined) continue;
      void this.#read(source);
    }
  }

  async #read(source: SharedTarget): Promise<void> {
    source.dirty = false;
    source.reading = true;
    this.#inFlight++;
    source.reads++;
    const { maxStaleMs, waitMs } = this.#options;
    try {
      const answer = await readTarget(
        this.#client,
        source.target,
        {
          index: 0,
          waitMs,
          maxStaleMs,
          signal: source.controller.signal,
        },
        () => source.reads++,
      );
      source.backoff.reset();
      source.lastSuccessAt = Date.now();
      this.#nodes.set(
        source,
        this.#nodesAfterRead(
          source,
          answer.entries.map((entry) => entry.node.node),
        ),
      );
      source.fanOut.answer(answer.entries, answer.index, answer.bytes, false);
    } catch (error) {
      // Closed, or its last list left: nobody waits for a retry.
      if (this.#closing !== undefined || source.controller.signal.aborted) return;
      source.errors++;
      const consulError = isConsulError(error)
        ? error
        : new TransportError(`health.service ${source.target.service}: ${errorText(error)}`, {
            operation: 'health.service',
            key: source.target.service,
            cause: error,
          });
      const delayMs = consulError.retryable ? source.backoff.next() : source.backoff.slow();
      this.#options.logger.warn(
        { key: `service:${source.target.service}`, code: consulError.code, delayMs },
        `${consulError.message}; retrying in ${delayMs} ms`,
      );
      for (const list of source.all()) list[kError](consulError);
      source.dirty = true;
      source.retryTimer = setTimeout(() => {
        source.retryTimer = undefined;
        this.#pump();
      }, delayMs);
    } finally {
      source.reading = false;
      this.#inFlight--;
      this.#pump();
    }
  }
}
