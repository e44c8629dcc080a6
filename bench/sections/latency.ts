/**
 * Section 1: write-to-event latency. The dev server runs in this process; each write is a direct
 * `kv.put`, made only once the watch holds its blocking query (checked through the server's counters), and
 * timed until the change reaches the app's callback. So it measures the path write → wake → response →
 * parse → diff → event, not the watcher's request pacing (minInterval is 0 here for that reason).
 * @module
 */
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import {
  CONSUL_NPM,
  HOTRELOAD,
  type StartContender,
  startConsulNpm,
  startHotreload,
} from '../lib/contenders.js';
import { benchKey, benchSeed, benchValue, changedKeyNumber } from '../lib/keys.js';
import {
  type Check,
  formatMs,
  formatRatio,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';
import { type Summary, summarize } from '../lib/stats.js';
import { Latch, waitUntil } from '../lib/wait.js';

const SIZES = {
  full: { writes: 200, warmup: 20, prefixKeys: 1000 },
  smoke: { writes: 4, warmup: 1, prefixKeys: 10 },
} as const;

/** Target: write-to-event p99 at most this multiple of the consul npm watch's. */
/** Targets: p50 and p99 no slower than the consul npm watch. */
const TARGET_VS_NPM = 1.0;

const SINGLE_KEY = 'lat/single';
const PREFIX = 'latp/';

interface Case {
  readonly name: string;
  readonly watched: string;
  readonly keyFor: (write: number) => string;
}

async function measure(
  start: StartContender,
  kase: Case,
  seed: Record<string, string>,
  sizes: (typeof SIZES)[Scale],
): Promise<Summary> {
  const server: DevServer = await startDevServer({ seed });
  const latch = new Latch<string>();
  const running = await start({ address: server.address, key: kase.watched, wait: '5m' }, (key) =>
    latch.fire(key),
  );
  const samples: number[] = [];
  try {
    for (let write = 0; write < sizes.warmup + sizes.writes; write++) {
      await waitUntil(() => server.stats().blockingHeld === 1, {
        what: `${kase.name}: the watch to hold its blocking query`,
      });
      const key = kase.keyFor(write);
      const arrival = latch.arm(`change event for ${key}`, 10_000);
      const started = performance.now();
      server.kv.put(key, benchValue(write, write + 1));
      const { at, value } = await arrival;
      if (value !== key) throw new Error(`bench: expected a change of ${key}, got ${value}`);
      if (write >= sizes.warmup) samples.push(at - started);
    }
    if (latch.unexpected > 0) throw new Error(`bench: ${latch.unexpected} unexpected change events`);
  } finally {
    await running.close();
    await server.close();
  }
  return summarize(samples);
}

/** Runs section 1. */
export async function runLatency(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  const cases: Array<Case & { seed: Record<string, string> }> = [
    {
      name: 'single key',
      watched: SINGLE_KEY,
      keyFor: () => SINGLE_KEY,
      seed: { [SINGLE_KEY]: benchValue(0) },
    },
    {
      name: `prefix of ${sizes.prefixKeys.toLocaleString('en-US')} keys`,
      watched: PREFIX,
      keyFor: (write) => benchKey(PREFIX, changedKeyNumber(write, sizes.prefixKeys)),
      seed: benchSeed(PREFIX, sizes.prefixKeys),
    },
  ];
  const rows: string[][] = [];
  const values: Record<string, number> = {};
  const checks: Check[] = [];
  for (const kase of cases) {
    // One unrecorded pass of each first: the dev server and Node's HTTP code share this process, so
    // whichever library ran first would otherwise pay for warming them up (JIT) in its tail latency.
    for (const start of [startHotreload, startConsulNpm]) await measure(start, kase, kase.seed, sizes);
    const ours = await measure(startHotreload, kase, kase.seed, sizes);
    const theirs = await measure(startConsulNpm, kase, kase.seed, sizes);
    const id = kase.watched === SINGLE_KEY ? 'single' : 'prefix';
    values[`${id}.hotreload.p50`] = ours.p50;
    values[`${id}.hotreload.p99`] = ours.p99;
    values[`${id}.consulNpm.p50`] = theirs.p50;
    values[`${id}.consulNpm.p99`] = theirs.p99;
    checks.push(
      {
        name: `${kase.name}: write-to-event p50 vs consul npm watch`,
        target: `<= ${TARGET_VS_NPM.toFixed(2)}x`,
        measured: `${formatRatio(ours.p50, theirs.p50)} (${formatMs(ours.p50)} vs ${formatMs(theirs.p50)})`,
        pass: ours.p50 <= TARGET_VS_NPM * theirs.p50,
      },
      {
        name: `${kase.name}: write-to-event p99 vs consul npm watch`,
        target: `<= ${TARGET_VS_NPM.toFixed(2)}x`,
        measured: `${formatRatio(ours.p99, theirs.p99)} (${formatMs(ours.p99)} vs ${formatMs(theirs.p99)})`,
        pass: ours.p99 <= TARGET_VS_NPM * theirs.p99,
      },
    );
    rows.push(
      [
        kase.name,
        HOTRELOAD,
        formatMs(ours.p50),
        formatMs(ours.p99),
        formatMs(ours.mean),
        formatRatio(ours.p50, theirs.p50),
        formatRatio(ours.p99, theirs.p99),
      ],
      [
        kase.name,
        CONSUL_NPM,
        formatMs(theirs.p50),
        formatMs(theirs.p99),
        formatMs(theirs.mean),
        '1.00x',
        '1.00x',
      ],
    );
  }
  const table: Table = {
    title: `Write → change callback, ${sizes.writes} writes each (after ${sizes.warmup} warm-up writes)`,
    columns: ['watch', 'library', 'p50', 'p99', 'mean', 'p50 vs npm', 'p99 vs npm'],
    rows,
  };
  return {
    id: 'latency',
    title: 'Write-to-event latency',
    tables: [table],
    checks,
    notes: [
      'dev server in this process; each write is a direct kv.put made while the watch holds its blocking query',
      'each library first runs one unrecorded pass of the same writes (JIT warm-up of the shared process)',
      'both watchers use wait=5m; consul-hotreload with minInterval 0 (pacing is not what is measured)',
      "the consul npm side includes the user's Map<key, ModifyIndex> diff that finds the changed key",
    ],
    values,
  };
}
