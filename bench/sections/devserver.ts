/**
 * Section 6: the dev server holding 10,000 concurrent blocking queries (10 per key over 1,000 keys), the
 * cost of one write waking prefix queries when the store holds 100,000 unrelated tombstones, and the
 * services case (devserver-services.ts): check flips waking held health queries.
 *
 * The server runs in a child process (its file descriptors and memory are its own); this process opens
 * one undici Client (one HTTP/1.1 connection) per query. Then single writes over HTTP wake queries: each
 * must wake exactly the 10 queries on its key (counted by the server and by the responses that arrive),
 * and the time from sending the PUT to each woken response arriving is the wake latency.
 * @module
 */
import { execSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client, Pool } from 'undici';
import { startDevServer } from '../../src/devserver/server.js';
import { type ServerProcess, startServerProcess } from '../lib/children.js';
import { benchKey, changedKeyNumber } from '../lib/keys.js';
import {
  type Check,
  formatBytes,
  formatCount,
  formatMs,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { sleep, waitUntil } from '../lib/wait.js';
import { runServiceWake } from './devserver-services.js';

const SIZES = {
  full: { keys: 1000, perKey: 10, writes: 200, batch: 500 },
  smoke: { keys: 5, perKey: 10, writes: 2, batch: 50 },
} as const;

const TOMBSTONE_SIZES = {
  full: { tombstones: 100_000, queries: 1_000, rounds: 5 },
  smoke: { tombstones: 2_000, queries: 20, rounds: 1 },
} as const;
/** One write waking prefix queries may cost at most this much more with the tombstones than without. */
const TARGET_TOMBSTONE_RATIO = 1.5;

const PREFIX = 'wake/';
const TARGET_P99_MS = 5;
/** Quiet time after each write: lets a wrongly woken query answer before counting, and spaces writes out. */
const IDLE_BETWEEN_WRITES_MS = 20;
/** File descriptors this process keeps for everything besides the queries. */
const SPARE_FDS = 256;

interface Query {
  readonly key: number;
  readonly client: Client;
  /** When the response arrived (performance.now()), once it has. */
  readonly arrived: Promise<number>;
}

/**
 * A full garbage collection in this process. The 10,000 clients just opened are still in the young
 * generation: without it, the first scavenge copies them all (several MB, a pause of many ms) in the middle
 * of a timed write, a cost of this process's setup rather than of the server's wake. The server child
 * collects in its `memory` op.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function openFileLimit(): number {
  try {
    return Number(execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim());
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function holdQuery(address: string, key: number, index: number, responses: { count: number }): Query {
  const client = new Client(address, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const path = `/v1/kv/${benchKey(PREFIX, key)}?index=${index}&wait=120s`;
  const arrived = client.request({ path, method: 'GET' }).then(async (response) => {
    const at = performance.now();
    responses.count++;
    await response.body.dump();
    return at;
  });
  // A query cut by closing at the end is not a result.
  arrived.catch(() => {});
  return { key, client, arrived };
}

/** `10 on each of 30 writes`, or the list when they differ. */
function describeCounts(counts: readonly number[]): string {
  const first = counts[0];
  if (first !== undefined && counts.every((count) => count === first)) {
    return `${first} on each of ${counts.length} writes`;
  }
  return counts.join(', ');
}

interface TombstoneWake {
  /** Median time the write holds the event loop (the PUT and every woken query's re-read), in ms. */
  readonly blockMs: number;
  /** Tombstones the woken re-reads looked at, summed over the rounds. */
  readonly visited: number;
  /** `kv` events the open web page's feed received (0 when the page was not open). */
  readonly pageKvEvents: number;
}

/** What one pass of {@link measureTombstoneWake} runs with. */
interface WakeConditions {
  /** 100,000 (full) tombstones on another prefix. */
  readonly tombstones: boolean;
  /** The web page's live feed (`/ui/api/events`) open and read throughout, as a developer's browser would. */
  readonly pageOpen: boolean;
}

/**
 * Opens the web page's live feed and reads it to the end, counting its `kv` events. Resolves once the
 * feed is open; `close()` aborts it.
 */
async function openPageFeed(
  address: string,
): Promise<{ kvEvents: () => number; close: () => Promise<void> }> {
  const abort = new AbortController();
  const response = await fetch(`${address}/ui/api/events`, { signal: abort.signal });
  if (!response.ok || response.body === null) throw new Error(`/ui/api/events answered ${response.status}`);
  let kvEvents = 0;
  let tail = '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  const drained = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      // Count `event: kv` lines, including one split across two chunks.
      const text = tail + decoder.decode(value, { stream: true });
      kvEvents += text.split('event: kv\n').length - 1;
      tail = text.slice(-'event: kv\n'.length);
    }
  })().catch(() => {});
  return {
    kvEvents: () => kvEvents,
    close: async () => {
      abort.abort();
      await drained;
    },
  };
}

