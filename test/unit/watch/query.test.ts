/**
 * BlockingQuery with a scripted fetch and no HTTP (as api/watch's plan_test uses a noop watch type): what it
 * logs and publishes as its state changes, and what its subscribers hear.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WatchStateMessage } from '../../../src/diagnostics.js';
import { type ConsulError, ServerError } from '../../../src/errors.js';
import type { LogFn } from '../../../src/logger.js';
import type { ResolvedWatcherOptions } from '../../../src/watch/options.js';
import { BlockingQuery, type QuerySubscriber } from '../../../src/watch/query.js';
import { kError, kHealth } from '../../../src/watch/subscription.js';
import type { LoopState } from '../../../src/watch/types.js';

type Step = { index: number } | Error;

function setup(steps: Step[]) {
  const logs: Array<[string, string]> = [];
  const level =
    (name: string): LogFn =>
    (_obj, msg) => {
      logs.push([name, msg ?? '']);
    };
  const options: ResolvedWatcherOptions = {
    waitMs: 1_000,
    minIntervalMs: 0,
    churnIntervalMs: 0,
    backoff: { minMs: 20, maxMs: 20 },
    staleAfterMs: 25,
    roots: [],
    consistency: 'default',
    maxStaleMs: undefined,
    debounce: undefined,
    startTimeoutMs: 0,
    decodeCacheSize: 0,
    random: () => 0.5,
    cachePath: undefined,
    cacheMaxBytes: undefined,
    maxBlockingQueries: 32,
    logger: { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') },
  };
  const heard: Array<LoopState | string> = [];
  const subscriber: QuerySubscriber = {
    [kHealth]: (state: LoopState) => heard.push(state),
    [kError]: (error: ConsulError) => heard.push(`error ${error.code}`),
  };
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const query = new BlockingQuery<{ index: number }>('config/', options, {
    fetch: (_index, signal) => {
      const step = steps.shift();
      if (step === undefined) {
        done();
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      }
      return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
    },
    onAnswer: () => {},
    subscribers: () => [subscriber],
  });
  return { query, logs, heard, finished };
}

const published: WatchStateMessage[] = [];
const onState = (message: unknown) => published.push(message as WatchStateMessage);

afterEach(() => {
  diagnosticsChannel.unsubscribe('consul-hotreload:watch:state', onState);
  published.length = 0;
  vi.useRealTimers();
});

describe('BlockingQuery', () => {
  it('logs and publishes connected, stale, recovered and an index going backwards, in order', async () => {
    vi.useFakeTimers();
    diagnosticsChannel.subscribe('consul-hotreload:watch:state', onState);
    const failure = () => new ServerError('kv.list config/: 500 boom', { operation: 'kv.list', status: 500 });
    // 10, then 4 failures 10 ms apart (full jitter of 20 ms at 0.5): stale 25 ms after the first; then 12, then 5.
    const { query, logs, heard, finished } = setup([
      { index: 10 },
      failure(),
      failure(),
      failure(),
      failure(),
      { index: 12 },
      { index: 5 },
    ]);
    await vi.advanceTimersByTimeAsync(200);
    await finished;
    await query.close();
    expect(
      logs.map(([level, msg]) => `${level} ${msg.replace(/; retrying in \d+ ms$/, '; retrying')}`),
    ).toEqual([
      'info watch config/: connected',
      'warn kv.list config/: 500 boom; retrying',
      'warn kv.list config/: 500 boom; retrying',
      'warn kv.list config/: 500 boom; retrying',
      'warn watch config/: stale: requests have failed for 25 ms; the last good value keeps serving',
      'warn kv.list config/: 500 boom; retrying',
      'info watch config/: recovered; Consul answers again',
      "info watch config/: Consul's index went backwards (12 -> 5); reading everything again",
    ]);
    expect(published).toEqual([
      { key: 'config/', state: 'ready', previous: 'connecting' },
      { key: 'config/', state: 'stale', previous: 'ready' },
      { key: 'config/', state: 'ready', previous: 'stale' },
      { key: 'config/', state: 'index-reset', previous: 'ready', fromIndex: 12, toIndex: 5 },
      { key: 'config/', state: 'closed', previous: 'ready' },
    ]);
    expect(heard).toEqual([
      'ready',
      'error CONSUL_SERVER_ERROR',
      'error CONSUL_SERVER_ERROR',
      'error CONSUL_SERVER_ERROR',
      'stale',
      'error CONSUL_SERVER_ERROR',
      'ready',
      'closed',
    ]);
  });
});
