import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AclDeniedError, ServerError, TransportError } from '../../../src/errors.js';
import {
  type AnswerInfo,
  BlockingLoop,
  type BlockingLoopOptions,
  type RetryInfo,
} from '../../../src/watch/loop.js';
import type { LoopState } from '../../../src/watch/types.js';

/**
 * One scripted fetch outcome: an answer (at once, or after being held `holdMs` like a blocking query), an
 * error, or a request that blocks until aborted.
 */
type Step = { index: number; holdMs?: number } | Error | 'hang';

interface Harness {
  loop: BlockingLoop<{ index: number }>;
  /** `index` sent and ms since the start, per request. */
  calls: Array<{ index: number; at: number }>;
  signals: AbortSignal[];
  answers: Array<{ index: number; info: AnswerInfo }>;
  errors: Array<{ message: string; info: RetryInfo }>;
  states: LoopState[];
}

function harness(steps: Step[], overrides: Partial<BlockingLoopOptions<{ index: number }>> = {}): Harness {
  const start = Date.now();
  const h: Omit<Harness, 'loop'> = { calls: [], signals: [], answers: [], errors: [], states: [] };
  const loop = new BlockingLoop<{ index: number }>({
    fetch: (index, signal) => {
      h.calls.push({ index, at: Date.now() - start });
      h.signals.push(signal);
      const step = steps.shift() ?? 'hang';
      if (step === 'hang') {
        return new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      }
      if (step instanceof Error) return Promise.reject(step);
      const { holdMs } = step;
      if (holdMs === undefined) return Promise.resolve({ index: step.index });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ index: step.index }), holdMs);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    },
    onResult: (result, info) => h.answers.push({ index: result.index, info }),
    onError: (error, info) => h.errors.push({ message: (error as Error).message, info }),
    onState: (state) => h.states.push(state),
    minIntervalMs: 100,
    churnIntervalMs: 15_000,
    backoff: { minMs: 250, maxMs: 30_000 },
    staleAfterMs: 60_000,
    random: () => 0.5,
    ...overrides,
  });
  return { loop, ...h };
}

const serverError = () =>
  new ServerError('kv.list config/: 500 boom', { operation: 'kv.list', key: 'config/', status: 500 });

