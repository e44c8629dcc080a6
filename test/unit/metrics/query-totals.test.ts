import { describe, expect, it } from 'vitest';
import { type QueryIdentity, QueryTotals } from '../../../src/metrics/query-totals.js';
import { queryRow } from './query-row.js';

const keyOf = (query: QueryIdentity): string => query.key;

describe('QueryTotals', () => {
  it('reports the counters of a live query as they are', () => {
    const totals = new QueryTotals(keyOf);
    expect(totals.update([queryRow('a/', { requests: 3, bytes: 120, changes: 1 })])).toEqual([
      { attributes: 'a/', totals: { requests: 3, changes: 1, spurious: 0, indexResets: 0, bytes: 120 } },
    ]);
  });

  it('keeps the totals of a stopped query, and adds what it counts once started again', () => {
    const totals = new QueryTotals(keyOf);
    totals.update([queryRow('a/', { requests: 3, spurious: 1 })]);
    expect(totals.update([])).toEqual([
      { attributes: 'a/', totals: { requests: 3, changes: 0, spurious: 1, indexResets: 0, bytes: 0 } },
    ]);
    expect(totals.update([queryRow('a/', { requests: 2 })])[0]?.totals).toMatchObject({
      requests: 5,
      spurious: 1,
    });
  });

  it('never goes down when a query stopped and started again between two updates', () => {
    const totals = new QueryTotals(keyOf);
    totals.update([queryRow('a/', { requests: 10 })]);
    // Stopped at 10 or more, started again, and at 4 now.
    expect(totals.update([queryRow('a/', { requests: 4 })])[0]?.totals.requests).toBe(14);
    expect(totals.update([queryRow('a/', { requests: 6 })])[0]?.totals.requests).toBe(16);
  });

  it('keeps one series per kind, consistency and key', () => {
    const totals = new QueryTotals((q) => `${q.kind} ${q.consistency} ${q.key}`);
    const series = totals.update([
      queryRow('a/', { requests: 1 }),
      { ...queryRow('a/', { requests: 2 }), consistency: 'stale' },
      { ...queryRow('a', { requests: 3 }), kind: 'key' },
    ]);
    expect(series.map(({ attributes, totals: t }) => [attributes, t.requests])).toEqual([
      ['prefix default a/', 1],
      ['prefix stale a/', 2],
      ['key default a', 3],
    ]);
  });
});
