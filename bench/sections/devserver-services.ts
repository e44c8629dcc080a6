/**
 * Section 6, services case: one dev server with 2,000 instances across 200 services, 2,000 running checks
 * (half TTL, half HTTP against a local target) and 1,000 held `/v1/health/service/<name>` blocking queries
 * (5 per service). Each flip fails one service's TTL check over HTTP; it must wake exactly the 5 queries of
 * that service (counted by the server and by the responses that arrive), and the time from sending the PUT
 * to each woken response arriving is the wake latency. Woken queries are held again at their new index
 * before the next flip, so every flip meets all 1,000 held.
 * @module
 */
import { Client } from 'undici';
import { type ServerProcess, startServerProcess } from '../lib/children.js';
import {
  benchServiceName,
  benchTtlCheckId,
  hasTtlCheck,
  type ServiceBenchLayout,
} from '../lib/devserver-services.js';
import { type Check, formatCount, formatMs, type Scale, type Table } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { sleep, waitUntil } from '../lib/wait.js';

const SIZES = {
  full: { services: 200, instancesPerService: 10, queriesPerService: 5, flips: 200, httpIntervalMs: 15_000 },
  smoke: { services: 4, instancesPerService: 2, queriesPerService: 2, flips: 4, httpIntervalMs: 1_000 },
} as const;

const TARGET_P99_MS = 5;
/** Quiet time after each flip: lets a wrongly woken query answer before counting, and spaces flips out. */
const IDLE_AFTER_FLIP_MS = 20;

/** What the services case adds to the section. */
export interface ServiceWakeResult {
  readonly tables: readonly Table[];
  readonly checks: readonly Check[];
  readonly notes: readonly string[];
  readonly values: Readonly<Record<string, number>>;
}

/** One held health query, re-armed on the same connection after each answer. */
class HealthQuery {
  readonly service: number;
  readonly #client: Client;
  readonly #responses: { count: number };
  /** When the current request's answer arrived (performance.now()) and its X-Consul-Index. */
  arrived: Promise<{ at: number; index: number }> = Promise.resolve({ at: 0, index: 0 });
  /** The index of the last answer, once the current request has one (undefined while held). */
  answeredAt: number | undefined;

  constructor(address: string, service: number, responses: { count: number }) {
    this.service = service;
    this.#client = new Client(address, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
    this.#responses = responses;
  }

  hold(index: number): void {
    this.answeredAt = undefined;
    const path = `/v1/health/service/${benchServiceName(this.service)}?index=${index}&wait=120s`;
    this.arrived = this.#client.request({ path, method: 'GET' }).then(async (response) => {
      const at = performance.now();
      this.#responses.count++;
      await response.body.dump();
      const answered = Number(response.headers['x-consul-index']);
      this.answeredAt = answered;
      return { at, index: answered };
    });
    // A query cut by closing at the end is not a result.
    this.arrived.catch(() => {});
  }

  close(): Promise<void> {
    return this.#client.destroy();
  }
}

/** The s-th flipped service: a stride that visits services far apart, each once when flips ≤ services. */
function flippedService(flip: number, services: number): number {
  return (flip * 7919 + 13) % services;
}

async function heldHealth(server: ServerProcess): Promise<number> {
  return (await server.stats()).blockingHeldByKind.health;
}

