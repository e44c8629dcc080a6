/**
 * Blocking queries waiting for a key or a prefix. A write wakes only the queries whose key or prefix it
 * touches: for a write to key K, the exact waiters on K and the prefix waiters on every prefix of K. The
 * prefixes of K are looked up by length in a Map, so a write costs O(len(K)), not O(waiters) — 10,000
 * held queries on other keys cost a write nothing.
 * @module
 */

/** What a blocking query watches: one key (`GET /v1/kv/<key>`) or a raw prefix (`?recurse`, `?keys`). */
export interface WatchTarget {
  readonly kind: 'key' | 'prefix';
  readonly path: string;
}

/** Counts for `stats()`. */
export interface WaiterCounts {
  /** Waiters registered now. */
  readonly held: number;
  /** Of which on exact keys. */
  readonly exact: number;
  /** Of which on prefixes. */
  readonly prefix: number;
  /** Wake-ups delivered since start (one per waiter per write that touched it). */
  readonly wakeups: number;
}

/** A key or prefix some blocking queries wait on, and how many (for the dev server's page). */
export interface WaitedTarget extends WatchTarget {
  readonly count: number;
}

interface Waiter {
  readonly targets: readonly WatchTarget[];
  readonly onWake: () => void;
}

/** The registry of waiting blocking queries, indexed by exact key and by prefix. */
export class WaiterRegistry {
  readonly #exact = new Map<string, Set<Waiter>>();
  readonly #prefix = new Map<string, Set<Waiter>>();
  /** prefix length -> number of distinct prefixes of that length with waiters; lets a write skip lengths nobody watches. */
  readonly #prefixLengths = new Map<number, number>();
  #held = 0;
  #exactHeld = 0;
  #wakeups = 0;
  /** Answers computed during the current {@link WaiterRegistry.notify} round, by read. */
  #round: Map<string, unknown> | undefined;

  /**
   * Registers a waiter; `onWake` runs (synchronously, after the write committed) for every write touching
   * the target, until the returned function removes it. Removing twice is harmless.
   */
  add(target: WatchTarget, onWake: () => void): () => void {
    return this.addAll([target], onWake);
  }

  /**
   * Registers one waiter on several targets (a service read waits on its service and the extinction
   * index): a write touching more than one of them still wakes it once.
   */
  addAll(targets: readonly WatchTarget[], onWake: () => void): () => void {
    const waiter: Waiter = { targets, onWake };
    for (const target of targets) {
      const index = target.kind === 'key' ? this.#exact : this.#prefix;
      let set = index.get(target.path);
      if (set === undefined) {
        set = new Set();
        index.set(target.path, set);
        if (target.kind === 'prefix') this.#countLength(target.path.length, 1);
      }
      set.add(waiter);
    }
    this.#held++;
    if (targets.every((target) => target.kind === 'key')) this.#exactHeld++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#remove(waiter);
    };
  }

  /** Wakes every waiter touched by writes to these keys, each at most once; returns how many woke. */
  notify(keys: Iterable<string>): number {
    if (this.#held === 0) return 0;
    const woken = new Set<Waiter>();
    for (const key of keys) {
      for (const waiter of this.#exact.get(key) ?? []) woken.add(waiter);
      if (this.#prefix.size === 0) continue;
      for (const length of this.#prefixLengths.keys()) {
        if (length > key.length) continue;
        for (const waiter of this.#prefix.get(key.slice(0, length)) ?? []) woken.add(waiter);
      }
    }
    this.#wakeups += woken.size;
    const outer = this.#round;
    this.#round = new Map();
    try {
      for (const waiter of woken) waiter.onWake();
    } finally {
      // A write inside the round (never made by a wake, but cheap to allow) leaves the outer round's answers stale.
      this.#round = outer === undefined ? undefined : new Map();
    }
    return woken.size;
  }

  /**
   * `evaluate()`, shared by every waiter woken in the same notify round that asks with the same `key`: no
   * write can happen between their evaluations, so identical reads get one answer (10 queries on a key
   * render its body once per write, not 10 times). Outside a round, evaluated every time.
   */
  shared<T>(key: string, evaluate: () => T): T {
    const round = this.#round;
    if (round === undefined) return evaluate();
    if (round.has(key)) return round.get(key) as T;
    const answer = evaluate();
    round.set(key, answer);
    return answer;
  }

  /** Current counts. */
  counts(): WaiterCounts {
    return {
      held: this.#held,
      exact: this.#exactHeld,
      prefix: this.#held - this.#exactHeld,
      wakeups: this.#wakeups,
    };
  }

  /** Every key and prefix waited on now, with its number of waiters; costs O(distinct targets). */
  targets(): WaitedTarget[] {
    const out: WaitedTarget[] = [];
    for (const [path, set] of this.#exact) out.push({ kind: 'key', path, count: set.size });
    for (const [path, set] of this.#prefix) out.push({ kind: 'prefix', path, count: set.size });
    return out;
  }

  #remove(waiter: Waiter): void {
    for (const { kind, path } of waiter.targets) {
      const index = kind === 'key' ? this.#exact : this.#prefix;
      const set = index.get(path);
      if (set === undefined || !set.delete(waiter)) continue;
      if (set.size > 0) continue;
      index.delete(path);
      if (kind === 'prefix') this.#countLength(path.length, -1);
    }
    this.#held--;
    if (waiter.targets.every((target) => target.kind === 'key')) this.#exactHeld--;
  }

  #countLength(length: number, delta: number): void {
    const count = (this.#prefixLengths.get(length) ?? 0) + delta;
    if (count === 0) this.#prefixLengths.delete(length);
    else this.#prefixLengths.set(length, count);
  }
}
