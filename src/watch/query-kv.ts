/**
 * The KV query kind: reads one key or one prefix (a root shared by every subscription below it), diffs each
 * answer by ModifyIndex, and hands every subscription only the changes of its own keys.
 * @module
 */
import type { ConsulClient } from '../consul/client.js';
import type { Consistency } from '../consul/config.js';
import { type KVGetResult, kListParser, type ListInternalOptions, type ReadOptions } from '../consul/kv.js';
import type { KVEntry } from '../consul/kv-entry.js';
import { ListParser } from '../consul/kv-list-parser.js';
import { type AnswerRun, type RawChange, Snapshot } from './diff.js';
import { sanitizeIndex } from './index-rules.js';
import type { LoopAnswer } from './loop.js';
import type { ResolvedWatcherOptions } from './options.js';
import { BlockingQuery } from './query.js';
import { kApply, kEvaluated, type Subscription } from './subscription.js';
import type { QueryStats } from './types.js';

/**
 * One answer of a KV read: a key's, as `kv.get` returns it (handed on as it is: no object and no promise hop
 * of its own on the way to the event), or a prefix's entries, with Consul's metadata either way.
 */
type KvAnswer = KVGetResult | PrefixAnswer;

interface PrefixAnswer extends LoopAnswer {
  entries: readonly KVEntry[];
  /** What the list parser reused of the last answer it read (consul-semantics §2.3). */
  run: AnswerRun<KVEntry> | undefined;
  lastContact: number;
  bytes: number;
}

/** The entries of an answer: a prefix's, or a key's entry if it exists. */
function entriesOf(answer: KvAnswer): readonly KVEntry[] {
  if ('entries' in answer) return answer.entries;
  return answer.entry === null ? [] : [answer.entry];
}

/** Which query serves a subscription: its root's (same consistency), else its own key or prefix. */
export interface KvTarget {
  /** Coalescing key: subscriptions with the same id share one query. */
  readonly id: string;
  readonly key: string;
  readonly kind: 'key' | 'prefix';
  readonly consistency: Consistency;
}

/** The query for `key`: under the longest of the watcher's roots when its consistency is the watcher's. */
export function kvTarget(key: string, consistency: Consistency, options: ResolvedWatcherOptions): KvTarget {
  let root: string | undefined;
  if (consistency === options.consistency) {
    for (const candidate of options.roots) {
      if (key.startsWith(candidate) && (root === undefined || candidate.length > root.length))
        root = candidate;
    }
  }
  const queryKey = root ?? key;
  const kind = root !== undefined || key.endsWith('/') ? 'prefix' : 'key';
  return { id: `${kind}\u0000${consistency}\u0000${queryKey}`, key: queryKey, kind, consistency };
}

/** The subscriptions awaiting a first answer after the first one: none (never written). */
const NONE_AWAITING: ReadonlySet<Subscription<unknown>> = new Set();

/** One blocking KV query and the subscriptions it serves. */
export class KvQuery {
  readonly target: KvTarget;
  readonly #client: ConsulClient;
  readonly #options: ResolvedWatcherOptions;
  readonly #snapshot = new Snapshot<KVEntry>();
  readonly #listParser = new ListParser();
  readonly #query: BlockingQuery<KvAnswer>;
  /** Subscriptions by their own key, so an answer's changes reach them with a few Map lookups per key. */
  readonly #byKey = new Map<string, Set<Subscription<unknown>>>();
  /** Subscriptions added before the first answer: they need it even when none of their keys exist. */
  readonly #awaitingFirst = new Set<Subscription<unknown>>();
  /**
   * Subscriptions that moved here with values of their own, before this query had seen what they had: the
   * next answer replaces their whole view.
   */
  readonly #replacing = new Set<Subscription<unknown>>();
  /** Holds the first request back until {@link KvQuery.start}: a plan made in the same tick may drop the query. */
  #gate: Promise<void> | undefined;
  #openGate: (() => void) | undefined;
  #subscriptions = 0;
  #lastIndex = 0;
  #lastContact: number | undefined;
  #changes = 0;
  #spurious = 0;
  #bytes = 0;
  #rereads = 0;

