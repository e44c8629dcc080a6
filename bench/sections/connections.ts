/**
 * Section 3: connections for 1,000 subscriptions on distinct keys, and their idle request rate.
 * consul-hotreload gets `roots: ['config/']`, so every subscription shares the root's one blocking query;
 * the `consul` package runs one `watch` (one blocking query, one socket) per key. Counted by the dev
 * server: open connections and requests received.
 * @module
 */
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient, watchWithConsulNpm } from '../lib/consul-npm.js';
import { CONSUL_NPM, durationMs, HOTRELOAD } from '../lib/contenders.js';
import { benchSeed } from '../lib/keys.js';
import {
  type Check,
  formatCount,
  formatMs,
  formatRate,
  formatRatio,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';
import { sleep } from '../lib/wait.js';

const SIZES = {
  full: { subscriptions: 1000, wait: '1s', windowMs: 6000, settleMs: 200 },
  smoke: { subscriptions: 20, wait: '100ms', windowMs: 200, settleMs: 50 },
} as const;

const ROOT = 'config/';
const MAX_CONNECTIONS = 2;

interface Measured {
  readyMs: number;
  connections: number;
  maxConnections: number;
  idleRequests: number;
}

/** Opens the subscriptions, waits for all to be ready, then watches the server through the idle window. */
async function measure(
  server: DevServer,
  sizes: (typeof SIZES)[Scale],
  open: () => Promise<{ close: () => Promise<void> }>,
): Promise<Measured> {
  const started = performance.now();
  const opened = await open();
  const readyMs = performance.now() - started;
  try {
    // Let the first answers' follow-up blocking queries go out before counting.
    await sleep(sizes.settleMs);
    const connections = server.stats().connections;
    let maxConnections = connections;
    const requestsBefore = server.stats().requests;
    const windowEnd = performance.now() + sizes.windowMs;
    while (performance.now() < windowEnd) {
      await sleep(Math.min(100, sizes.windowMs));
      maxConnections = Math.max(maxConnections, server.stats().connections);
    }
    return {
      readyMs,
      connections,
      maxConnections,
      idleRequests: server.stats().requests - requestsBefore,
    };
  } finally {
    await opened.close();
  }
}

/** Runs section 3. */
export async function runConnections(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  const seed = benchSeed(ROOT, sizes.subscriptions);
  const keys = Object.keys(seed);

  const ourServer = await startDevServer({ seed });
  const ours = await measure(ourServer, sizes, async () => {
    const watcher = new Watcher({ address: ourServer.address, env: {}, roots: [ROOT], wait: sizes.wait });
    const subscriptions = keys.map((key) => watcher.watch(key, { format: 'text' }));
    await Promise.all(subscriptions.map((subscription) => subscription.ready));
    return { close: () => watcher.close() };
  }).finally(() => ourServer.close());

  // No per-client cap here: a real agent would answer the npm package's 201st watch with 429, and this section
  // counts the connections each side opens rather than how each copes with the cap.
  const theirServer = await startDevServer({ seed, maxConnsPerClient: 0 });
  const theirs = await measure(theirServer, sizes, async () => {
    const consul = consulNpmClient(theirServer.address);
    const watches = keys.map((key) =>
      watchWithConsulNpm(consul, { key, recurse: false, wait: sizes.wait }, () => {}),
    );
    await Promise.all(watches.map((watch) => watch.ready));
    return {
      async close() {
        for (const watch of watches) watch.end();
        consul.destroy();
      },
    };
  }).finally(() => theirServer.close());

  const perMinute = (requests: number) => (requests * 60_000) / sizes.windowMs;
  const waitMs = durationMs(sizes.wait);
  // One watch asks once per wait (plus the server's stagger of up to wait/16); +1 for a window edge.
  const singleWatchBudget = Math.ceil(sizes.windowMs / waitMs) + 1;
  const n = formatCount(sizes.subscriptions);
  const table: Table = {
    title: `${n} subscriptions on ${n} distinct keys under ${ROOT}, idle for ${formatMs(sizes.windowMs)} (wait=${sizes.wait})`,
    columns: ['library', 'connections', 'max during idle', 'idle requests', 'requests/min', 'all ready in'],
    rows: [
      [
        `${HOTRELOAD} (roots: ['${ROOT}'])`,
        formatCount(ours.connections),
        formatCount(ours.maxConnections),
        formatCount(ours.idleRequests),
        formatRate(perMinute(ours.idleRequests)),
        formatMs(ours.readyMs),
      ],
      [
        `${CONSUL_NPM} (one watch per key)`,
        formatCount(theirs.connections),
        formatCount(theirs.maxConnections),
        formatCount(theirs.idleRequests),
        formatRate(perMinute(theirs.idleRequests)),
        formatMs(theirs.readyMs),
      ],
      [
        'ratio',
        formatRatio(ours.connections, theirs.connections),
        formatRatio(ours.maxConnections, theirs.maxConnections),
        formatRatio(ours.idleRequests, theirs.idleRequests),
        '',
        formatRatio(ours.readyMs, theirs.readyMs),
      ],
    ],
  };
  const checks: Check[] = [
    {
      name: `TCP connections for ${n} subscriptions`,
      target: `<= ${MAX_CONNECTIONS}`,
      measured: `${ours.maxConnections} (consul npm: ${formatCount(theirs.maxConnections)})`,
      pass: ours.maxConnections <= MAX_CONNECTIONS,
    },
    {
      name: `idle requests of ${n} subscriptions`,
      target: `<= one watch's (${singleWatchBudget} in ${formatMs(sizes.windowMs)})`,
      measured: `${ours.idleRequests} (consul npm: ${formatCount(theirs.idleRequests)})`,
      pass: ours.idleRequests <= singleWatchBudget,
    },
  ];
  return {
    id: 'connections',
    title: 'Connections and idle requests for many subscriptions',
    tables: [table],
    checks,
    notes: [
      'dev server in this process, a fresh one per library; connections = sockets the server has open',
      `both use wait=${sizes.wait} so the idle rate shows in a short window; at their default waits (5m vs 30s) both rates are lower by the same factor per watch`,
    ],
    values: {
      subscriptions: sizes.subscriptions,
      hotreloadConnections: ours.maxConnections,
      consulNpmConnections: theirs.maxConnections,
      hotreloadIdleRequests: ours.idleRequests,
      consulNpmIdleRequests: theirs.idleRequests,
      windowMs: sizes.windowMs,
      hotreloadReadyMs: ours.readyMs,
      consulNpmReadyMs: theirs.readyMs,
    },
  };
}
