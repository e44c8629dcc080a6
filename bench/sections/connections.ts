/**
 * Section 3: connections for 1,000 subscriptions on distinct keys, and their idle request rate.
 * consul-hotreload gets `roots: ['config/']`, so every subscription shares the root's one blocking query;
 * the `consul` package runs one `watch` (one blocking query, one socket) per key. Counted by the dev
 * server: open connections and requests received.
 *
 * Then the connection budget: 500 distinct keys watched with no `roots` and the default
 * `maxBlockingQueries` (32). The sockets the server sees stay within the budget, the idle request rate
 * is that of the queries the watcher chose, and a write to any key reaches its subscription fast
 * (change-to-event p99).
 * @module
 */
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient, watchWithConsulNpm } from '../lib/consul-npm.js';
import { CONSUL_NPM, durationMs, HOTRELOAD } from '../lib/contenders.js';
import { benchKey, benchSeed } from '../lib/keys.js';
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
import { summarize } from '../lib/stats.js';
import { Latch, sleep } from '../lib/wait.js';

const SIZES = {
  full: { subscriptions: 1000, wait: '1s', windowMs: 6000, settleMs: 200 },
  smoke: { subscriptions: 20, wait: '100ms', windowMs: 200, settleMs: 50 },
} as const;

const ROOT = 'config/';
const MAX_CONNECTIONS = 2;

const BUDGET_SIZES = {
  full: { keys: 500, wait: '1s', windowMs: 6000, settleMs: 300, writes: 80, spacingMs: 250 },
  smoke: { keys: 40, wait: '100ms', windowMs: 200, settleMs: 50, writes: 5, spacingMs: 20 },
} as const;
const BUDGET_PREFIX = 'budget/';
/** The default of `maxBlockingQueries`. */
const DEFAULT_BUDGET = 32;
const TARGET_P99_MS = 1000;
/** As in bench/lib/keys.ts. */
const KEYS_PER_FOLDER = 100;

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

interface BudgetMeasured {
  readyMs: number;
  queries: number;
  maxConnections: number;
  idleRequests: number;
  latency: ReturnType<typeof summarize>;
  maxConnectionsDuringWrites: number;
  /** Warnings logged by each of the two watchers. */
  warnings: number[];
}

/** A deterministic stream of key numbers (xorshift), so every run writes the same keys in the same order. */
function* keyNumbers(count: number): Generator<number> {
  let state = 0x2545f491;
  for (;;) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    yield (state >>> 0) % count;
  }
}

/**
 * 500 distinct keys with no roots: first an idle window at a short wait (sockets, requests), then writes to
 * keys picked at random with the default wait, each awaited until its subscription's change event.
 */