  constructor(target: KvTarget, client: ConsulClient, options: ResolvedWatcherOptions) {
    this.target = target;
    this.#client = client;
    this.#options = options;
    this.#gate = new Promise<void>((resolve) => {
      this.#openGate = resolve;
    });
    this.#query = new BlockingQuery<KvAnswer>(target.key, options, {
      fetch: (index, signal) => this.#fetch(index, signal),
      onAnswer: (answer, verifyValues, first) => this.#onAnswer(answer, verifyValues, first),
      subscribers: () => this.all(),
    });
  }

  /** Lets the first request go; until then the query holds no socket. Idempotent. */
  start(): void {
    this.#openGate?.();
    this.#openGate = undefined;
    this.#gate = undefined;
  }

  #fetch(index: number, signal: AbortSignal): Promise<KvAnswer> {
    // The common case hands the read's own promise to the loop: no async frame, no promise hop of its own.
    const { consistency } = this.target;
    if (this.#gate === undefined && (consistency !== 'stale' || this.#options.maxStaleMs === undefined))
      return this.#read(index, consistency, signal);
    return this.#fetchGated(index, signal);
  }

  async #fetchGated(index: number, signal: AbortSignal): Promise<KvAnswer> {
    if (this.#gate !== undefined) {
      await this.#gate;
      signal.throwIfAborted();
    }
    const { maxStaleMs } = this.#options;
    const { consistency } = this.target;
    let answer = await this.#read(index, consistency, signal);
    // With 'stale' reads, an answer from a server too long out of touch with the leader is read again
    // consistently, without blocking (consul-semantics §1).
    if (consistency === 'stale' && maxStaleMs !== undefined && answer.lastContact > maxStaleMs) {
      this.#rereads++;
      answer = await this.#read(0, 'consistent', signal);
    }
    return answer;
  }

  /** Not an async function: a key's read is kv.get's own promise, with no hop of its own. */
  #read(index: number, consistency: Consistency, signal: AbortSignal): Promise<KvAnswer> {
    // `wait` means nothing without an index (consul-semantics §4), so a full read sends neither.
    const options =
      index > 0 ? { index, wait: this.#options.waitMs, consistency, signal } : { consistency, signal };
    if (this.target.kind === 'key') return this.#client.kv.get(this.target.key, options);
    return this.#readPrefix(options);
  }

  async #readPrefix(options: ReadOptions): Promise<PrefixAnswer> {
    // Entries of the last answer are reused where its bytes did not change (consul-semantics §2.3).
    const listOptions: ListInternalOptions = { ...options, [kListParser]: this.#listParser };
    const result = await this.#client.kv.list(this.target.key, listOptions);
    return { ...result, run: this.#listParser.lastRun };
  }

  get subscriptions(): number {
    return this.#subscriptions;
  }

  /**
   * Registers a subscription; if the query already has data, hands it the keys it covers as additions.
   * @param moved - it comes from another query of the watcher (a re-plan of the connection budget): if it
   *   has values already, this query's view of its keys replaces them, so it sees only real differences.
   *   A view older than the subscription's index waits for the next answer: it would report going back.
   */
  add(subscription: Subscription<unknown>, moved = false): void {
    const replace = moved && subscription[kEvaluated];
    let set = this.#byKey.get(subscription.key);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(subscription.key, set);
    }
    set.add(subscription);
    this.#subscriptions++;
    this.#query.welcome(subscription);
    const answered = this.#query.answered;
    if (!answered || (replace && this.#lastIndex < subscription.index)) {
      if (!answered) this.#awaitingFirst.add(subscription);
      if (replace) this.#replacing.add(subscription);
      return;
    }
    subscription[kApply](this.#viewOf(subscription), this.#lastIndex, replace);
  }

  /** Every entry of the snapshot that `subscription` covers, as additions. */
  #viewOf(subscription: Subscription<unknown>): RawChange<KVEntry>[] {
    const view: RawChange<KVEntry>[] = [];
    if (subscription.key.endsWith('/')) {
      for (const entry of this.#snapshot.entries()) {
        if (entry.key.startsWith(subscription.key)) {
          view.push({ key: entry.key, type: 'added', entry, previous: undefined });
        }
      }
    } else {
      const entry = this.#snapshot.get(subscription.key);
      if (entry !== undefined) view.push({ key: entry.key, type: 'added', entry, previous: undefined });
    }
    return view;
  }

  /**
   * Unregisters a subscription. Returns true when it was the last one: the owner then closes the query
   * (or hands it new subscriptions).
   */
  remove(subscription: Subscription<unknown>): boolean {
    const set = this.#byKey.get(subscription.key);
    if (set?.delete(subscription) !== true) return false;
    this.#awaitingFirst.delete(subscription);
    this.#replacing.delete(subscription);
    if (set.size === 0) this.#byKey.delete(subscription.key);
    this.#subscriptions--;
    return this.#subscriptions === 0;
  }

  /** Stops the loop whatever the subscriptions. */
  close(): Promise<void> {
    const closed = this.#query.close();
    this.start();
    return closed;
  }

  /** Every subscription, copied first: a listener may close one (or watch another) while we iterate. */
  all(): Subscription<unknown>[] {
    const all: Subscription<unknown>[] = [];
    for (const set of this.#byKey.values()) all.push(...set);
    return all;
  }

  stats(): QueryStats {
    const loop = this.#query.stats;
    return {
      key: this.target.key,
      kind: this.target.kind,
      consistency: this.target.consistency,
      subscriptions: this.#subscriptions,
      requests: loop.requests + this.#rereads,
      errors: loop.errors,
      changes: this.#changes,
      spurious: this.#spurious,
      indexResets: loop.indexResets,
      bytes: this.#bytes,
      lastIndex: this.#lastIndex,
      lastContact: this.#lastContact,
      lastSuccessAt: loop.lastSuccessAt,
      state: loop.state,
    };
  }

  /**
   * @param verifyValues - equal ModifyIndexes are not trusted for this answer (see Snapshot.apply)
   * @param first - the query's first answer
   */
  #onAnswer(answer: KvAnswer, verifyValues: boolean, first: boolean): void {
    const index = sanitizeIndex(answer.index);
    this.#lastIndex = index;
    this.#lastContact = answer.lastContact;
    this.#bytes += answer.bytes;
    const changes = this.#snapshot.apply(
      entriesOf(answer),
      verifyValues,
      'run' in answer ? answer.run : undefined,
    );
    if (changes.length > 0) this.#changes++;
    else if (!first) this.#spurious++;
    // Group by subscription; each gets only its own keys, and nothing when none of them changed.
    const bySubscription = new Map<Subscription<unknown>, RawChange<KVEntry>[]>();
    const byKey = this.#byKey;
    const route = (candidate: string, change: RawChange<KVEntry>): void => {
      const subscriptions = byKey.get(candidate);
      if (subscriptions === undefined) return;
      for (const subscription of subscriptions) {
        const list = bySubscription.get(subscription);
        if (list === undefined) bySubscription.set(subscription, [change]);
        else list.push(change);
      }
    };
    const ofKey = this.target.kind === 'key';
    for (const change of changes) {
      // A key's query serves only that key's subscriptions.
      if (ofKey) {
        route(change.key, change);
        continue;
      }
      // Every subscription key that can contain the changed key: its '/'-prefixes, and itself.
      const key = change.key;
      for (let slash = key.indexOf('/'); slash !== -1; slash = key.indexOf('/', slash + 1)) {
        route(key.slice(0, slash + 1), change);
      }
      if (!key.endsWith('/')) route(key, change);
    }
    // A subscription that moved here gets its whole view (the first answer's changes are all of it).
    const replacing = this.#replacing;
    for (const [subscription, list] of bySubscription) {
      if (!replacing.has(subscription)) subscription[kApply](list, index);
      else subscription[kApply](first ? list : this.#viewOf(subscription), index, true);
    }
    // A subscription waiting for its first value needs the answer even when none of its keys exist; one
    // that moved here learns that its keys are gone.
    const awaitingFirst = first ? this.#awaitingFirst : NONE_AWAITING;
    for (const subscription of awaitingFirst) {
      if (bySubscription.has(subscription)) continue;
      if (replacing.has(subscription)) subscription[kApply]([], index, true);
      else if (!subscription[kEvaluated]) subscription[kApply]([], index);
    }
    for (const subscription of replacing) {
      if (bySubscription.has(subscription) || awaitingFirst.has(subscription)) continue;
      subscription[kApply](this.#viewOf(subscription), index, true);
    }
    // Cleared only when not empty: each clear allocates a new table, and this runs on every answer.
    if (this.#awaitingFirst.size > 0) this.#awaitingFirst.clear();
    if (replacing.size > 0) replacing.clear();
  }
}
