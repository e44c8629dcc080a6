/**
 * Section 7: service discovery, next to the `consul` npm package's `watch` over `health.service` (with
 * `passing`) plus the diff its users write to learn which instances came and went.
 *
 * - Check flip to app: the dev server runs in this process; a TTL check of one instance is failed (then
 *   passed) through the server's agent, once the watch holds its blocking query, and timed until the app
 *   learns the instance left (came back).
 * - Idle cost and sockets: every app component that needs a service watches it; here `consumers`
 *   components each watch each of `services` services. Counted by the dev server over an idle window.
 * @module
 */
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient } from '../lib/consul-npm.js';
import { CONSUL_NPM, durationMs, HOTRELOAD } from '../lib/contenders.js';
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
import { type Summary, summarize } from '../lib/stats.js';
import { Latch, sleep, waitUntil } from '../lib/wait.js';

const SIZES = {
  full: {
    flips: 100,
    warmup: 10,
    instances: 5,
    services: 10,
    consumers: 3,
    wait: '1s',
    windowMs: 6000,
    many: 500,
    manyFlips: 100,
  },
  smoke: {
    flips: 4,
    warmup: 1,
    instances: 3,
    services: 2,
    consumers: 2,
    wait: '100ms',
    windowMs: 300,
    many: 40,
    manyFlips: 4,
  },
} as const;

/** Target: a flip of any one of many watched services reaches its list within this, p99. */
const TARGET_MANY_P99_MS = 1000;
/** The watcher's default budget. */
const BUDGET = 32;

/** Target: check-flip-to-app p99 at most this multiple of the consul npm watch's. */
const TARGET_P99_VS_NPM = 1.1;

const SERVICE = 'web';
const FLIPPED = 'web-0';

/** A watch of one service that says which instance IDs arrived or left. */
type StartWatch = (
  server: DevServer,
  service: string,
  wait: string,
  onChange: (ids: string) => void,
) => Promise<{ close: () => Promise<void> }>;

const hotreloadWatch: StartWatch = async (server, service, wait, onChange) => {
  const watcher = new Watcher({ address: server.address, env: {}, wait, minInterval: 0 });
  const list = watcher.service(service);
  list.on('change', (event) => {
    const ids = [...event.added, ...event.removed].map((instance) => instance.id);
    if (ids.length > 0) onChange(ids.join(','));
  });
  await list.ready;
  return { close: () => watcher.close() };
};

/** The consul package's watch, and the Set of IDs its user keeps to tell arrivals and departures. */
function npmWatch(
  consul: ReturnType<typeof consulNpmClient>,
  service: string,
  wait: string,
  onChange: (ids: string) => void,
): { ready: Promise<void>; end: () => void } {
  let known: Set<string> | undefined;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const watch = consul.watch({
    method: consul.health.service,
    // The package's typings want strings; it only tests `passing` for truthiness.
    options: { service, passing: 'true', wait } as Record<string, string>,
  });
  watch.on('change', (data: unknown) => {
    const entries = (Array.isArray(data) ? data : []) as Array<{ Service: { ID: string } }>;
    const now = new Set(entries.map((entry) => entry.Service.ID));
    const before = known;
    known = now;
    if (before === undefined) {
      resolveReady();
      return;
    }
    const moved = [...now].filter((id) => !before.has(id));
    for (const id of before) if (!now.has(id)) moved.push(id);
    if (moved.length > 0) onChange(moved.join(','));
  });
  watch.on('error', () => {});
  return { ready, end: () => watch.end() };
}

const consulNpmWatch: StartWatch = async (server, service, wait, onChange) => {
  const consul = consulNpmClient(server.address);
  const watch = npmWatch(consul, service, wait, onChange);
  await watch.ready;
  return {
    async close() {
      watch.end();
      consul.destroy();
    },
  };
};

/** A dev server with `instances` passing instances of each service. */
async function serverWith(services: readonly string[], instances: number): Promise<DevServer> {
  const server = await startDevServer({ maxConnsPerClient: 0 });
  for (const service of services) {
    for (let i = 0; i < instances; i++) {
      server.agent.registerService({
        Name: service,
        ID: `${service}-${i}`,
        Port: 8000 + i,
        Check: { CheckID: `check:${service}-${i}`, TTL: '1h', Status: 'passing' },
      });
    }
  }
  return server;
}

