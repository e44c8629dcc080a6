import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/backoff.js';

describe('Backoff', () => {
  it('doubles the ceiling per consecutive failure and applies full jitter to it', () => {
    const backoff = new Backoff({ minMs: 250, maxMs: 30_000, random: () => 0.5 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([125, 250, 500, 1000]);
    expect(backoff.attempt).toBe(4);
  });

  it('caps the ceiling at maxMs', () => {
    const backoff = new Backoff({ minMs: 250, maxMs: 1000, random: () => 0.999 });
    const delays = Array.from({ length: 6 }, () => backoff.next());
    expect(delays).toEqual([249, 499, 999, 999, 999, 999]);
  });

  it('draws the whole range [0, ceiling): random 0 gives 0', () => {
    const backoff = new Backoff({ minMs: 250, maxMs: 30_000, random: () => 0 });
    expect([backoff.next(), backoff.next()]).toEqual([0, 0]);
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 30_000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it('waits exactly maxMs for errors that retrying will not fix soon, and counts them', () => {
    const backoff = new Backoff({ minMs: 250, maxMs: 30_000, random: () => 0 });
    expect([backoff.slow(), backoff.slow()]).toEqual([30_000, 30_000]);
    expect(backoff.attempt).toBe(2);
  });

  it('never overflows after very many failures', () => {
    const backoff = new Backoff({ minMs: 250, maxMs: 30_000, random: () => 0.5 });
    for (let i = 0; i < 2000; i++) backoff.next();
    expect(backoff.next()).toBe(15_000);
  });
});
