import { describe, expect, it } from 'vitest';
import type { SectionResult } from '../../../bench/lib/report.js';
import { renderSection } from '../../../bench/lib/report.js';
import { SECTIONS } from '../../../bench/run.js';

/** The shape every section must have, whatever the numbers. */
function expectWellFormed(result: SectionResult, id: string): void {
  expect(result.id).toBe(id);
  expect(result.title).not.toBe('');
  expect(result.tables.length).toBeGreaterThan(0);
  for (const table of result.tables) {
    expect(table.rows.length).toBeGreaterThan(0);
    for (const row of table.rows) expect(row).toHaveLength(table.columns.length);
  }
  for (const check of result.checks) {
    expect(typeof check.pass).toBe('boolean');
    expect(check.measured).not.toBe('');
  }
  for (const [name, value] of Object.entries(result.values)) {
    expect([name, Number.isNaN(value)]).toEqual([name, false]);
  }
  expect(renderSection(result, 1)).toContain(result.title);
}

// Each section at its smallest size: proves the bench code runs and closes everything, in seconds.
// Timings are not asserted; speed belongs to `npm run bench`.
describe('bench sections (smoke scale)', () => {
  const byId = new Map(SECTIONS.map((section) => [section.id, section]));

  it('measures write-to-event latency for both libraries on a key and a prefix', async () => {
    const result = await byId.get('latency')!.run('smoke');
    expectWellFormed(result, 'latency');
    expect(result.tables[0]!.rows.map((row) => row.slice(0, 2))).toEqual([
      ['single key', 'consul-hotreload'],
      ['single key', 'consul npm watch + diff'],
      ['prefix of 10 keys', 'consul-hotreload'],
      ['prefix of 10 keys', 'consul npm watch + diff'],
    ]);
  });

  it('measures client CPU per change against consul npm and the bare GET floor', async () => {
    const result = await byId.get('cpu')!.run('smoke');
    expectWellFormed(result, 'cpu');
    expect(result.checks.map((check) => check.name)).toEqual([
      'nested: CPU per change vs consul npm watch + diff',
      'nested: CPU per change vs bare GET + JSON.parse',
      'nested: CPU per change with a zod schema vs bare GET + JSON.parse',
      "nested: CPU per change with a zod schema and unknownKeys 'warn' vs bare GET + JSON.parse",
      'flat: CPU per change vs consul npm watch + diff',
      'flat: CPU per change vs bare GET + JSON.parse',
      'flat: CPU per change with a zod schema vs bare GET + JSON.parse',
      "flat: CPU per change with a zod schema and unknownKeys 'warn' vs bare GET + JSON.parse",
    ]);
  });

  it('counts one connection for consul-hotreload and one per watch for consul npm', async () => {
    const result = await byId.get('connections')!.run('smoke');
    expectWellFormed(result, 'connections');
    expect([result.values.hotreloadConnections, result.values.consulNpmConnections]).toEqual([1, 20]);
  });

  it('counts requests while idle and during an outage for both libraries', async () => {
    const result = await byId.get('requests')!.run('smoke');
    expectWellFormed(result, 'requests');
    expect(result.values.hotreloadOutageRequests).toBeGreaterThan(0);
    expect(result.values.consulNpmOutageRequests).toBeGreaterThan(0);
  });

  it('measures retained memory of each holder in its own child process', async () => {
    const result = await byId.get('heap')!.run('smoke');
    expectWellFormed(result, 'heap');
    expect(result.tables[0]!.rows.map((row) => row[0])).toEqual([
      'JSON.parse of the body, kept (reference)',
      'consul npm watch + diff (entries + Map kept)',
      'consul-hotreload',
      'consul-hotreload (decodeCacheSize: 0)',
    ]);
  });

  it('wakes exactly the queries on the written key of the dev server', async () => {
    const result = await byId.get('devserver')!.run('smoke');
    expectWellFormed(result, 'devserver');
    expect(result.values.queries).toBe(50);
    expect(result.checks[0]).toMatchObject({
      name: 'a write wakes exactly the queries on its key',
      pass: true,
    });
    // The services case: 4 services × 2 instances, 2 held health queries each, 4 check flips.
    expect(result.values).toMatchObject({ serviceInstances: 8, serviceChecks: 8, healthQueries: 8 });
    // The page-open case: the live feed was read throughout and heard the seed write and the one round's.
    expect(result.tables[1]!.rows.map((row) => row[0])).toContain(
      'event-loop block per write, with the page open (p50)',
    );
    expect(result.values.pageOpenKvEvents).toBe(2);
    expect(result.checks.find((check) => check.name.endsWith('with the web page open'))).toMatchObject({
      target: '<= 1.5x the block without it, every write on the page',
    });
    expect(result.notes.some((note) => note.startsWith('with the page open and 20 held queries'))).toBe(true);
    expect(result.checks.find((check) => check.name.startsWith('a check flip wakes'))).toMatchObject({
      measured: 'server 2–2, client 2–2, other services 0–0',
      pass: true,
    });
  });

  it('times a check flip to the app, and counts sockets and idle requests of service watches', async () => {
    const result = await byId.get('discovery')!.run('smoke');
    expectWellFormed(result, 'discovery');
    // Two components on each of two services: one socket per distinct query here, one per watch there.
    expect([result.values.hotreloadSockets, result.values.consulNpmSockets]).toEqual([2, 4]);
    expect(result.checks.map((check) => check.name)).toEqual([
      'check flip to app p99 vs consul npm watch',
      'sockets for 4 service watches of 2 services',
      'idle requests of 4 service watches',
      'sockets for 40 watched services',
      'flip of one of 40 services to its list, p99',
      'idle requests of 40 watched services',
    ]);
    // Past the budget of 32, every list is on the shared watch.
    expect(result.values.manySockets).toBeLessThanOrEqual(32);
  });
});