describe('BlockingLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends index 0 first, then each answer’s X-Consul-Index', async () => {
    const h = harness([{ index: 7 }, { index: 9 }, { index: 9 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls.map((c) => c.index)).toEqual([0, 7, 9, 9]);
    expect(h.answers.map((a) => [a.info.sentIndex, a.info.step.next])).toEqual([
      [0, 7],
      [7, 9],
      [9, 9],
    ]);
    await h.loop.close();
  });

  it('starts over from 0 when the index goes backwards, and counts the reset (consul-semantics §3)', async () => {
    const h = harness([{ index: 50 }, { index: 20 }, { index: 20 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls.map((c) => c.index)).toEqual([0, 50, 0, 20]);
    expect(h.loop.stats.indexResets).toBe(1);
    expect(h.answers[1]?.info.step).toEqual({ next: 0, reset: true });
    await h.loop.close();
  });

  it('blocks on index 1 when the answer carries index 0 or none, never a busy loop of full reads (consul-semantics §4)', async () => {
    const h = harness([{ index: 0 }, { index: 0 }, { index: 0 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls.map((c) => c.index)).toEqual([0, 1, 1, 1]);
    expect(h.loop.stats.indexResets).toBe(0);
    await h.loop.close();
  });

  it('spaces successive request starts by minInterval when answers come back at once', async () => {
    const h = harness([{ index: 2 }, { index: 3 }, { index: 4 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls.map((c) => c.at)).toEqual([0]);
    await vi.advanceTimersByTimeAsync(99);
    expect(h.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.calls.map((c) => c.at)).toEqual([0, 100]);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.calls.map((c) => c.at)).toEqual([0, 100, 200, 300]);
    await h.loop.close();
  });

  it('does not wait at all when minInterval is 0', async () => {
    const h = harness([{ index: 2 }, { index: 3 }], { minIntervalMs: 0 });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls.map((c) => c.at)).toEqual([0, 0, 0]);
    await h.loop.close();
  });

  describe('rate limit under churn (consul-semantics §4)', () => {
    /** `count` answers that come back at once with a missing `X-Consul-Index` (parsed as 0). */
    const immediate = (count: number): Step[] => Array.from({ length: count }, () => ({ index: 0 }));

    it('allows 2 immediate answers at minInterval, then doubles the spacing up to one request per 15 s', async () => {
      const h = harness(immediate(100));
      h.loop.start();
      await vi.advanceTimersByTimeAsync(2_000);
      // Was 20 requests in 2 s with a fixed 100 ms spacing.
      expect(h.calls).toHaveLength(7);
      await vi.advanceTimersByTimeAsync(69_000);
      // The full read at 0 does not count; 100 ms after each of 2 quick answers, then 200, 400 … 12 800, 15 000.
      expect(h.calls.map((c) => c.at)).toEqual([
        0, 100, 200, 300, 500, 900, 1_700, 3_300, 6_500, 12_900, 25_700, 40_700, 55_700, 70_700,
      ]);
      expect(h.calls.map((c) => c.index)).toEqual([0, ...Array.from({ length: 13 }, () => 1)]);
      await h.loop.close();
    });

    it('degrades the same way when the index advances on every immediate answer (a busy cluster)', async () => {
      const h = harness(Array.from({ length: 100 }, (_, at) => ({ index: 10 + at })));
      h.loop.start();
      await vi.advanceTimersByTimeAsync(30_000);
      expect(h.calls.map((c) => c.at)).toEqual([
        0, 100, 200, 300, 500, 900, 1_700, 3_300, 6_500, 12_900, 25_700,
      ]);
      await h.loop.close();
    });

    it('never delays answers that blocked, even at exactly 1 s, beyond minInterval', async () => {
      const h = harness([
        { index: 5 },
        { index: 6, holdMs: 5_000 },
        { index: 7, holdMs: 1_000 },
        { index: 8, holdMs: 1_000 },
        { index: 9, holdMs: 1_000 },
        { index: 10, holdMs: 1_000 },
        { index: 10, holdMs: 300_000 },
      ]);
      h.loop.start();
      await vi.advanceTimersByTimeAsync(400_000);
      // Each request starts the moment the previous answer arrives (the full read is followed 100 ms later).
      expect(h.calls.map((c) => c.at)).toEqual([0, 100, 5_100, 6_100, 7_100, 8_100, 9_100, 309_100]);
      await h.loop.close();
    });

    it('returns to full speed after one answer that blocked, then degrades afresh', async () => {
      const h = harness([{ index: 0 }, ...immediate(5), { index: 0, holdMs: 2_000 }, ...immediate(3)]);
      h.loop.start();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(h.calls.map((c) => c.at)).toEqual([
        0, 100, 200, 300, 500, 900, 1_700, 3_700, 3_800, 3_900, 4_100,
      ]);
      await h.loop.close();
    });

    it('counts an answer held 999 ms as immediate', async () => {
      const h = harness(Array.from({ length: 8 }, () => ({ index: 3, holdMs: 999 })));
      h.loop.start();
      await vi.advanceTimersByTimeAsync(12_000);
      // Spacings after the 1st–5th quick answers (100, 100, 200, 400, 800 ms) are shorter than the 999 ms hold,
      // so each request starts as the last answer arrives; after the 6th it is 1 600 ms, after the 7th 3 200.
      expect(h.calls.map((c) => c.at)).toEqual([0, 999, 1_998, 2_997, 3_996, 4_995, 5_994, 7_594, 10_794]);
      await h.loop.close();
    });

    it('keeps the churn spacing through a failure and the full read that follows it', async () => {
      const h = harness([{ index: 0 }, ...immediate(4), serverError(), { index: 0 }, ...immediate(1)]);
      h.loop.start();
      await vi.advanceTimersByTimeAsync(10_000);
      // The failure at 900 backs off 125 ms, but the spacing (400 ms after the 4th quick answer) still holds;
      // the full read at 1 300 does not count; the next quick answer doubles the spacing to 800.
      expect(h.calls.map((c) => c.at)).toEqual([0, 100, 200, 300, 500, 900, 1_300, 1_700, 2_500]);
      expect(h.calls.map((c) => c.index)).toEqual([0, 1, 1, 1, 1, 1, 0, 1, 1]);
      await h.loop.close();
    });

    it('caps the spacing at a custom churn interval', async () => {
      const h = harness(immediate(100), { churnIntervalMs: 1_000 });
      h.loop.start();
      await vi.advanceTimersByTimeAsync(4_000);
      expect(h.calls.map((c) => c.at)).toEqual([0, 100, 200, 300, 500, 900, 1_700, 2_700, 3_700]);
      await h.loop.close();
    });

    it('keeps a fixed minInterval when the churn interval is 0', async () => {
      const h = harness(immediate(100), { churnIntervalMs: 0 });
      h.loop.start();
      await vi.advanceTimersByTimeAsync(700);
      expect(h.calls.map((c) => c.at)).toEqual([0, 100, 200, 300, 400, 500, 600, 700]);
      await h.loop.close();
    });

    it('does not rate-limit at all when minInterval is 0', async () => {
      const h = harness(immediate(20), { minIntervalMs: 0 });
      h.loop.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(h.calls.map((c) => c.at)).toEqual(Array.from({ length: 21 }, () => 0));
      await h.loop.close();
    });
  });

  it('backs off with full jitter after retryable errors, doubling, and resets after a success', async () => {
    const h = harness([
      serverError(),
      serverError(),
      serverError(),
      { index: 5 },
      serverError(),
      { index: 6 },
    ]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(10_000);
    // random 0.5: 125, 250, 500 ms; then a success; then 125 again (reset).
    expect(h.errors.map((e) => e.info)).toEqual([
      { delayMs: 125, attempt: 1, retryable: true },
      { delayMs: 250, attempt: 2, retryable: true },
      { delayMs: 500, attempt: 3, retryable: true },
      { delayMs: 125, attempt: 1, retryable: true },
    ]);
    expect(h.calls.map((c) => c.at)).toEqual([0, 125, 375, 875, 975, 1100, 1200]);
    await h.loop.close();
  });

  it('makes the first request after an error a full read (index 0)', async () => {
    const h = harness([{ index: 10 }, serverError(), { index: 10 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls.map((c) => c.index)).toEqual([0, 10, 0, 10]);
    await h.loop.close();
  });

  it('retries a 403 only at the backoff maximum, never tightly', async () => {
    const denied = () =>
      new AclDeniedError('kv.list config/: 403 Permission denied', { operation: 'kv.list' });
    const h = harness([denied(), denied(), denied()]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.calls.map((c) => c.at)).toEqual([0, 30_000, 60_000]);
    expect(h.errors.map((e) => e.info.delayMs)).toEqual([30_000, 30_000, 30_000]);
    expect(h.errors.every((e) => !e.info.retryable)).toBe(true);
    await h.loop.close();
  });

  it('treats errors without a retryable flag as slow', async () => {
    const h = harness([new Error('weird')]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.errors).toEqual([{ message: 'weird', info: { delayMs: 30_000, attempt: 1, retryable: false } }]);
    await h.loop.close();
  });

  it('turns stale after staleAfter ms of failures, and ready again on the next success', async () => {
    const failures: Step[] = Array.from(
      { length: 20 },
      () => new TransportError('down', { operation: 'kv.list' }),
    );
    const h = harness([{ index: 3 }, ...failures, { index: 4 }], {
      staleAfterMs: 5_000,
      backoff: { minMs: 1_000, maxMs: 1_000 },
      random: () => 0.999,
    });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(h.states).toEqual(['ready']);
    // First failure at 100 ms; stale 5 s later.
    await vi.advanceTimersByTimeAsync(4_999);
    expect(h.loop.state).toBe('ready');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.loop.state).toBe('stale');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.states).toEqual(['ready', 'stale', 'ready']);
    await h.loop.close();
    expect(h.states).toEqual(['ready', 'stale', 'ready', 'closed']);
  });

  it('stays ready while a blocking request simply waits, however long', async () => {
    const h = harness([{ index: 3 }, 'hang'], { staleAfterMs: 1_000 });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(h.loop.state).toBe('ready');
    await h.loop.close();
  });

  it('stays connecting (never stale) while it has never succeeded', async () => {
    const h = harness(
      Array.from({ length: 50 }, () => serverError()),
      { staleAfterMs: 1_000 },
    );
    h.loop.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.states).toEqual([]);
    expect(h.loop.state).toBe('connecting');
    await h.loop.close();
  });

  it('aborts the request in flight on close and leaves no timer behind', async () => {
    const h = harness([{ index: 3 }, 'hang']);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(h.calls).toHaveLength(2);
    const closing = h.loop.close();
    expect(h.signals[1]?.aborted).toBe(true);
    expect(h.loop.close()).toBe(closing);
    await closing;
    expect(vi.getTimerCount()).toBe(0);
    expect(h.errors).toEqual([]);
  });

  it('clears a pending backoff timer on close', async () => {
    const h = harness([serverError()]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    await h.loop.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(h.calls).toHaveLength(1);
  });

  it('clears the stale timer on close', async () => {
    const h = harness([{ index: 3 }, serverError()], { staleAfterMs: 50_000 });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(2); // backoff sleep + stale timer
    await h.loop.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('finishes closing even when the fetch ignores its signal', async () => {
    const loop = new BlockingLoop({
      fetch: () => new Promise<{ index: number }>(() => {}),
      onResult: () => {},
      onError: () => {},
      minIntervalMs: 0,
      churnIntervalMs: 15_000,
      backoff: { minMs: 1, maxMs: 1 },
      staleAfterMs: 1_000,
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    await loop.close();
    expect(loop.state).toBe('closed');
  });

  it('keeps looping when a callback throws, and reports the throw', async () => {
    const thrown: unknown[] = [];
    const h = harness([{ index: 2 }, { index: 3 }], {
      onResult: () => {
        throw new Error('listener bug');
      },
      onCallbackError: (error) => thrown.push(error),
    });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(h.calls.map((c) => c.index)).toEqual([0, 2, 3]);
    expect(thrown.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug']);
    await h.loop.close();
  });

  it('counts requests and errors', async () => {
    const h = harness([{ index: 2 }, serverError(), { index: 3 }]);
    h.loop.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.loop.stats).toMatchObject({
      requests: 4,
      errors: 1,
      indexResets: 0,
      state: 'ready',
    });
    await h.loop.close();
  });

  it('does nothing when started after close', async () => {
    const h = harness([{ index: 2 }]);
    await h.loop.close();
    h.loop.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(h.calls).toEqual([]);
  });
});
