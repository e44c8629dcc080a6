/**
 * Section 4: requests per minute of one watch while idle, during a 500 outage, and the time to see a
 * change once the outage ends. Both libraries run at once, each against its own dev server (in this
 * process), so they live through the same wall-clock window; the servers count the requests.
 *
 * The outage is a `status: 500` fault with `times: Infinity`, cleared after the window. The `consul`
 * package backs off on its own schedule (100 ms × 2ⁿ, capped at 30 s, no jitter); consul-hotreload uses
 * its defaults (full jitter from 250 ms, capped at 30 s).
 * @module
 */
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient, watchWithConsulNpm } from '../lib/consul-npm.js';
import { CONSUL_NPM, durationMs, HOTRELOAD } from '../lib/contenders.js';
import { benchValue } from '../lib/keys.js';
import {
  formatCount,
  formatMs,
  formatRate,
  formatRatio,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';
import { Latch, sleep } from '../lib/wait.js';

const SIZES = {
  full: { wait: '1s', idleMs: 10_000, outageMs: 30_000, recoveryCapMs: 35_000, settleMs: 200 },
  smoke: { wait: '100ms', idleMs: 200, outageMs: 400, recoveryCapMs: 3_000, settleMs: 50 },
} as const;

const KEY = 'flags/checkout';

interface Side {
  readonly name: string;
  readonly server: DevServer;
  readonly latch: Latch<string>;
  errors: () => number;
  close: () => Promise<void>;
}

async function startOurs(wait: string): Promise<Side> {
  const server = await startDevServer({ seed: { [KEY]: benchValue(0) } });
  const latch = new Latch<string>();
  const watcher = new Watcher({ address: server.address, env: {}, wait });
  const subscription = watcher.watch(KEY, { format: 'text' });
  let errors = 0;
  subscription.on('error', () => {
    errors++;
  });
  subscription.on('change', (event) => {
    for (const change of event.changes) latch.fire(change.key);
  });
  await subscription.ready;
  return {
    name: HOTRELOAD,
    server,
    latch,
    errors: () => errors,
    close: async () => {
      await watcher.close();
      await server.close();
    },
  };
}

async function startTheirs(wait: string): Promise<Side> {
  const server = await startDevServer({ seed: { [KEY]: benchValue(0) } });
  const latch = new Latch<string>();
  const consul = consulNpmClient(server.address);
  const watch = watchWithConsulNpm(consul, { key: KEY, recurse: false, wait }, (changed) => {
    for (const key of changed) latch.fire(key);
  });
  await watch.ready;
  return {
    name: CONSUL_NPM,
    server,
    latch,
    errors: watch.errors,
    close: async () => {
      watch.end();
      consul.destroy();
      await server.close();
    },
  };
}

/** Runs section 4. */
export async function runRequests(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  const sides = [await startOurs(sizes.wait), await startTheirs(sizes.wait)];
  const idle = new Map<string, number>();
  const outage = new Map<string, number>();
  const outageErrors = new Map<string, number>();
  const recovery = new Map<string, number | undefined>();
  try {
    await sleep(sizes.settleMs);
    const before = sides.map((side) => side.server.stats().requests);
    await sleep(sizes.idleMs);
    sides.forEach((side, i) => {
      idle.set(side.name, side.server.stats().requests - before[i]!);
    });

    const errorsBefore = sides.map((side) => side.errors());
    const outageBefore = sides.map((side) => side.server.stats().requests);
    for (const side of sides)
      side.server.faults.inject({ fault: { kind: 'status', status: 500 }, times: Infinity });
    await sleep(sizes.outageMs);
    for (const side of sides) side.server.faults.clear();
    sides.forEach((side, i) => {
      outage.set(side.name, side.server.stats().requests - outageBefore[i]!);
      outageErrors.set(side.name, side.errors() - errorsBefore[i]!);
    });

    // The outage is over and the value changes at once: how long until each app sees it?
    const cleared = performance.now();
    const arrivals = sides.map((side) =>
      side.latch.arm(`change after the outage (${side.name})`, sizes.recoveryCapMs),
    );
    for (const side of sides) side.server.kv.put(KEY, benchValue(0, 1));
    const settled = await Promise.allSettled(arrivals);
    settled.forEach((result, i) => {
      recovery.set(sides[i]!.name, result.status === 'fulfilled' ? result.value.at - cleared : undefined);
    });
  } finally {
    for (const side of sides) await side.close();
  }

  const perMinute = (requests: number, ms: number) => (requests * 60_000) / ms;
  const [ours, theirs] = sides.map((side) => side.name) as [string, string];
  const rowFor = (name: string): string[] => {
    const recovered = recovery.get(name);
    return [
      name,
      formatRate(perMinute(idle.get(name)!, sizes.idleMs)),
      formatCount(outage.get(name)!),
      formatRate(perMinute(outage.get(name)!, sizes.outageMs)),
      formatCount(outageErrors.get(name)!),
      recovered === undefined ? `> ${formatMs(sizes.recoveryCapMs)}` : formatMs(recovered),
    ];
  };
  const ratio = (map: Map<string, number>) => formatRatio(map.get(ours)!, map.get(theirs)!);
  const table: Table = {
    title: `One key watch (wait=${sizes.wait}): idle ${formatMs(sizes.idleMs)}, then ${formatMs(sizes.outageMs)} of HTTP 500`,
    columns: [
      'library',
      'idle req/min',
      'outage requests',
      'outage req/min',
      'error events',
      'change seen after outage',
    ],
    rows: [
      rowFor(ours),
      rowFor(theirs),
      ['ratio', ratio(idle), ratio(outage), ratio(outage), ratio(outageErrors), ''],
    ],
  };
  const waitMs = durationMs(sizes.wait);
  const recoveredOurs = recovery.get(ours);
  const recoveredTheirs = recovery.get(theirs);
  return {
    id: 'requests',
    title: 'Requests per minute: idle and during an outage',
    tables: [table],
    checks: [],
    notes: [
      'both libraries run at the same time, each against its own dev server in this process',
      `idle: one blocking query per wait (${formatMs(waitMs)}) plus the server's stagger (up to wait/16); at the default waits consul-hotreload (5m) asks ~0.2/min, the consul package (30s) ~1.9/min`,
      'outage: every KV read answers 500 until cleared; then the key is written and the time until the app sees it is measured',
      "consul-hotreload's error events go to the subscription's 'error' listener; the consul package's to the watch's 'error' listener",
    ],
    values: {
      hotreloadIdlePerMin: perMinute(idle.get(ours)!, sizes.idleMs),
      consulNpmIdlePerMin: perMinute(idle.get(theirs)!, sizes.idleMs),
      hotreloadOutageRequests: outage.get(ours)!,
      consulNpmOutageRequests: outage.get(theirs)!,
      hotreloadRecoveryMs: recoveredOurs ?? Number.POSITIVE_INFINITY,
      consulNpmRecoveryMs: recoveredTheirs ?? Number.POSITIVE_INFINITY,
      outageMs: sizes.outageMs,
    },
  };
}
