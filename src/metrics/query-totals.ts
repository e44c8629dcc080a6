/**
 * Monotonic totals over the counters of `watcher.stats()`, whose rows come and go with their queries: a
 * query stops when its last subscription closes and starts again from 0 when someone watches its key again.
 * @module
 */
import type { QueryStats } from '../watch/types.js';

/** The counters of a query row that only grow while the query lives. */
export const COUNTER_FIELDS = ['requests', 'changes', 'spurious', 'indexResets', 'bytes'] as const;

/** One of {@link COUNTER_FIELDS}. */
export type CounterField = (typeof COUNTER_FIELDS)[number];

/** The identity of a query: what its series are attributed with. */
export type QueryIdentity = Pick<QueryStats, 'key' | 'kind' | 'consistency'>;

/** The Map key of a query identity (the watcher coalesces queries by the same three fields). */
export function identityId(query: QueryIdentity): string {
  return `${query.kind}\u0000${query.consistency}\u0000${query.key}`;
}

interface Series<A> {
  readonly attributes: A;
  /** What earlier lives of the query counted. */
  readonly base: Record<CounterField, number>;
  /** What the current life had counted at the last update. */
  readonly last: Record<CounterField, number>;
}

const zeros = (): Record<CounterField, number> => ({
  requests: 0,
  changes: 0,
  spurious: 0,
  indexResets: 0,
  bytes: 0,
});

/**
 * Totals per query identity (kind, consistency, key) that never go down. When a query's row is gone, or
 * one of its counters is lower than at the last update (the query stopped and started again in between),
 * what the old life counted moves into the base. What a query counted between the last update and its
 * stop is not seen: `watcher.stats()` no longer lists a stopped query.
 */
export class QueryTotals<A> {
  readonly #series = new Map<string, Series<A>>();
  readonly #attributesOf: (query: QueryIdentity) => A;

  /** @param attributesOf - the attributes of a query's series, made once per query identity */
  constructor(attributesOf: (query: QueryIdentity) => A) {
    this.#attributesOf = attributesOf;
  }

  /** Folds in the current rows and returns every series seen so far, with its totals. */
  update(queries: readonly QueryStats[]): Array<{ attributes: A; totals: Record<CounterField, number> }> {
    const live = new Set<string>();
    for (const query of queries) {
      const id = identityId(query);
      live.add(id);
      let series = this.#series.get(id);
      if (series === undefined) {
        series = { attributes: this.#attributesOf(query), base: zeros(), last: zeros() };
        this.#series.set(id, series);
      }
      for (const field of COUNTER_FIELDS) {
        if (query[field] < series.last[field]) series.base[field] += series.last[field];
        series.last[field] = query[field];
      }
    }
    const result: Array<{ attributes: A; totals: Record<CounterField, number> }> = [];
    for (const [id, series] of this.#series) {
      if (!live.has(id)) {
        for (const field of COUNTER_FIELDS) {
          series.base[field] += series.last[field];
          series.last[field] = 0;
        }
      }
      const totals = zeros();
      for (const field of COUNTER_FIELDS) totals[field] = series.base[field] + series.last[field];
      result.push({ attributes: series.attributes, totals });
    }
    return result;
  }
}