const heldQueries = (server: DevServer): number => server.agent.catalog.waiters.counts().held;

/** The latency of each of `sizes.flips` flips (after `sizes.warmup` unrecorded ones), on a server of its own. */
async function measureFlips(
  start: StartWatch,
  sizes: { flips: number; warmup: number; instances: number },
): Promise<number[]> {
  const server = await serverWith([SERVICE], sizes.instances);
  const latch = new Latch<string>();
  const running = await start(server, SERVICE, '5m', (ids) => latch.fire(ids));
  const samples: number[] = [];
  try {
    for (let flip = 0; flip < sizes.warmup + sizes.flips; flip++) {
      await waitUntil(() => heldQueries(server) === 1, { what: 'the watch to hold its blocking query' });
      const arrival = latch.arm(`the app to see ${FLIPPED} flip`, 10_000);
      const started = performance.now();
      server.agent.runner.updateTtl(
        `check:${FLIPPED}`,
        flip % 2 === 0 ? 'critical' : 'passing',
        `flip ${flip}`,
      );
      const { at, value } = await arrival;
      if (value !== FLIPPED) throw new Error(`bench: expected ${FLIPPED} to move, got ${value}`);
      if (flip >= sizes.warmup) samples.push(at - started);
    }
    if (latch.unexpected > 0) throw new Error(`bench: ${latch.unexpected} unexpected change events`);
  } finally {
    await running.close();
    await server.close();
  }
  return samples;
}

/**
 * Both watches' flips, each in two halves run in the order ours, theirs, theirs, ours. Both share this
 * process with the dev server, whose code the first runs warm up for the later ones: in a fixed order the
 * watch measured first meets a colder JIT and carries a tail the other does not.
 */
async function measureBothFlips(sizes: {
  flips: number;
  warmup: number;
  instances: number;
}): Promise<{ ours: Summary; theirs: Summary }> {
  const half = { ...sizes, flips: Math.ceil(sizes.flips / 2) };
  const ours: number[] = [];
  const theirs: number[] = [];
  const order: Array<[StartWatch, number[]]> = [
    [hotreloadWatch, ours],
    [consulNpmWatch, theirs],
    [consulNpmWatch, theirs],
    [hotreloadWatch, ours],
  ];
  for (const [start, samples] of order) samples.push(...(await measureFlips(start, half)));
  return { ours: summarize(ours), theirs: summarize(theirs) };
}

interface IdleCost {
  connections: number;
  idleRequests: number;
}

/** Opens every consumer's watches of `services` on `server`; resolves once all have answered. */
type OpenWatches = (
  server: DevServer,
  services: readonly string[],
  sizes: (typeof SIZES)[Scale],
) => Promise<() => Promise<void>>;

/** One Watcher per process: each component calls watcher.service(), and identical queries are shared. */
const openHotreload: OpenWatches = async (server, services, sizes) => {
  const watcher = new Watcher({ address: server.address, env: {}, wait: sizes.wait, minInterval: 0 });
  const lists = services.flatMap((service) =>
    Array.from({ length: sizes.consumers }, () => watcher.service(service)),
  );
  await Promise.all(lists.map((list) => list.ready));
  return () => watcher.close();
};

/** One consul client per process, one watch per component and service, as the package is used. */
const openConsulNpm: OpenWatches = async (server, services, sizes) => {
  const consul = consulNpmClient(server.address);
  const watches = services.flatMap((service) =>
    Array.from({ length: sizes.consumers }, () => npmWatch(consul, service, sizes.wait, () => {})),
  );
  await Promise.all(watches.map((watch) => watch.ready));
  return async () => {
    for (const watch of watches) watch.end();
    consul.destroy();
  };
};

/** Every consumer watches every service; then the server counts sockets and requests while idle. */
async function measureIdle(open: OpenWatches, sizes: (typeof SIZES)[Scale]): Promise<IdleCost> {
  const services = Array.from({ length: sizes.services }, (_, i) => `svc-${i}`);
  const server = await serverWith(services, 2);
  try {
    const close = await open(server, services, sizes);
    try {
      // Let the first answers' follow-up blocking queries go out before counting.
      await sleep(Math.min(200, sizes.windowMs));
      const before = server.stats().requests;
      let connections = server.stats().connections;
      const end = performance.now() + sizes.windowMs;
      while (performance.now() < end) {
        await sleep(Math.min(100, sizes.windowMs));
        connections = Math.max(connections, server.stats().connections);
      }
      return { connections, idleRequests: server.stats().requests - before };
    } finally {
      await close();
    }
  } finally {
    await server.close();
  }
}

