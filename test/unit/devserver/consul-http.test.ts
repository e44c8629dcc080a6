import { describe, expect, it } from 'vitest';
import { blockingTimeoutMs } from '../../../src/devserver/consul-http.js';

const settings = { defaultQueryTimeMs: 300_000, maxQueryTimeMs: 600_000, jitter: false };

describe('blockingTimeoutMs (consul-semantics §4)', () => {
  it('uses the default when wait is absent, zero or negative', () => {
    expect(blockingTimeoutMs(settings, undefined)).toBe(300_000);
    expect(blockingTimeoutMs(settings, 0)).toBe(300_000);
    expect(blockingTimeoutMs(settings, -5_000)).toBe(300_000);
  });

  it('keeps a wait within the maximum and clamps a longer one', () => {
    expect(blockingTimeoutMs(settings, 55_000)).toBe(55_000);
    expect(blockingTimeoutMs(settings, 3_600_000)).toBe(600_000);
  });

  it('adds a stagger of up to wait/16 after clamping when jitter is on', () => {
    const jittered = { ...settings, jitter: true };
    expect(blockingTimeoutMs(jittered, 3_600_000, () => 0)).toBe(600_000);
    expect(blockingTimeoutMs(jittered, 3_600_000, () => 0.5)).toBe(618_750);
    expect(blockingTimeoutMs(jittered, undefined, () => 0.999)).toBeCloseTo(300_000 + 18_731.25, 5);
  });
});
