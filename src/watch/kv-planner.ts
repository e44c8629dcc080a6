/**
 * The connection budget of the KV watches: which blocking query serves each watched key or prefix, so that
 * a watcher never holds more than `maxBlockingQueries` of them (each holds one socket, and Consul caps a
 * client IP at 200 connections, consul-semantics §7).
 *
 * Within the budget every distinct key or prefix (after the watcher's `roots`) has a query of its own. Past
 * it, the watches are coalesced under common folders chosen here ({@link planRoots}): one recursive query
 * per folder, each subscription filtering the folder's entries by its own key, exactly as under `roots`, so
 * a key that did not change gets no event. The plan is made again as watches come and go; a subscription
 * that moves to another query is handed that query's whole view of its keys (once that view is at least as
 * new as the subscription's index), so it reports only what really differs (nothing missed, nothing
 * invented). Reaching the budget is logged once and counted in
 * {@link KvBudgetStats}.
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import type { Consistency } from '../consul/config.js';
import type { ResolvedWatcherOptions } from './options.js';
import { KvQuery, type KvTarget, kvTarget } from './query-kv.js';
import type { Subscription } from './subscription.js';
import type { KvBudgetStats, QueryStats } from './types.js';

/** One distinct watched key or prefix (after explicit roots) and its subscriptions. */
interface Unit {
  readonly target: KvTarget;
  readonly subscriptions: Set<Subscription<unknown>>;
  /** The query serving it; undefined while it waits for a re-plan. */
  query: KvQuery | undefined;
}

/** The deepest folder (`''`, `a/`, `a/b/`…) that holds both keys. */
function commonFolder(a: string, b: string): string {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return a.slice(0, a.lastIndexOf('/', i - 1) + 1);
}

function depth(folder: string): number {
  let count = 0;
  for (let i = folder.indexOf('/'); i !== -1; i = folder.indexOf('/', i + 1)) count++;
  return count;
}

/** A run of adjacent targets (sorted by consistency, then key) served by one query. */
interface Group {
  readonly first: KvTarget;
  last: KvTarget;
  size: number;
}

/**
 * Groups `targets` into at most `budget` queries where possible: the targets sharing the deepest folder are
 * merged first, all of that depth at once, then the next depth up, until the groups fit (folder `''` is
 * every key). A group of one keeps its own target; a larger one becomes a prefix query on its folder.
 * Targets of different consistency never share a query, so fewer groups than consistencies cannot be had.
 *
 * Deterministic for a set of targets: the same watches always get the same plan.
 */