interface ManyServices {
  flips: Summary;
  maxConnections: number;
  idleRequests: number;
}

/**
 * `many` services watched by one Watcher with the default budget: the sockets the server sees, flips of
 * services spread over the whole range (most served by the shared watch), and the idle request count.
 */
async function measureMany(sizes: (typeof SIZES)[Scale]): Promise<ManyServices> {
  const services = Array.from({ length: sizes.many }, (_, i) => `svc-${i}`);
  const server = await serverWith(services, 1);
  const watcher = new Watcher({ address: server.address, env: {}, wait: sizes.wait, minInterval: 0 });
  try {
    const lists = services.map((service) => watcher.service(service));
    await Promise.all(lists.map((list) => list.ready));
    let maxConnections = server.stats().connections;
    const samples: number[] = [];
    for (let flip = 0; flip < sizes.manyFlips; flip++) {
      // Every 7th service, wrapping: both the lists with a query of their own and the shared ones.
      const n = (flip * 7) % sizes.many;
      const list = lists[n]!;
      const status = list.instances.length > 0 ? 'critical' : 'passing';
      const moved = new Promise<number>((resolve) => list.once('change', () => resolve(performance.now())));
      const started = performance.now();
      server.agent.runner.updateTtl(`check:svc-${n}-0`, status, `flip ${flip}`);
      samples.push((await moved) - started);
      maxConnections = Math.max(maxConnections, server.stats().connections);
    }
    await sleep(Math.min(200, sizes.windowMs));
    const before = server.stats().requests;
    const end = performance.now() + sizes.windowMs;
    while (performance.now() < end) {
      await sleep(Math.min(100, sizes.windowMs));
      maxConnections = Math.max(maxConnections, server.stats().connections);
    }
    return { flips: summarize(samples), maxConnections, idleRequests: server.stats().requests - before };
  } finally {
    await watcher.close();
    await server.close();
  }
}

