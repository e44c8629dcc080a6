/**
 * Section 2: CPU time per change of ONE key in a 10,000-key prefix, in two shapes: 100 folders of 100 keys
 * with ~60-byte JSON values (a service-config tree), and 10,000 keys in one folder with ~10-byte JSON
 * values (a flat prefix, where one folder of the tree holds every key).
 *
 * The dev server runs in a child process, so this process's CPU (process.cpuUsage: user + system, GC
 * included) is the client side only. Each change is a `kv.put` in the child over IPC, awaited until the
 * change reaches the app. The cost of that harness alone (IPC round trips, no watch) is measured the same
 * way and subtracted. Contenders alternate over several rounds; the lowest round of each is kept, the usual
 * way to strip scheduler noise from a CPU measurement on a shared machine.
 * @module
 */
import { request } from 'undici';
import { z } from 'zod';
import type * as zc from 'zod/v4/core';
import { Watcher } from '../../src/watch/watcher.js';
import { type ServerProcess, startServerProcess } from '../lib/children.js';
import {
  BARE_GET,
  CONSUL_NPM,
  HOTRELOAD,
  type RunningContender,
  type StartContender,
  startBareGet,
  startConsulNpm,
  startHotreload,
} from '../lib/contenders.js';
import { changedKeyNumber, type KeyShape, shapeKey, shapeValue } from '../lib/keys.js';
import {
  type Check,
  formatBytes,
  formatMs,
  formatRatio,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';
import { Latch } from '../lib/wait.js';

const SIZES = {
  full: { keys: 10_000, changes: 60, warmup: 15, rounds: 3 },
  smoke: { keys: 100, changes: 5, warmup: 1, rounds: 1 },
} as const;

const PREFIX = 'cpu/';
const HARNESS = 'harness only (IPC put, no watch)';

/** Targets: CPU per change against the floor and the consul npm watch, on both shapes. */
const TARGET_VS_NPM = 0.5;
const TARGET_VS_FLOOR = 1.1;
const TARGET_SCHEMA_VS_FLOOR = 1.3;
const WITH_SCHEMA = `${HOTRELOAD} + zod schema (json)`;

const NESTED_ENTRY = z.object({
  enabled: z.boolean(),
  limit: z.number(),
  owner: z.string(),
  generation: z.number(),
});

/** A schema for each shape's values, as an app would write it. */
const SCHEMAS: Record<KeyShape, zc.$ZodType> = {
  flat: z.record(z.string(), z.object({ v: z.number() })),
  nested: z.record(z.string(), z.record(z.string(), NESTED_ENTRY)),
};

/**
 * The schemas `defineConfig` users write: an object naming each folder (nested) or a record (flat), with
 * unknownKeys 'warn', defineConfig's default, so unknown keys are looked for on every change.
 */
const CONFIG_SCHEMAS: Record<KeyShape, zc.$ZodType> = {
  flat: SCHEMAS.flat,
  nested: z.object(
    Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [
        `svc-${String(i).padStart(3, '0')}`,
        // Optional: the smoke scale fills only the first folder.
        z.record(z.string(), NESTED_ENTRY).optional(),
      ]),
    ),
  ),
};
const WITH_CONFIG = `${HOTRELOAD} + zod schema, unknownKeys 'warn' (as defineConfig)`;

/** consul-hotreload with the shape's schema; values decoded as JSON, which the schema needs. */
function startWithSchema(shape: KeyShape, config = false): StartContender {
  return async (target, onChange) => {
    const watcher = new Watcher({ address: target.address, env: {}, wait: target.wait, minInterval: 0 });
    const subscription = watcher.watch(
      target.key,
      config
        ? { format: 'json', schema: CONFIG_SCHEMAS[shape], unknownKeys: 'warn' }
        : { format: 'json', schema: SCHEMAS[shape] },
    );
    subscription.on('change', (event) => {
      for (const change of event.changes) onChange(change.key);
    });
    await subscription.ready;
    return { close: () => watcher.close() };
  };
}

