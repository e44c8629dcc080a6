import { afterEach, describe, expect, it, vi } from 'vitest';
import { Readiness } from '../../../src/watch/readiness.js';
import type { StateEvent } from '../../../src/watch/types.js';

function readiness(startTimeoutMs = 0) {
  const states: StateEvent[] = [];
  const timeouts: number[] = [];
  const r = new Readiness<string>({
    startTimeoutMs,
    onStartTimeout: () => timeouts.push(Date.now()),
    onState: (event) => states.push(event),
  });
  return { r, states, timeouts };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Readiness', () => {
  it('settles ready once: the first of resolve and reject wins', async () => {
    const { r } = readiness();
    r.resolve('a');
    r.reject(new Error('late'));
    r.resolve('b');
    expect(r.pending).toBe(false);
    await expect(r.ready).resolves.toBe('a');
  });

  it('never leaves an unhandled rejection', async () => {
    const { r } = readiness();
    r.reject(new Error('nobody awaits'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(r.ready).rejects.toThrow('nobody awaits');
  });

  it('emits one state event per change, none for the same state', () => {
    const { r, states } = readiness();
    r.setState('ready');
    r.setState('ready');
    r.followHealth('stale');
    r.followHealth('ready');
    r.setState('closed');
    r.followHealth('stale');
    expect(states).toEqual([
      { state: 'ready', previous: 'connecting' },
      { state: 'stale', previous: 'ready' },
      { state: 'ready', previous: 'stale' },
      { state: 'closed', previous: 'ready' },
    ]);
  });

  it('leaves a connecting watch connecting when the query turns ready or stale', () => {
    const { r, states } = readiness();
    r.followHealth('ready');
    r.followHealth('stale');
    expect(r.state).toBe('connecting');
    expect(states).toEqual([]);
  });

  it('calls onStartTimeout once after startTimeoutMs unless settled or cleared first', () => {
    vi.useFakeTimers({ now: 0 });
    const timedOut = readiness(100);
    const settled = readiness(100);
    const cleared = readiness(100);
    settled.r.resolve('x');
    cleared.r.clearStartTimer();
    vi.advanceTimersByTime(99);
    expect(timedOut.timeouts).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(timedOut.timeouts).toEqual([100]);
    vi.advanceTimersByTime(1000);
    expect(timedOut.timeouts).toEqual([100]);
    expect(settled.timeouts).toEqual([]);
    expect(cleared.timeouts).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    expect(timedOut.r.pending).toBe(true);
  });

  it('starts no timer without a start timeout', () => {
    vi.useFakeTimers();
    readiness(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
