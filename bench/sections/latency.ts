/**
 * Section 1: write-to-event latency. Each library watches its own dev server, all in this process; each
 * write is a direct `kv.put`, made only once every watch holds its blocking query (checked through the
 * servers' counters), and timed until the change reaches the app's callback. So it measures the path
 * write → wake → response → parse → diff → event, not the watcher's request pacing (minInterval is 0 here
 * for that reason).
 *
 * The libraries' writes are interleaved (ours, theirs, theirs, ours, …) rather than run one library after
 * the other: the JIT keeps warming the shared code (the dev server, Node's HTTP) for hundreds of writes, and
 * machine load drifts, so a library measured second would be measured on a warmer, differently loaded
 * process. consul-hotreload runs from its compiled build unless `--source` is given (lib/library.ts).
 * @module
 */
import type { DevServer } from '../../src/devserver/server.js';
import {
  CONSUL_NPM,
  HOTRELOAD,
  hotreloadContender,
  type RunningContender,
  type StartContender,
  startConsulNpm,
} from '../lib/contenders.js';
import { benchKey, benchSeed, benchValue, changedKeyNumber } from '../lib/keys.js';
import { type LibrarySource, type LibraryUnderTest, loadLibrary } from '../lib/library.js';
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
  // `unrecorded`: interleaved writes made before any is recorded, as JIT warm-up of the shared process.
  full: { writes: 1000, unrecorded: 500, prefixKeys: 1000 },
  smoke: { writes: 4, unrecorded: 2, prefixKeys: 10 },
} as const;

/** Targets: p50 and p99 no slower than the consul npm watch. */
const TARGET_VS_NPM = 1.0;

const SINGLE_KEY = 'lat/single';
const PREFIX = 'latp/';

interface Case {
  readonly name: string;
  readonly watched: string;
  readonly keyFor: (write: number) => string;
}

/** One library's watch on its own dev server. */
interface Side {
  readonly server: DevServer;
  readonly latch: Latch<string>;
  readonly running: RunningContender;
  readonly samples: number[];
}

async function startSide(
  library: LibraryUnderTest,
  start: StartContender,
  kase: Case,
  seed: Record<string, string>,
): Promise<Side> {
  const server = await library.startDevServer({ seed });
  const latch = new Latch<string>();
  try {
    const running = await start({ address: server.address, key: kase.watched, wait: '5m' }, (key) =>
      latch.fire(key),
    );
    return { server, latch, running, samples: [] };
  } catch (error) {
    await server.close();
    throw error;
  }
}

/** Writes to both sides in turn (the order alternates in pairs) and returns each side's latencies. */
async function measure(
  library: LibraryUnderTest,
  kase: Case,
  seed: Record<string, string>,
  sizes: (typeof SIZES)[Scale],
): Promise<{ ours: Summary; theirs: Summary }> {
  const sides: Side[] = [];
  try {
    sides.push(await startSide(library, hotreloadContender(library.Watcher), kase, seed));
    sides.push(await startSide(library, startConsulNpm, kase, seed));
    const [ours, theirs] = sides as [Side, Side];
    // ABBA: each library goes first as often as second, and follows itself as often as the other.
    const orders: ReadonlyArray<readonly [Side, Side]> = [
      [ours, theirs],
      [theirs, ours],
    ];
    for (let write = 0; write < sizes.unrecorded + sizes.writes; write++) {
      for (const side of orders[write % 2]!) {
        // Both watches hold their query: the other library's next request cannot run inside this sample.
        await waitUntil(() => sides.every((s) => s.server.stats().blockingHeld === 1), {
          what: `${kase.name}: both watches to hold their blocking query`,
        });
        const key = kase.keyFor(write);
        const arrival = side.latch.arm(`change event for ${key}`, 10_000);
        const started = performance.now();
        side.server.kv.put(key, benchValue(write, write + 1));
        const { at, value } = await arrival;
        if (value !== key) throw new Error(`bench: expected a change of ${key}, got ${value}`);
        if (write >= sizes.unrecorded) side.samples.push(at - started);
      }
    }
    for (const side of sides) {
      if (side.latch.unexpected > 0)
        throw new Error(`bench: ${side.latch.unexpected} unexpected change events`);
    }
    return { ours: summarize(ours.samples), theirs: summarize(theirs.samples) };
  } finally {
    for (const side of sides) {
      await side.running.close();
      await side.server.close();
    }
  }
}

/** Options of {@link runLatency}. */
export interface LatencyOptions {
  /** Where consul-hotreload and the dev server come from. @default 'build' at full scale, 'source' at smoke */
  library?: LibrarySource;
}

/** Runs section 1. */
export async function runLatency(scale: Scale, options: LatencyOptions = {}): Promise<SectionResult> {
  const sizes = SIZES[scale];
  // Smoke runs prove the code works in seconds; compiling first would take longer than the section.
  const library = await loadLibrary(options.library ?? (scale === 'smoke' ? 'source' : 'build'));
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
    const { ours, theirs } = await measure(library, kase, kase.seed, sizes);
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
    title: `Write → change callback, ${sizes.writes} writes each, interleaved (after ${sizes.unrecorded} unrecorded writes each)`,
    columns: ['watch', 'library', 'p50', 'p99', 'mean', 'p50 vs npm', 'p99 vs npm'],
    rows,
  };
  return {
    id: 'latency',
    title: 'Write-to-event latency',
    tables: [table],
    checks,
    notes: [
      `library under test: ${library.description}; the dev server from the same place`,
      'one dev server per library, both in this process; each write is a direct kv.put made while both watches hold their blocking query',
      "the two libraries' writes are interleaved in ABBA order, the first writes unrecorded (JIT warm-up of the shared process)",
      'both watchers use wait=5m; consul-hotreload with minInterval 0 (pacing is not what is measured)',
      "the consul npm side includes the user's Map<key, ModifyIndex> diff that finds the changed key",
    ],
    values,
  };
}