const SHAPES: ReadonlyArray<{ shape: KeyShape; name: string }> = [
  { shape: 'nested', name: '100 folders of 100 keys' },
  { shape: 'flat', name: 'flat, one folder' },
];

interface Measured {
  /** CPU ms of this process per change, harness included. */
  cpuMs: number;
  /** Wall ms per change. */
  wallMs: number;
}

let generation = 0;

/** Makes `changes` changes (after `warmup`), each awaited until `latch` fires; returns CPU per change. */
async function measureChanges(
  server: ServerProcess,
  shape: KeyShape,
  keys: number,
  sizes: { changes: number; warmup: number },
  latch: Latch<string> | undefined,
): Promise<Measured> {
  const change = async () => {
    generation++;
    const number = changedKeyNumber(generation, keys);
    const key = shapeKey(shape, PREFIX, number);
    const arrival = latch?.arm(`change of ${key}`, 30_000);
    await server.put(key, shapeValue(shape, number, generation));
    if (arrival !== undefined) await arrival;
  };
  for (let i = 0; i < sizes.warmup; i++) await change();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < sizes.changes; i++) await change();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000 / sizes.changes,
    wallMs: (performance.now() - started) / sizes.changes,
  };
}

async function measureContender(
  server: ServerProcess,
  shape: KeyShape,
  start: StartContender,
  keys: number,
  sizes: { changes: number; warmup: number },
): Promise<Measured> {
  const latch = new Latch<string>();
  const running: RunningContender = await start(
    { address: server.address, key: PREFIX, wait: '60s' },
    (key) => latch.fire(key),
  );
  try {
    const measured = await measureChanges(server, shape, keys, sizes, latch);
    if (latch.unexpected > 0) throw new Error(`bench: ${latch.unexpected} unexpected change events`);
    return measured;
  } finally {
    await running.close();
  }
}

interface ShapeResult {
  shape: KeyShape;
  name: string;
  bodyBytes: number;
  best: Map<string, Measured>;
}

function contenders(shape: KeyShape): Array<{ name: string; start: StartContender | undefined }> {
  return [
    { name: HARNESS, start: undefined },
    { name: BARE_GET, start: startBareGet },
    { name: CONSUL_NPM, start: startConsulNpm },
    { name: HOTRELOAD, start: startHotreload },
    { name: WITH_SCHEMA, start: startWithSchema(shape) },
    { name: WITH_CONFIG, start: startWithSchema(shape, true) },
  ];
}

async function measureShape(
  shape: KeyShape,
  name: string,
  sizes: (typeof SIZES)[Scale],
): Promise<ShapeResult> {
  const server = await startServerProcess({ seedPrefix: PREFIX, seedCount: sizes.keys, seedShape: shape });
  const best = new Map<string, Measured>();
  let bodyBytes = 0;
  try {
    const response = await request(`${server.address}/v1/kv/${PREFIX}?recurse`);
    bodyBytes = (await response.body.arrayBuffer()).byteLength;
    for (let round = 0; round < sizes.rounds; round++) {
      for (const contender of contenders(shape)) {
        const measured =
          contender.start === undefined
            ? await measureChanges(server, shape, sizes.keys, sizes, undefined)
            : await measureContender(server, shape, contender.start, sizes.keys, sizes);
        const previous = best.get(contender.name);
        if (previous === undefined || measured.cpuMs < previous.cpuMs) best.set(contender.name, measured);
      }
    }
  } finally {
    await server.close();
  }
  return { shape, name, bodyBytes, best };
}