async function measureBudget(sizes: (typeof BUDGET_SIZES)[Scale]): Promise<BudgetMeasured> {
  const seed = benchSeed(BUDGET_PREFIX, sizes.keys);
  const keys = Object.keys(seed);
  const server = await startDevServer({ seed });
  const warnings: number[] = [0, 0];
  const quiet = () => {};
  const loggerFor = (watcher: number) => ({
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: () => {
      warnings[watcher]!++;
    },
  });
  try {
    const idle = await (async () => {
      const watcher = new Watcher({
        address: server.address,
        env: {},
        wait: sizes.wait,
        logger: loggerFor(0),
      });
      const started = performance.now();
      const subscriptions = keys.map((key) => watcher.watch(key, { format: 'text' }));
      await Promise.all(subscriptions.map((subscription) => subscription.ready));
      const readyMs = performance.now() - started;
      try {
        await sleep(sizes.settleMs);
        let maxConnections = server.stats().connections;
        const requestsBefore = server.stats().requests;
        const windowEnd = performance.now() + sizes.windowMs;
        while (performance.now() < windowEnd) {
          await sleep(Math.min(100, sizes.windowMs));
          maxConnections = Math.max(maxConnections, server.stats().connections);
        }
        return {
          readyMs,
          queries: watcher.stats().queries.length,
          maxConnections,
          idleRequests: server.stats().requests - requestsBefore,
        };
      } finally {
        await watcher.close();
      }
    })();
    // The writes, on a fresh server-side view: the idle watcher's sockets are gone.
    const watcher = new Watcher({ address: server.address, env: {}, logger: loggerFor(1) });
    const latch = new Latch<string>();
    const subscriptions = keys.map((key) => watcher.watch(key, { format: 'text' }));
    for (const subscription of subscriptions) {
      subscription.on('change', (event) => {
        for (const change of event.changes) latch.fire(change.key);
      });
    }
    try {
      await Promise.all(subscriptions.map((subscription) => subscription.ready));
      await sleep(sizes.settleMs);
      const samples: number[] = [];
      let maxConnectionsDuringWrites = server.stats().connections;
      const numbers = keyNumbers(sizes.keys);
      const folders = Math.ceil(sizes.keys / KEYS_PER_FOLDER);
      for (let i = 0; i < sizes.writes; i++) {
        // Folders in turn, a random key in each: every folder's shared query sees one change per
        // `folders × spacingMs`, above the 1 s under which the churn pacing (consul-semantics §4.7) starts.
        const inFolder = (numbers.next().value as number) % KEYS_PER_FOLDER;
        const number = Math.min(sizes.keys - 1, (i % folders) * KEYS_PER_FOLDER + inFolder);
        const key = benchKey(BUDGET_PREFIX, number);
        const arrival = latch.arm(`change of ${key}`, 10_000);
        const written = performance.now();
        server.kv.put(key, `write ${i}`);
        const { at, value } = await arrival;
        if (value !== key) throw new Error(`bench: a write to ${key} reached ${value}`);
        samples.push(at - written);
        maxConnectionsDuringWrites = Math.max(maxConnectionsDuringWrites, server.stats().connections);
        await sleep(sizes.spacingMs);
      }
      await sleep(sizes.settleMs);
      if (latch.unexpected > 0)
        throw new Error(`bench: ${latch.unexpected} change events for keys not written`);
      return { ...idle, latency: summarize(samples), maxConnectionsDuringWrites, warnings };
    } finally {
      await watcher.close();
    }
  } finally {
    await server.close();
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
  const budgetSizes = BUDGET_SIZES[scale];
  const budget = await measureBudget(budgetSizes);
  const b = formatCount(budgetSizes.keys);
  const budgetWaitMs = durationMs(budgetSizes.wait);
  const perQueryBudget = Math.ceil(budgetSizes.windowMs / budgetWaitMs) + 1;
  const budgetTable: Table = {
    title: `${b} subscriptions on ${b} distinct keys, no roots, maxBlockingQueries ${DEFAULT_BUDGET} (default): idle ${formatMs(budgetSizes.windowMs)} at wait=${budgetSizes.wait}, then ${budgetSizes.writes} writes to random keys at the default wait`,
    columns: [
      'blocking queries',
      'max sockets (idle)',
      'max sockets (writes)',
      'idle requests',
      'requests/min',
      'change p50',
      'change p99',
      'change max',
      'all ready in',
    ],
    rows: [
      [
        formatCount(budget.queries),
        formatCount(budget.maxConnections),
        formatCount(budget.maxConnectionsDuringWrites),
        formatCount(budget.idleRequests),
        formatRate(perMinute(budget.idleRequests)),
        formatMs(budget.latency.p50),
        formatMs(budget.latency.p99),
        formatMs(budget.latency.max),
        formatMs(budget.readyMs),
      ],
    ],
  };
  const maxSockets = Math.max(budget.maxConnections, budget.maxConnectionsDuringWrites);
  checks.push(
    {
      name: `sockets for ${b} distinct keys (no roots)`,
      target: `<= ${DEFAULT_BUDGET} (the budget)`,
      measured: `${maxSockets} (${budget.queries} blocking queries)`,
      pass: maxSockets <= DEFAULT_BUDGET,
    },
    {
      name: `change-to-event p99 for ${b} distinct keys`,
      target: `<= ${formatMs(TARGET_P99_MS)}`,
      measured: `${formatMs(budget.latency.p99)} (p50 ${formatMs(budget.latency.p50)})`,
      pass: budget.latency.p99 <= TARGET_P99_MS,
    },
    {
      name: `idle requests of ${b} distinct keys`,
      target: `<= one watch's per query (${perQueryBudget} × ${budget.queries})`,
      measured: `${budget.idleRequests} (${formatRatio(budget.idleRequests, perQueryBudget)} one watch's)`,
      pass: budget.idleRequests <= perQueryBudget * budget.queries,
    },
    {
      name: 'the budget is reported once',
      target: '1 warning per watcher',
      measured: `${budget.warnings.join(' and ')} (one per watcher)`,
      pass: budget.warnings.every((count) => count === 1),
    },
  );
  return {
    id: 'connections',
    title: 'Connections and idle requests for many subscriptions',
    tables: [table, budgetTable],
    checks,
    notes: [
      'dev server in this process, a fresh one per library; connections = sockets the server has open',
      `both use wait=${sizes.wait} so the idle rate shows in a short window; at their default waits (5m vs 30s) both rates are lower by the same factor per watch`,
      `budget case: keys in folders of 100 (${BUDGET_PREFIX}svc-NNN/key-NN); the watcher coalesces them under the folders it chooses; each write is a direct kv.put to a random key of the next folder in turn, ${budgetSizes.spacingMs} ms apart, awaited until the subscription of that key (and no other) sees it; default minInterval and churn pacing`,
      'a shared folder query sees the writes of all its keys: past one quick answer per second in a row it is paced as any root (consul-semantics §4.7, up to 15 s), so a hot key slows its folder neighbours; set `roots` to keep it apart',
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
      budgetKeys: budgetSizes.keys,
      budgetQueries: budget.queries,
      budgetMaxSockets: maxSockets,
      budgetIdleRequests: budget.idleRequests,
      budgetChangeP50Ms: budget.latency.p50,
      budgetChangeP99Ms: budget.latency.p99,
    },
  };
}