export function planRoots(targets: readonly KvTarget[], budget: number): KvTarget[][] {
  const sorted = [...targets].sort((a, b) =>
    a.consistency === b.consistency ? compare(a.key, b.key) : compare(a.consistency, b.consistency),
  );
  let groups: Array<Group & { members: KvTarget[] }> = sorted.map((target) => ({
    first: target,
    last: target,
    size: 1,
    members: [target],
  }));
  while (groups.length > budget) {
    // The depth of the folder each adjacent pair would share; -1 for different consistencies.
    let deepest = -1;
    const depths = new Array<number>(Math.max(0, groups.length - 1));
    for (let i = 0; i + 1 < groups.length; i++) {
      const left = groups[i]!;
      const right = groups[i + 1]!;
      depths[i] =
        left.first.consistency === right.last.consistency
          ? depth(commonFolder(left.first.key, right.last.key))
          : -1;
      if (depths[i]! > deepest) deepest = depths[i]!;
    }
    if (deepest < 0) break;
    const merged: typeof groups = [groups[0]!];
    for (let i = 1; i < groups.length; i++) {
      const group = groups[i]!;
      if (depths[i - 1] === deepest) {
        const into = merged[merged.length - 1]!;
        into.last = group.last;
        into.size += group.size;
        into.members.push(...group.members);
      } else merged.push(group);
    }
    groups = merged;
  }
  return groups.map((group) => group.members);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The query serving a group of targets: the target itself when alone, else a prefix query on their folder. */
function groupTarget(members: readonly KvTarget[]): KvTarget {
  if (members.length === 1) return members[0]!;
  const first = members[0]!;
  const last = members[members.length - 1]!;
  const key = commonFolder(first.key, last.key);
  const { consistency } = first;
  return { id: `prefix\u0000${consistency}\u0000${key}`, key, kind: 'prefix', consistency };
}

function covers(query: KvTarget, target: KvTarget): boolean {
  return (
    query.kind === 'prefix' && query.consistency === target.consistency && target.key.startsWith(query.key)
  );
}

/** Places every KV subscription of a watcher on a blocking query, within the connection budget. */
export class KvPlanner {
  readonly #client: ConsulClient;
  readonly #options: ResolvedWatcherOptions;
  readonly #budget: number;
  readonly #queries = new Map<string, KvQuery>();
  readonly #units = new Map<string, Unit>();
  readonly #unitOf = new Map<Subscription<unknown>, Unit>();
  /** Units waiting for the re-plan scheduled on a microtask (the budget is full and no query covers them). */
  readonly #unplaced = new Set<Unit>();
  /** Queries made in this tick, started once the plan of the tick is known (see #flush). */
  readonly #unstarted = new Set<KvQuery>();
  #flushScheduled = false;
  #replanNeeded = false;
  #replans = 0;
  #warned = false;
  #closed = false;

  /** Blocking queries the watcher holds for other kinds (service health): they share the budget. */
  readonly #othersHeld: () => number;

  /** @param othersHeld - blocking queries the watcher holds besides these, counted against the budget */
  constructor(client: ConsulClient, options: ResolvedWatcherOptions, othersHeld: () => number = () => 0) {
    this.#client = client;
    this.#options = options;
    this.#othersHeld = othersHeld;
    // More queries than sockets would queue behind one another: a silent delay of up to `wait`.
    const { connections, dispatcher } = client.config;
    const sockets = dispatcher === undefined ? connections : Number.POSITIVE_INFINITY;
    this.#budget = Math.min(options.maxBlockingQueries, sockets);
  }

  /** Serves `subscription` (its key and consistency) from a query within the budget. */
  add(subscription: Subscription<unknown>, consistency: Consistency): void {
    const target = kvTarget(subscription.key, consistency, this.#options);
    let unit = this.#units.get(target.id);
    if (unit === undefined) {
      unit = { target, subscriptions: new Set(), query: undefined };
      this.#units.set(target.id, unit);
      this.#place(unit, subscription.key);
    }
    unit.subscriptions.add(subscription);
    this.#unitOf.set(subscription, unit);
    unit.query?.add(subscription);
  }

  /**
   * Stops serving `subscription`. Resolves once its query's request has ended when it was the query's last
   * subscription.
   */
  remove(subscription: Subscription<unknown>): Promise<void> {
    const unit = this.#unitOf.get(subscription);
    if (unit === undefined) return Promise.resolve();
    this.#unitOf.delete(subscription);
    unit.subscriptions.delete(subscription);
    let stopped = Promise.resolve();
    if (unit.subscriptions.size === 0) {
      this.#units.delete(unit.target.id);
      this.#unplaced.delete(unit);
    }
    const query = unit.query;
    if (query?.remove(subscription) === true) stopped = this.#stop(query);
    // Coalesced watches go back to queries of their own once they all fit again.
    if (!this.#closed && this.#units.size <= this.#kvBudget() && this.#coalescing()) this.#scheduleReplan();
    return stopped;
  }

  /**
   * The blocking queries held besides KV changed (a service watch opened or closed one): re-plans when the
   * KV queries no longer fit what is left of the budget, or when coalesced watches fit again.
   */
  rebalance(): void {
    if (this.#closed) return;
    const budget = this.#kvBudget();
    if (this.#queries.size > budget || (this.#units.size <= budget && this.#coalescing())) {
      this.#scheduleReplan();
    }
  }

  /** `min(maxBlockingQueries, the client's connections)`: what every kind of blocking query shares. */
  get budget(): number {
    return this.#budget;
  }

  /**
   * Blocking queries KV must keep whatever the others hold: one while anything is watched (every watch
   * then shares it), none otherwise.
   */
  get floor(): number {
    return this.#units.size > 0 ? 1 : 0;
  }

  /** Every query, for stats. */
  stats(): QueryStats[] {
    return [...this.#queries.values()].map((query) => query.stats());
  }

  /** See {@link KvBudgetStats}. */
  budgetStats(): KvBudgetStats {
    let coalesced = 0;
    for (const unit of this.#units.values()) {
      if (unit.query !== undefined && unit.query.target.id !== unit.target.id) coalesced++;
    }
    return {
      maxBlockingQueries: this.#budget,
      blockingQueries: this.#queries.size,
      watchedKeys: this.#units.size,
      coalesced,
      waiting: this.#unplaced.size,
      replans: this.#replans,
    };
  }

  /**
   * Stops every query at once (aborting its request); returns their ends and every subscription they
   * served, which the watcher closes.
   */
  close(): { stopped: Promise<void>[]; subscriptions: Subscription<unknown>[] } {
    this.#closed = true;
    const subscriptions = [...this.#unitOf.keys()];
    const stopped = [...this.#queries.values()].map((query) => query.close());
    this.#queries.clear();
    this.#unplaced.clear();
    this.#unstarted.clear();
    return { stopped, subscriptions };
  }

  /** The part of the budget left to KV queries: at least one, so KV watches are always served. */
  #kvBudget(): number {
    return Math.max(1, this.#budget - this.#othersHeld());
  }

  /** True when some watch is served by a query on another key (a coalesced folder). */
  #coalescing(): boolean {
    for (const unit of this.#units.values()) {
      if (unit.query !== undefined && unit.query.target.id !== unit.target.id) return true;
    }
    return false;
  }

  /** A new unit: its own query while the budget allows, else an existing folder query, else a re-plan. */
  #place(unit: Unit, key: string): void {
    const { target } = unit;
    const own = this.#queries.get(target.id);
    if (own !== undefined) {
      unit.query = own;
      return;
    }
    if (this.#queries.size < this.#kvBudget() && this.#unplaced.size === 0) {
      if (target.key !== key) {
        this.#options.logger.info(
          { key: target.key, root: true },
          `watch ${target.key}: one blocking query serves every subscription below this root`,
        );
      }
      unit.query = this.#open(target);
      return;
    }
    let best: KvQuery | undefined;
    for (const query of this.#queries.values()) {
      if (
        covers(query.target, target) &&
        (best === undefined || query.target.key.length > best.target.key.length)
      )
        best = query;
    }
    if (best !== undefined) {
      // Past the budget all the same: said once, as a re-plan that coalesces says it.
      unit.query = best;
      this.#warnOnce(this.#queries.size);
      return;
    }
    this.#unplaced.add(unit);
    this.#scheduleReplan();
  }

  #open(target: KvTarget): KvQuery {
    const query = new KvQuery(target, this.#client, this.#options);
    this.#queries.set(target.id, query);
    this.#unstarted.add(query);
    this.#scheduleFlush();
    return query;
  }

  #stop(query: KvQuery): Promise<void> {
    if (this.#queries.get(query.target.id) === query) this.#queries.delete(query.target.id);
    this.#unstarted.delete(query);
    return query.close();
  }

  #scheduleReplan(): void {
    this.#replanNeeded = true;
    this.#scheduleFlush();
  }

  /**
   * One plan for every watch made in the same tick (a loop of watch() calls makes one, not hundreds); the
   * queries of the tick start only after it, so a query the plan drops never opens a socket.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (this.#closed) return;
      if (this.#replanNeeded) {
        this.#replanNeeded = false;
        this.#replan();
      }
      for (const query of this.#unstarted) query.start();
      this.#unstarted.clear();
    });
  }

  /** Plans every unit again and moves the subscriptions whose query changes. */
  #replan(): void {
    this.#replans++;
    const units = [...this.#units.values()];
    const groups = planRoots(
      units.map((unit) => unit.target),
      this.#kvBudget(),
    );
    const planned = new Map<string, KvTarget>();
    const unitQuery = new Map<string, KvTarget>();
    for (const members of groups) {
      const target = groupTarget(members);
      planned.set(target.id, target);
      for (const member of members) unitQuery.set(member.id, target);
    }
    // Close the queries the plan drops first, so the sockets in use never exceed the budget.
    const moving: Unit[] = [];
    for (const unit of units) {
      if (unit.query?.target.id !== unitQuery.get(unit.target.id)?.id) moving.push(unit);
    }
    const dropped: KvQuery[] = [];
    for (const query of this.#queries.values()) if (!planned.has(query.target.id)) dropped.push(query);
    for (const unit of moving) {
      for (const subscription of unit.subscriptions) unit.query?.remove(subscription);
    }
    for (const query of dropped) void this.#stop(query);
    for (const unit of moving) {
      const target = unitQuery.get(unit.target.id)!;
      const query = this.#queries.get(target.id) ?? this.#open(target);
      unit.query = query;
      for (const subscription of unit.subscriptions) query.add(subscription, true);
    }
    this.#unplaced.clear();
    if (this.#coalescing()) this.#warnOnce(groups.length);
  }

  #warnOnce(queries: number): void {
    if (this.#warned) return;
    this.#warned = true;
    const roots = [...this.#queries.values()]
      .filter((query) => query.subscriptions > 1 || query.target.kind === 'prefix')
      .map((query) => query.target.key);
    const shown = roots.slice(0, 5).map((root) => JSON.stringify(root));
    const more = roots.length > shown.length ? ` and ${roots.length - shown.length} more` : '';
    const budget =
      this.#budget < this.#options.maxBlockingQueries
        ? `maxBlockingQueries (${this.#budget}, the client's connections)`
        : `maxBlockingQueries (${this.#budget})`;
    this.#options.logger.warn(
      { maxBlockingQueries: this.#budget, watchedKeys: this.#units.size, blockingQueries: queries },
      `watch: ${this.#units.size} distinct KV watches exceed ${budget}; ` +
        `they share ${queries} blocking queries under common folders (${shown.join(', ')}${more}), each ` +
        'reading every key below its folder. Set `roots` to choose the folders, or raise maxBlockingQueries ' +
        '(Consul caps a client at 200 connections)',
    );
  }
}
