import { describe, expect, it } from 'vitest';
import { CHURN_BURST, QUICK_ANSWER_MS, RequestPacer } from '../../../src/watch/rate-limit.js';

/** The spacing after each of `count` answers held `heldMs` at index 5. */
function spacings(pacer: RequestPacer, count: number, heldMs = 0): number[] {
  return Array.from({ length: count }, () => {
    pacer.answered(5, heldMs);
    return pacer.spacingMs;
  });
}

describe('RequestPacer', () => {
  it('uses the consul-semantics §4 defaults: a burst of 2 and quick meaning under 1 s', () => {
    expect([CHURN_BURST, QUICK_ANSWER_MS]).toEqual([2, 1_000]);
  });

  it('spaces requests by minInterval before any answer', () => {
    expect(new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 }).spacingMs).toBe(100);
  });

  it('keeps minInterval for 2 quick answers in a row, then doubles it per quick answer up to the churn interval', () => {
    const pacer = new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 });
    expect(spacings(pacer, 12)).toEqual([
      100, 100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 15_000, 15_000, 15_000,
    ]);
    expect(pacer.quickRun).toBe(12);
  });

  it('counts 999 ms as quick and 1,000 ms as blocked', () => {
    const pacer = new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 });
    expect(spacings(pacer, 4, 999)).toEqual([100, 100, 200, 400]);
    pacer.answered(5, 1_000);
    expect([pacer.quickRun, pacer.spacingMs]).toEqual([0, 100]);
  });

  it('returns to minInterval at once after one answer that blocked, however degraded', () => {
    const pacer = new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 });
    spacings(pacer, 50);
    expect(pacer.spacingMs).toBe(15_000);
    pacer.answered(5, 300_000);
    expect(pacer.spacingMs).toBe(100);
    expect(spacings(pacer, 3)).toEqual([100, 100, 200]);
  });

  it('ignores answers to full reads (index 0), quick or slow', () => {
    const pacer = new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 });
    spacings(pacer, 4);
    pacer.answered(0, 0);
    pacer.answered(0, 5_000);
    expect([pacer.quickRun, pacer.spacingMs]).toEqual([4, 400]);
  });

  it('stays at 0 when minInterval is 0, however many quick answers', () => {
    const pacer = new RequestPacer({ minIntervalMs: 0, churnIntervalMs: 15_000 });
    expect(spacings(pacer, 2_000).at(-1)).toBe(0);
  });

  it('keeps the spacing finite after any number of quick answers', () => {
    const pacer = new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 15_000 });
    expect(spacings(pacer, 2_000).at(-1)).toBe(15_000);
  });

  it('never grows when the churn interval is 0 or not above minInterval', () => {
    expect(spacings(new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 0 }), 6)).toEqual([
      100, 100, 100, 100, 100, 100,
    ]);
    expect(spacings(new RequestPacer({ minIntervalMs: 100, churnIntervalMs: 50 }), 3)).toEqual([
      100, 100, 100,
    ]);
  });

  it('takes a custom burst and quick threshold', () => {
    const pacer = new RequestPacer({
      minIntervalMs: 50,
      churnIntervalMs: 1_000,
      burst: 0,
      quickAnswerMs: 10,
    });
    expect(spacings(pacer, 6, 9)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    pacer.answered(5, 10);
    expect(pacer.spacingMs).toBe(50);
  });
});