/** Runs the services case of section 6. */
export async function runServiceWake(scale: Scale): Promise<ServiceWakeResult> {
  const sizes = SIZES[scale];
  const layout: ServiceBenchLayout = {
    count: sizes.services,
    instancesPerService: sizes.instancesPerService,
    httpIntervalMs: sizes.httpIntervalMs,
  };
  const instances = sizes.services * sizes.instancesPerService;
  const ttlPerService = Array.from({ length: sizes.instancesPerService }, (_, i) => i).filter((i) =>
    hasTtlCheck(layout, i),
  ).length;
  const total = sizes.services * sizes.queriesPerService;
  const started = performance.now();
  const server = await startServerProcess({ jitter: false, services: layout });
  const startMs = performance.now() - started;
  const writer = new Client(server.address, { pipelining: 1 });
  const responses = { count: 0 };
  const queries: HealthQuery[] = [];
  const latencies: number[] = [];
  const wokenPerFlip: number[] = [];
  const respondedPerFlip: number[] = [];
  const strangersPerFlip: number[] = [];
  let checksTotal = 0;
  let settleMs = 0;
  let openMs = 0;
  try {
    // Every HTTP check's first run sets its Output (a change that wakes its service): wait for them all.
    const settling = performance.now();
    await waitUntil(
      async () => {
        const settled = await server.checksSettled();
        return settled.settled === settled.http;
      },
      { what: 'every HTTP check run once', intervalMs: 100, timeoutMs: sizes.httpIntervalMs + 30_000 },
    );
    settleMs = performance.now() - settling;
    checksTotal = (await server.checksSettled()).http + sizes.services * ttlPerService;
    const index = await server.index();
    const opening = performance.now();
    for (let s = 0; s < sizes.services; s++) {
      for (let q = 0; q < sizes.queriesPerService; q++) {
        const query = new HealthQuery(server.address, s, responses);
        query.hold(index);
        queries.push(query);
      }
    }
    await waitUntil(async () => (await heldHealth(server)) === total, {
      what: `${total} health queries held`,
      intervalMs: 10,
      timeoutMs: 30_000,
    });
    openMs = performance.now() - opening;

    const failing = new Set<number>();
    for (let flip = 0; flip < sizes.flips; flip++) {
      const service = flippedService(flip, sizes.services);
      const woken = queries.filter((query) => query.service === service);
      const before = await server.stats();
      const respondedBefore = responses.count;
      const verb = failing.has(service) ? 'pass' : 'fail';
      if (verb === 'fail') failing.add(service);
      else failing.delete(service);
      const sent = performance.now();
      const put = await writer.request({
        path: `/v1/agent/check/${verb}/${benchTtlCheckId(service)}`,
        method: 'PUT',
      });
      await put.body.dump();
      if (put.statusCode !== 200) throw new Error(`bench: check ${verb} answered ${put.statusCode}`);
      const arrivals = await Promise.all(woken.map((query) => query.arrived));
      for (const { at } of arrivals) latencies.push(at - sent);
      // Give any query woken by mistake time to answer before counting.
      await sleep(IDLE_AFTER_FLIP_MS);
      const after = await server.stats();
      wokenPerFlip.push(after.wakeupsByKind.health - before.wakeupsByKind.health);
      respondedPerFlip.push(responses.count - respondedBefore);
      strangersPerFlip.push(total - woken.length - after.blockingHeldByKind.health);
      // The woken queries, and any woken by mistake, are held again at the index they got.
      for (const query of queries) if (query.answeredAt !== undefined) query.hold(query.answeredAt);
      await waitUntil(async () => (await heldHealth(server)) === total, {
        what: `${total} health queries held again`,
        intervalMs: 2,
        timeoutMs: 30_000,
      });
    }
  } finally {
    await Promise.all([writer.destroy(), ...queries.map((query) => query.close())]);
    await server.close();
  }
  const wake = summarize(latencies);
  const per = sizes.queriesPerService;
  const exact =
    wokenPerFlip.every((count) => count === per) &&
    respondedPerFlip.every((count) => count === per) &&
    strangersPerFlip.every((count) => count === 0);
  const range = (counts: readonly number[]) => `${Math.min(...counts)}–${Math.max(...counts)}`;
  const table: Table = {
    title: `${formatCount(instances)} instances across ${formatCount(sizes.services)} services, ${formatCount(checksTotal)} running checks, ${formatCount(total)} held health queries (${per} per service); ${sizes.flips} check flips`,
    columns: ['measure', 'value'],
    rows: [
      ['registered instances / services', `${formatCount(instances)} / ${formatCount(sizes.services)}`],
      [
        'running checks (TTL / HTTP)',
        `${formatCount(sizes.services * ttlPerService)} / ${formatCount(checksTotal - sizes.services * ttlPerService)}`,
      ],
      ['HTTP check interval', formatMs(sizes.httpIntervalMs)],
      ['server start with every registration', formatMs(startMs)],
      ['until every HTTP check had run once', formatMs(settleMs)],
      ['health queries held', formatCount(total)],
      ['time to open and hold them all', formatMs(openMs)],
      ['queries woken per flip (server count)', range(wokenPerFlip)],
      ['responses per flip (client count)', range(respondedPerFlip)],
      ['wake latency p50 (PUT sent → woken response)', formatMs(wake.p50)],
      ['wake latency p99', formatMs(wake.p99)],
      ['wake latency max', formatMs(wake.max)],
    ],
  };
  return {
    tables: [table],
    checks: [
      {
        name: 'a check flip wakes exactly the health queries of its service',
        target: `${per} per flip, none elsewhere`,
        measured: `server ${range(wokenPerFlip)}, client ${range(respondedPerFlip)}, other services ${range(strangersPerFlip)}`,
        pass: exact,
      },
      {
        name: `check-flip wake latency p99 with ${formatCount(total)} health queries and ${formatCount(checksTotal)} checks`,
        target: `< ${TARGET_P99_MS} ms`,
        measured: formatMs(wake.p99),
        pass: wake.p99 < TARGET_P99_MS,
      },
    ],
    notes: [
      `services case: each flip is PUT /v1/agent/check/fail/<TTL check> on one service; woken queries are held again at their new index before the next flip (${IDLE_AFTER_FLIP_MS} ms after each), so every flip meets all ${formatCount(total)} held`,
      'services case: HTTP checks probe a constant-answer target in the server process; after their first run a probe changes nothing, so it wakes nobody (consul-semantics §S3.2)',
    ],
    values: {
      serviceInstances: instances,
      serviceChecks: checksTotal,
      healthQueries: total,
      serviceWakeP50Ms: wake.p50,
      serviceWakeP99Ms: wake.p99,
      serviceWokenMin: Math.min(...wokenPerFlip),
      serviceWokenMax: Math.max(...wokenPerFlip),
    },
  };
}