/**
 * Holds `queries` blocking queries on one prefix and times `server.kv.put` to that prefix, which wakes them
 * and re-reads the prefix for each synchronously: the event-loop block a single HTTP PUT would cause. In
 * process, so the direct write can be timed alone; `maxConnsPerClient: 0` lifts the per-IP cap.
 */
async function measureTombstoneWake(
  sizes: { tombstones: number; queries: number; rounds: number },
  conditions: WakeConditions,
): Promise<TombstoneWake> {
  const server = await startDevServer({ jitter: false, maxConnsPerClient: 0 });
  const pool = new Pool(server.address, { connections: sizes.queries, pipelining: 1 });
  const blocks: number[] = [];
  let visited = 0;
  let page: Awaited<ReturnType<typeof openPageFeed>> | undefined;
  try {
    if (conditions.pageOpen) page = await openPageFeed(server.address);
    server.kv.put('watched/seed', 'v');
    if (conditions.tombstones) {
      for (let i = 0; i < sizes.tombstones; i++) server.kv.put(`gone/${i}`, 'x');
      for (let i = 0; i < sizes.tombstones; i++) server.kv.delete(`gone/${i}`);
    }
    for (let round = 0; round < sizes.rounds; round++) {
      const index = server.kv.index();
      const answers = Array.from({ length: sizes.queries }, () =>
        pool
          .request({ path: `/v1/kv/watched/?recurse&index=${index}&wait=120s`, method: 'GET' })
          .then((response) => response.body.dump()),
      );
      await waitUntil(() => server.stats().blockingHeld === sizes.queries, {
        what: `${sizes.queries} prefix queries held`,
        intervalMs: 5,
        timeoutMs: 30_000,
      });
      const before = server.stats().tombstonesVisited;
      const start = performance.now();
      server.kv.put('watched/seed', `round-${round}`);
      blocks.push(performance.now() - start);
      visited += server.stats().tombstonesVisited - before;
      await Promise.all(answers);
    }
    const feed = page;
    if (feed !== undefined) {
      // The seed write and each round's write reach the page as one `kv` event each.
      await waitUntil(() => feed.kvEvents() >= sizes.rounds + 1, {
        what: `${sizes.rounds + 1} kv events on the open page`,
        intervalMs: 5,
      });
    }
  } finally {
    await page?.close();
    await pool.destroy();
    await server.close();
  }
  return { blockMs: summarize(blocks).p50, visited, pageKvEvents: page?.kvEvents() ?? 0 };
}