/** Runs section 7. */
export async function runDiscovery(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  // One unrecorded pass each first: both share this process with the dev server (JIT warm-up).
  for (const start of [hotreloadWatch, consulNpmWatch]) await measureFlips(start, { ...sizes, flips: 2 });
  const { ours, theirs } = await measureBothFlips(sizes);
  const ourIdle = await measureIdle(openHotreload, sizes);
  const theirIdle = await measureIdle(openConsulNpm, sizes);
  const many = await measureMany(sizes);
  const perMinute = (requests: number) => (requests * 60_000) / sizes.windowMs;
  const watches = sizes.services * sizes.consumers;
  // Past the budget every list is on the shared watch: its two blocking queries.
  const blockingQueries = sizes.many > BUDGET ? 2 : sizes.many;
  const manyIdleBudget = blockingQueries * (Math.ceil(sizes.windowMs / durationMs(sizes.wait)) + 1);
  // Each distinct query asks about once per wait (plus the server's stagger); +1 each for a window edge.
  const idleBudget = sizes.services * (Math.ceil(sizes.windowMs / durationMs(sizes.wait)) + 1);

  const flipTable: Table = {
    title: `TTL check flip (critical, then passing again) → the app learns which instance moved; ${sizes.flips} flips in two halves (ours, npm, npm, ours; ${sizes.warmup} warm-up each), ${sizes.instances} instances`,
    columns: ['library', 'p50', 'p99', 'mean', 'p50 vs npm', 'p99 vs npm'],
    rows: [
      [
        HOTRELOAD,
        formatMs(ours.p50),
        formatMs(ours.p99),
        formatMs(ours.mean),
        formatRatio(ours.p50, theirs.p50),
        formatRatio(ours.p99, theirs.p99),
      ],
      [
        `${CONSUL_NPM} (health.service, passing)`,
        formatMs(theirs.p50),
        formatMs(theirs.p99),
        formatMs(theirs.mean),
        '1.00x',
        '1.00x',
      ],
    ],
  };
  const idleTable: Table = {
    title: `${sizes.consumers} components each watching ${sizes.services} services (${watches} watches), idle for ${formatMs(sizes.windowMs)} (wait=${sizes.wait})`,
    columns: ['library', 'sockets', 'idle requests', 'requests/min'],
    rows: [
      [
        `${HOTRELOAD} (one Watcher)`,
        formatCount(ourIdle.connections),
        formatCount(ourIdle.idleRequests),
        formatRate(perMinute(ourIdle.idleRequests)),
      ],
      [
        `${CONSUL_NPM} (one watch each)`,
        formatCount(theirIdle.connections),
        formatCount(theirIdle.idleRequests),
        formatRate(perMinute(theirIdle.idleRequests)),
      ],
    ],
  };
  const manyTable: Table = {
    title: `${formatCount(sizes.many)} services watched by one Watcher (default maxBlockingQueries ${BUDGET}); ${sizes.manyFlips} flips spread over them`,
    columns: [
      'library',
      'max sockets',
      'flip p50',
      'flip p99',
      `idle requests in ${formatMs(sizes.windowMs)}`,
    ],
    rows: [
      [
        HOTRELOAD,
        formatCount(many.maxConnections),
        formatMs(many.flips.p50),
        formatMs(many.flips.p99),
        formatCount(many.idleRequests),
      ],
    ],
  };
  const checks: Check[] = [
    {
      name: 'check flip to app p99 vs consul npm watch',
      target: `<= ${TARGET_P99_VS_NPM.toFixed(2)}x`,
      measured: `${formatRatio(ours.p99, theirs.p99)} (${formatMs(ours.p99)} vs ${formatMs(theirs.p99)})`,
      pass: ours.p99 <= TARGET_P99_VS_NPM * theirs.p99,
    },
    {
      name: `sockets for ${watches} service watches of ${sizes.services} services`,
      target: `<= ${sizes.services} (one per distinct query)`,
      measured: `${ourIdle.connections} (consul npm: ${theirIdle.connections})`,
      pass: ourIdle.connections <= sizes.services,
    },
    {
      name: `idle requests of ${watches} service watches`,
      target: `<= ${idleBudget} in ${formatMs(sizes.windowMs)} (one per wait per service)`,
      measured: `${ourIdle.idleRequests} (consul npm: ${theirIdle.idleRequests})`,
      pass: ourIdle.idleRequests <= idleBudget,
    },
    {
      name: `sockets for ${formatCount(sizes.many)} watched services`,
      target: `<= ${BUDGET} (maxBlockingQueries)`,
      measured: String(many.maxConnections),
      pass: many.maxConnections <= BUDGET,
    },
    {
      name: `flip of one of ${formatCount(sizes.many)} services to its list, p99`,
      target: `<= ${formatMs(TARGET_MANY_P99_MS)}`,
      measured: formatMs(many.flips.p99),
      pass: many.flips.p99 <= TARGET_MANY_P99_MS,
    },
    {
      name: `idle requests of ${formatCount(sizes.many)} watched services`,
      target: `<= ${manyIdleBudget} (two watches' worth)`,
      measured: String(many.idleRequests),
      pass: many.idleRequests <= manyIdleBudget,
    },
  ];
  return {
    id: 'discovery',
    title: 'Service discovery: check flips, idle cost and sockets',
    tables: [flipTable, idleTable, manyTable],
    checks,
    notes: [
      "dev server in this process; a flip is a direct TTL update through the server's agent, made while the watch holds its blocking query",
      'both watches ask for ?passing, so a failing instance leaves the answer; the npm side includes the Set of IDs its user keeps to see which instance moved',
      `flip latency with wait=5m and minInterval 0; idle cost with wait=${sizes.wait} for both, so the rate shows in a short window`,
      `with ${formatCount(sizes.many)} services (past maxBlockingQueries ${BUDGET}) every list shares one watch of /v1/health/state/any and /v1/catalog/services that reads only the services that changed; max sockets includes idle keep-alive sockets of the first reads`,
    ],
    values: {
      'flip.hotreload.p50': ours.p50,
      'flip.hotreload.p99': ours.p99,
      'flip.consulNpm.p50': theirs.p50,
      'flip.consulNpm.p99': theirs.p99,
      hotreloadSockets: ourIdle.connections,
      consulNpmSockets: theirIdle.connections,
      hotreloadIdleRequests: ourIdle.idleRequests,
      consulNpmIdleRequests: theirIdle.idleRequests,
      windowMs: sizes.windowMs,
      manySockets: many.maxConnections,
      'many.flip.p99': many.flips.p99,
      manyIdleRequests: many.idleRequests,
    },
  };
}