/** Runs section 2. */
export async function runCpu(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  const tables: Table[] = [];
  const checks: Check[] = [];
  const values: Record<string, number> = {};
  for (const { shape, name } of SHAPES) {
    const { bodyBytes, best } = await measureShape(shape, name, sizes);
    const harness = best.get(HARNESS)!.cpuMs;
    const net = (contender: string) => Math.max(0, best.get(contender)!.cpuMs - harness);
    const ours = net(HOTRELOAD);
    const npm = net(CONSUL_NPM);
    const floor = net(BARE_GET);
    tables.push({
      title: `Client CPU per change: 1 changed key in a ${sizes.keys.toLocaleString('en-US')}-key prefix, ${name} (response ${formatBytes(bodyBytes)}), best of ${sizes.rounds} rounds × ${sizes.changes} changes`,
      columns: ['library', 'CPU/change', 'minus harness', 'vs consul npm', 'vs bare GET', 'wall/change'],
      rows: contenders(shape).map(({ name: contender }) => {
        const measured = best.get(contender)!;
        const isHarness = contender === HARNESS;
        return [
          contender,
          formatMs(measured.cpuMs),
          isHarness ? '' : formatMs(net(contender)),
          isHarness ? '' : formatRatio(net(contender), npm),
          isHarness ? '' : formatRatio(net(contender), floor),
          formatMs(measured.wallMs),
        ];
      }),
    });
    checks.push(
      {
        name: `${shape}: CPU per change vs consul npm watch + diff`,
        target: `<= ${TARGET_VS_NPM.toFixed(2)}x`,
        measured: `${formatRatio(ours, npm)} (${formatMs(ours)} vs ${formatMs(npm)})`,
        pass: ours <= TARGET_VS_NPM * npm,
      },
      {
        name: `${shape}: CPU per change vs bare GET + JSON.parse`,
        target: `<= ${TARGET_VS_FLOOR.toFixed(2)}x`,
        measured: `${formatRatio(ours, floor)} (${formatMs(ours)} vs ${formatMs(floor)})`,
        pass: ours <= TARGET_VS_FLOOR * floor,
      },
    );
    const schema = net(WITH_SCHEMA);
    const config = net(WITH_CONFIG);
    for (const [what, cpu] of [
      ['a zod schema', schema],
      ["a zod schema and unknownKeys 'warn'", config],
    ] as const) {
      checks.push({
        name: `${shape}: CPU per change with ${what} vs bare GET + JSON.parse`,
        target: `<= ${TARGET_SCHEMA_VS_FLOOR.toFixed(2)}x`,
        measured: `${formatRatio(cpu, floor)} (${formatMs(cpu)} vs ${formatMs(floor)})`,
        pass: cpu <= TARGET_SCHEMA_VS_FLOOR * floor,
      });
    }
    Object.assign(values, {
      [`${shape}.schemaCpuMs`]: schema,
      [`${shape}.configCpuMs`]: config,
      [`${shape}.bodyBytes`]: bodyBytes,
      [`${shape}.harnessCpuMs`]: harness,
      [`${shape}.hotreloadCpuMs`]: ours,
      [`${shape}.consulNpmCpuMs`]: npm,
      [`${shape}.bareGetCpuMs`]: floor,
      // CPU accounting can be coarse (scheduler ticks): at smoke sizes a difference may read as 0.
      [`${shape}.ratioVsNpm`]: npm > 0 ? ours / npm : Number.POSITIVE_INFINITY,
      [`${shape}.ratioVsFloor`]: floor > 0 ? ours / floor : Number.POSITIVE_INFINITY,
    });
  }
  return {
    id: 'cpu',
    title: 'CPU time per change',
    tables,
    checks,
    notes: [
      'dev server in a child process; CPU is process.cpuUsage() (user + system, GC included) of the measuring process',
      "each change: IPC put in the child, awaited until the app's callback sees the key; the harness row (IPC only) is subtracted",
      'all hold a blocking query (wait=60s) and answer each wake-up with the whole prefix; values decoded as text, except the zod rows (JSON, validated by a record schema of each shape; the defineConfig row by an object naming the 100 folders (nested) with unknownKeys warn)',
      'nested: ~60-byte JSON values in 100 folders of 100 keys; flat: ~10-byte JSON values, 10,000 keys in one folder',
    ],
    values,
  };
}