/** Runs section 6. */
export async function runDevServer(scale: Scale): Promise<SectionResult> {
  const held = await runHeldQueries(scale);
  const sizes = TOMBSTONE_SIZES[scale];
  // A first pass warms up the code paths, so neither measured pass pays for JIT compilation.
  await measureTombstoneWake({ ...sizes, rounds: 1 }, { tombstones: false, pageOpen: true });
  const without = await measureTombstoneWake(sizes, { tombstones: false, pageOpen: false });
  const withStones = await measureTombstoneWake(sizes, { tombstones: true, pageOpen: false });
  const withPage = await measureTombstoneWake(sizes, { tombstones: false, pageOpen: true });
  const services = await runServiceWake(scale);
  const ratio = withStones.blockMs / Math.max(without.blockMs, 1e-3);
  const pageRatio = withPage.blockMs / Math.max(without.blockMs, 1e-3);
  const pageHeardEvery = withPage.pageKvEvents === sizes.rounds + 1;
  const table: Table = {
    title: `One write waking ${formatCount(sizes.queries)} prefix queries, with and without ${formatCount(sizes.tombstones)} tombstones on another prefix, and with the web page open`,
    columns: ['measure', 'value'],
    rows: [
      ['event-loop block per write, no tombstones (p50)', formatMs(without.blockMs)],
      [
        `event-loop block per write, ${formatCount(sizes.tombstones)} tombstones (p50)`,
        formatMs(withStones.blockMs),
      ],
      ['event-loop block per write, with the page open (p50)', formatMs(withPage.blockMs)],
      ['tombstones visited by the woken re-reads', formatCount(withStones.visited)],
      ['kv events the open page received', formatCount(withPage.pageKvEvents)],
    ],
  };
  const pageVerdict = pageRatio <= TARGET_TOMBSTONE_RATIO && pageHeardEvery ? 'within' : 'NOT within';
  return {
    ...held,
    title: 'Dev server: many held blocking queries, tombstones, and services',
    tables: [...held.tables, table, ...services.tables],
    checks: [
      ...held.checks,
      {
        name: 'woken prefix re-reads visit no tombstones of another prefix',
        target: '0',
        measured: formatCount(withStones.visited),
        pass: withStones.visited === 0,
      },
      {
        name: `write waking ${formatCount(sizes.queries)} prefix queries with ${formatCount(sizes.tombstones)} unrelated tombstones`,
        target: `<= ${TARGET_TOMBSTONE_RATIO}x the block without them`,
        measured: `${ratio.toFixed(2)}x (${formatMs(withStones.blockMs)} vs ${formatMs(without.blockMs)})`,
        pass: ratio <= TARGET_TOMBSTONE_RATIO,
      },
      {
        name: `write waking ${formatCount(sizes.queries)} prefix queries with the web page open`,
        target: `<= ${TARGET_TOMBSTONE_RATIO}x the block without it, every write on the page`,
        measured: `${pageRatio.toFixed(2)}x (${formatMs(withPage.blockMs)} vs ${formatMs(without.blockMs)}), ${withPage.pageKvEvents} of ${sizes.rounds + 1} writes on the page`,
        pass: pageRatio <= TARGET_TOMBSTONE_RATIO && pageHeardEvery,
      },
      ...services.checks,
    ],
    notes: [
      ...held.notes,
      'tombstone case: in process (the direct kv.put runs the wake-ups synchronously, so timing it is the event-loop block); median of the rounds',
      "page-open case: the same, with `/ui/api/events` (the web page's live feed) open and read throughout, so each write also builds and sends its `kv` event",
      `with the page open and ${formatCount(sizes.queries)} held queries the write's block is ${pageVerdict} its target (${pageRatio.toFixed(2)}x, target <= ${TARGET_TOMBSTONE_RATIO}x)`,
      ...services.notes,
    ],
    values: {
      ...held.values,
      tombstoneWakeBlockMs: withStones.blockMs,
      noTombstoneWakeBlockMs: without.blockMs,
      tombstonesVisited: withStones.visited,
      pageOpenWakeBlockMs: withPage.blockMs,
      pageOpenKvEvents: withPage.pageKvEvents,
      ...services.values,
    },
  };
}

