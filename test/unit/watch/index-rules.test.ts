import { describe, expect, it } from 'vitest';
import { nextIndex, sanitizeIndex } from '../../../src/watch/index-rules.js';

describe('nextIndex', () => {
  it('sends the received index when it moved forward', () => {
    expect(nextIndex(10, 12)).toEqual({ next: 12, reset: false });
  });

  it('keeps blocking on the same index when the wait timed out with an equal index (consul-semantics §4)', () => {
    expect(nextIndex(12, 12)).toEqual({ next: 12, reset: false });
  });

  it('adopts any index after a non-blocking read from 0', () => {
    expect(nextIndex(0, 5)).toEqual({ next: 5, reset: false });
  });

  it('resets the index to 0 when Consul returns a lower one (consul-semantics §3: tombstones reaped, snapshot restore)', () => {
    expect(nextIndex(40, 25)).toEqual({ next: 0, reset: true });
  });

  it('treats a missing or zero index as 1, so the next request still blocks (consul-semantics §4)', () => {
    expect(nextIndex(0, 0)).toEqual({ next: 1, reset: false });
    expect(nextIndex(1, 0)).toEqual({ next: 1, reset: false });
  });

  it('treats a negative or unparseable index as 1', () => {
    expect(nextIndex(0, -3)).toEqual({ next: 1, reset: false });
    expect(nextIndex(0, Number.NaN)).toEqual({ next: 1, reset: false });
  });

  it('resets when a garbage index (read as 1) follows a real one, rather than blocking on a wrong index', () => {
    expect(nextIndex(30, 0)).toEqual({ next: 0, reset: true });
  });
});

describe('sanitizeIndex', () => {
  it('keeps a real index and turns 0, negatives and garbage into 1', () => {
    expect([sanitizeIndex(42), sanitizeIndex(0), sanitizeIndex(-1), sanitizeIndex(Number.NaN)]).toEqual([
      42, 1, 1, 1,
    ]);
  });
});
