/**
 * Measures, in a fresh process started with `--expose-gc`, the memory one holder keeps for a prefix:
 * heap + external after a full GC once the watch is ready, minus the same before it started; then again
 * after `changes` one-key changes, which shows whether anything accumulates per answer.
 *
 * argv[2]: JSON {@link HeapChildConfig}. Sends one {@link HeapChildResult} and exits.
 * @module
 */
import { request } from 'undici';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient, watchWithConsulNpm } from '../lib/consul-npm.js';
import { benchKey, benchValue, changedKeyNumber } from '../lib/keys.js';
import { Latch, sleep } from '../lib/wait.js';

/** Who is measured. */
export type HeapContender = 'consul-hotreload' | 'consul-hotreload-nocache' | 'consul-npm' | 'json-parse';

/** What the parent asks for. */
export interface HeapChildConfig {
  address: string;
  /** The prefix to watch (ends in `/`). */
  prefix: string;
  /** Keys under the prefix (bench keys 0..keys-1). */
  keys: number;
  /** One-key changes to make (over HTTP, from this child) after the first sample. */
  changes: number;
  /** A small key used to warm the library up before the baseline. */
  warmupKey: string;
  contender: HeapContender;
}

/** What the child reports, in bytes. */
export interface HeapChildResult {
  heapBytes: number;
  externalBytes: number;
  /** heap + external after the changes, minus the baseline; undefined when the holder does not watch. */
  afterChangesBytes: number | undefined;
  /** Keys the holder has, to check it saw the whole prefix. */
  keys: number;
}

interface Held {
  keys: number;
  /** What the holder keeps, referenced here so nothing is collected before the second sample. */
  retained: unknown;
  /** Fires on each change the app sees; undefined for a holder that does not watch. */
  changes: Latch<string> | undefined;
  close(): Promise<void>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as HeapChildConfig;
const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('heap-child needs --expose-gc');

interface Sample {
  heap: number;
  external: number;
}

async function sample(): Promise<Sample> {
  // Let pending callbacks finish, then collect twice (the second pass frees what finalizers released).
  await sleep(50);
  collect!();
  collect!();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, external: usage.external };
}

async function hold(key: string): Promise<Held> {
  const changes = new Latch<string>();
  switch (config.contender) {
    case 'consul-hotreload':
    case 'consul-hotreload-nocache': {
      const watcher = new Watcher({
        address: config.address,
        env: {},
        wait: '60s',
        minInterval: 0,
        ...(config.contender === 'consul-hotreload-nocache' ? { decodeCacheSize: 0 } : {}),
      });
      const subscription = watcher.watch(key, { format: 'text' });
      subscription.on('change', (event) => {
        for (const change of event.changes) changes.fire(change.key);
      });
      await subscription.ready;
      return { keys: subscription.entries.size, retained: watcher, changes, close: () => watcher.close() };
    }
    case 'consul-npm': {
      const consul = consulNpmClient(config.address);
      const watch = watchWithConsulNpm(consul, { key, recurse: key.endsWith('/'), wait: '60s' }, (keys) => {
        for (const changed of keys) changes.fire(changed);
      });
      await watch.ready;
      return {
        keys: watch.latest().length,
        retained: watch,
        changes,
        async close() {
          watch.end();
          consul.destroy();
        },
      };
    }
    case 'json-parse': {
      const response = await request(`${config.address}/v1/kv/${key}${key.endsWith('/') ? '?recurse' : ''}`);
      const parsed = JSON.parse(await response.body.text()) as unknown[];
      return { keys: parsed.length, retained: parsed, changes: undefined, close: async () => {} };
    }
  }
}

async function put(key: string, value: string): Promise<void> {
  const response = await request(`${config.address}/v1/kv/${key}`, { method: 'PUT', body: value });
  await response.body.dump();
}

// Warm-up: run the library's code paths (and a PUT) once on a small key, so lazy one-time state is not
// counted.
const warm = await hold(config.warmupKey);
// Outside the watched prefix, so the measured holder does not see it.
await put(`${config.prefix.slice(0, -1)}-warm-up`, 'x');
await warm.close();
const before = await sample();
const held = await hold(config.prefix);
const ready = await sample();
let afterChanges: number | undefined;
if (held.changes !== undefined) {
  for (let change = 1; change <= config.changes; change++) {
    const number = changedKeyNumber(change, config.keys);
    const key = benchKey(config.prefix, number);
    const seen = held.changes.arm(`change of ${key}`, 30_000);
    await put(key, benchValue(number, change));
    const { value } = await seen;
    if (value !== key) throw new Error(`heap-child: expected a change of ${key}, saw ${value}`);
  }
  const changed = await sample();
  afterChanges = changed.heap + changed.external - before.heap - before.external;
}
// Touch what is held after the samples, so it stays reachable through them.
if (held.retained === undefined) throw new Error('heap-child: nothing held');
const result: HeapChildResult = {
  heapBytes: ready.heap - before.heap,
  externalBytes: ready.external - before.external,
  afterChangesBytes: afterChanges,
  keys: held.keys,
};
await held.close();
process.send?.(result, () => process.disconnect());
