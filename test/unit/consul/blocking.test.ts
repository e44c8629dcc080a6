import { describe, expect, it } from 'vitest';
import {
  blockingTimeoutMs,
  DEFAULT_WAIT_MS,
  effectiveWaitMs,
  MAX_QUERY_TIME_MS,
  waitParam,
} from '../../../src/consul/blocking.js';

describe('blocking-query timing (consul-semantics §4)', () => {
  it('computes the blocking timeout as wait + wait/16 + 7 s + 2 s, wait defaulting to 300 s and clamped to 600 s', () => {
    expect([undefined, 0, 16_000, 600_000, 900_000].map(blockingTimeoutMs)).toEqual([
      327_750, 327_750, 26_000, 646_500, 646_500,
    ]);
  });

  it('clamps the effective wait to max_query_time and uses default_query_time for 0', () => {
    expect([undefined, 0, -5, 1, 600_001].map(effectiveWaitMs)).toEqual([
      300_000, 300_000, 300_000, 1, 600_000,
    ]);
    expect([DEFAULT_WAIT_MS, MAX_QUERY_TIME_MS]).toEqual([300_000, 600_000]);
  });

  it('sends wait in whole ms with a unit, a positive sub-ms wait as 1ms, and none for 0 (consul-semantics §1)', () => {
    expect([0, 0.25, 1500.9, 55_000].map(waitParam)).toEqual([undefined, '1ms', '1500ms', '55000ms']);
  });
});