async function runHeldQueries(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  const notes: string[] = [];
  let keys: number = sizes.keys;
  const limit = openFileLimit();
  if (keys * sizes.perKey + SPARE_FDS > limit) {
    keys = Math.max(1, Math.floor((limit - SPARE_FDS) / sizes.perKey));
    notes.push(`open-file limit ${limit}: scaled down to ${keys * sizes.perKey} queries`);
  }
  const total = keys * sizes.perKey;
  const server: ServerProcess = await startServerProcess({
    seedPrefix: PREFIX,
    seedCount: keys,
    jitter: false,
  });
  const queries: Query[] = [];
  const writer = new Client(server.address, { pipelining: 1 });
  const responses = { count: 0 };
  const latencies: number[] = [];
  const putLatencies: number[] = [];
  const unwatchedLatencies: number[] = [];
  const wokenPerWrite: number[] = [];
  const respondedPerWrite: number[] = [];
  let memoryPerQuery = { heap: 0, rss: 0 };
  let openMs = 0;
  try {
    const index = await server.index();
    const baseline = await server.memory();
    const opening = performance.now();
    for (let start = 0; start < total; start += sizes.batch) {
      const end = Math.min(total, start + sizes.batch);
      for (let q = start; q < end; q++) queries.push(holdQuery(server.address, q % keys, index, responses));
      await waitUntil(async () => (await server.stats()).blockingHeld >= end, {
        what: `${end} blocking queries held`,
        intervalMs: 10,
        timeoutMs: 30_000,
      });
    }
    openMs = performance.now() - opening;
    const held = await server.memory();
    collectGarbage();
    memoryPerQuery = {
      heap: (held.heapUsed + held.external - baseline.heapUsed - baseline.external) / total,
      rss: (held.rss - baseline.rss) / total,
    };

    /** A PUT to a key nobody watches: the loopback HTTP floor on this machine, in the same conditions. */
    const putUnwatched = async (value: string) => {
      const sent = performance.now();
      await (await writer.request({ path: '/v1/kv/unwatched', method: 'PUT', body: value })).body.dump();
      return performance.now() - sent;
    };
    // Warms the writer's connection too, so the first timed PUT does not pay a connect.
    await putUnwatched('warm-up');
    for (let write = 0; write < sizes.writes; write++) {
      unwatchedLatencies.push(await putUnwatched(`floor-${write}`));
      await sleep(IDLE_BETWEEN_WRITES_MS);
      const key = changedKeyNumber(write, keys);
      const woken = queries.filter((query) => query.key === key);
      const before = await server.stats();
      const respondedBefore = responses.count;
      const sent = performance.now();
      const put = writer
        .request({ path: `/v1/kv/${benchKey(PREFIX, key)}`, method: 'PUT', body: `write-${write}` })
        .then(async (response) => {
          const at = performance.now();
          await response.body.dump();
          return at;
        });
      const arrivals = await Promise.all(woken.map((query) => query.arrived));
      putLatencies.push((await put) - sent);
      for (const at of arrivals) latencies.push(at - sent);
      // Give any query woken by mistake time to answer before counting.
      await sleep(IDLE_BETWEEN_WRITES_MS);
      const after = await server.stats();
      wokenPerWrite.push(after.wakeups - before.wakeups);
      respondedPerWrite.push(responses.count - respondedBefore);
    }
  } finally {
    await Promise.all([writer, ...queries.map((query) => query.client)].map((client) => client.destroy()));
    await server.close();
  }
  const wake = summarize(latencies);
  const put = summarize(putLatencies);
  const unwatched = summarize(unwatchedLatencies);
  const exact = (counts: number[]) => counts.every((count) => count === sizes.perKey);
  const table: Table = {
    title: `${formatCount(total)} blocking queries held on one dev server (${sizes.perKey} per key over ${formatCount(keys)} keys); ${sizes.writes} single-key writes`,
    columns: ['measure', 'value'],
    rows: [
      ['queries held', formatCount(total)],
      ['time to open and hold them all', formatMs(openMs)],
      ['server memory per held query (heap + external)', formatBytes(memoryPerQuery.heap)],
      ['server RSS per held query', formatBytes(memoryPerQuery.rss)],
      ['queries woken per write (server count)', describeCounts(wokenPerWrite)],
      ['responses per write (client count)', describeCounts(respondedPerWrite)],
      ['wake latency p50 (PUT sent → woken response)', formatMs(wake.p50)],
      ['wake latency p99', formatMs(wake.p99)],
      ['wake latency max', formatMs(wake.max)],
      [`PUT round trip p50 / p99 (waking ${sizes.perKey})`, `${formatMs(put.p50)} / ${formatMs(put.p99)}`],
      [
        'PUT to an unwatched key p50 / p99 (loopback floor)',
        `${formatMs(unwatched.p50)} / ${formatMs(unwatched.p99)}`,
      ],
    ],
  };
  const checks: Check[] = [
    {
      name: 'a write wakes exactly the queries on its key',
      target: `${sizes.perKey} per write`,
      measured: `server ${Math.min(...wokenPerWrite)}–${Math.max(...wokenPerWrite)}, client ${Math.min(...respondedPerWrite)}–${Math.max(...respondedPerWrite)}`,
      pass: exact(wokenPerWrite) && exact(respondedPerWrite),
    },
    {
      name: `wake latency p99 with ${formatCount(total)} held`,
      target: `< ${TARGET_P99_MS} ms`,
      measured: formatMs(wake.p99),
      pass: wake.p99 < TARGET_P99_MS,
    },
  ];
  return {
    id: 'devserver',
    title: 'Dev server: many held blocking queries',
    tables: [table],
    checks,
    notes: [
      ...notes,
      'dev server in a child process (jitter off); one undici Client = one HTTP/1.1 connection per query in this process',
      'wake latency = from sending the PUT to a woken response arriving; it includes the PUT itself',
      `writes are ${IDLE_BETWEEN_WRITES_MS} ms apart, each after a PUT to an unwatched key that shows the loopback floor in the same conditions`,
      'memory per query = (server heap + external, or RSS, with all held) minus the same before any, after full GCs, divided by the count',
      "both processes collect garbage once all queries are held, before the timed writes: the setup's young objects are not copied during a write",
    ],
    values: {
      queries: total,
      wakeP50Ms: wake.p50,
      wakeP99Ms: wake.p99,
      unwatchedPutP50Ms: unwatched.p50,
      unwatchedPutP99Ms: unwatched.p99,
      memoryPerQueryBytes: memoryPerQuery.heap,
      rssPerQueryBytes: memoryPerQuery.rss,
      openMs,
    },
  };
}
