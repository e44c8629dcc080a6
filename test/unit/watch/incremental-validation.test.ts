/**
 * Incremental schema validation (validate-incremental.ts `validateChange`, used by candidate.ts) gives
 * exactly what validating the whole tree gives: a seeded random walk of flat trees and changes, checked
 * against zod on the whole tree after every batch, directly and through a Subscription. Nested schemas are
 * walked in incremental-objects.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type * as zc from 'zod/v4/core';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import type { Logger } from '../../../src/logger.js';
import { DecodeCache } from '../../../src/watch/decode.js';
import { Snapshot } from '../../../src/watch/diff.js';
import { kApply, Subscription } from '../../../src/watch/subscription.js';
import { emptyTree, TreeWriter } from '../../../src/watch/tree.js';
import { findUnknownKeys, mayKeepFolders } from '../../../src/watch/validate.js';
import { validateChange } from '../../../src/watch/validate-incremental.js';
import { seededRandom as random } from '../../helpers/random.js';

/** validateChange for a flat tree: `changed` names, of which `moved` were deleted since. */
function validateRecordChange(
  schema: zc.$ZodType,
  tree: Record<string, unknown>,
  previous: unknown,
  changed: ReadonlySet<string>,
  moved: ReadonlySet<string> = new Set(),
) {
  const changes = [...changed].map((name) => ({
    path: [name],
    existed: previous !== undefined && Object.hasOwn(previous as object, name),
    deleted: moved.has(name),
  }));
  return validateChange(schema, tree, previous, changes, { inPlace: false, owners: new WeakMap() });
}

type Gen = (next: () => number) => unknown;
const num: Gen = (next) => Math.floor(next() * 100);
const obj: Gen = (next) => (next() < 0.3 ? { v: num(next), s: 'x' } : next() < 0.1 ? {} : { v: num(next) });
const rec: Gen = (next) => ({ a: num(next) });

/** Each schema with a generator of values it mostly accepts. */
const SCHEMAS: Array<[string, zc.$ZodType, Gen]> = [
  ['record of numbers', z.record(z.string(), z.number()), num],
  ['record of objects', z.record(z.string(), z.object({ v: z.number(), s: z.string().optional() })), obj],
  ['record of objects with defaults', z.record(z.string(), z.object({ v: z.number().default(0) })), obj],
  ['record of records', z.record(z.string(), z.record(z.string(), z.number())), rec],
  [
    'record with a transform',
    z.record(
      z.string(),
      z.number().transform((n) => n * 2),
    ),
    num,
  ],
  [
    'record with a refinement',
    z.record(z.string(), z.number()).refine((r) => Object.keys(r).length < 12),
    num,
  ],
  ['object', z.object({ k0: z.number().optional(), k1: z.number().optional() }).catchall(z.number()), num],
  ['union', z.union([z.record(z.string(), z.number()), z.record(z.string(), z.string())]), num],
];

/** A random decoded value: mostly what the schema accepts, sometimes not. */
function value(next: () => number, good: Gen): unknown {
  const pick = next();
  if (pick < 0.94) return good(next);
  if (pick < 0.96) return 'text';
  if (pick < 0.98) return null;
  return { v: 'not a number' };
}

const NAMES = Array.from({ length: 14 }, (_, i) => `k${i}`);

describe('validateChange on a flat tree', () => {
  it.each(SCHEMAS)('matches whole validation of %s over 400 random batches', (_name, schema, good) => {
    const next = random(0x5eed + _name.length);
    const tree: Record<string, unknown> = {};
    let previous: unknown;
    const changed = new Set<string>();
    // Deleted since the last success: written again, such a name moves to the end of the tree.
    const moved = new Set<string>();
    let incremental = 0;
    for (let batch = 0; batch < 400; batch++) {
      const size = 1 + Math.floor(next() * 3);
      for (let i = 0; i < size; i++) {
        const name = NAMES[Math.floor(next() * NAMES.length)]!;
        if (next() < 0.2) {
          delete tree[name];
          moved.add(name);
        } else if (next() < 0.03) tree[name] = { a: value(next, good), b: value(next, good) };
        else tree[name] = value(next, good);
        changed.add(name);
      }
      const whole = z.safeParse(schema as z.ZodType, tree);
      const fast =
        previous === undefined ? undefined : validateRecordChange(schema, tree, previous, changed, moved);
      if (fast !== undefined) {
        incremental++;
        expect(whole.success).toBe(true);
        // Same value, same key order.
        expect(JSON.stringify(fast.value)).toBe(JSON.stringify(whole.data));
        expect(fast.value).toEqual(whole.data);
      }
      if (whole.success) {
        previous = whole.data;
        changed.clear();
        moved.clear();
      }
    }
    const def = (schema as zc.$ZodTypes)._zod.def;
    const walked = (def.type === 'record' || def.type === 'object') && (def.checks?.length ?? 0) === 0;
    // Plain records and objects take the incremental path often; a refined record or a union never does.
    if (walked) expect(incremental).toBeGreaterThan(20);
    else expect(incremental).toBe(0);
  });
});

describe('mayKeepFolders', () => {
  it('trusts records, objects and primitives, and nothing that can hand its input back', () => {
    expect(mayKeepFolders(z.record(z.string(), z.object({ v: z.number().optional() })))).toBe(false);
    expect(mayKeepFolders(z.object({ a: z.array(z.string()), b: z.enum(['x']).default('x') }))).toBe(false);
    expect(mayKeepFolders(z.record(z.string(), z.unknown()))).toBe(true);
    expect(mayKeepFolders(z.object({ a: z.any() }))).toBe(true);
    expect(mayKeepFolders(z.object({ a: z.number() }).transform((o) => o))).toBe(true);
    expect(mayKeepFolders(z.looseObject({ a: z.number() }))).toBe(true);
  });
});

describe('Subscription with a schema, validated change by change', () => {
  it.each(SCHEMAS)('serves what whole validation of the tree gives, for %s', async (_name, schema, good) => {
    const next = random(0xbeef + _name.length);
    const quiet = () => {};
    const logger: Required<Logger> = { debug: quiet, info: quiet, warn: quiet, error: quiet };
    const sub = new Subscription<unknown>({
      key: 'p/',
      format: 'json',
      schema,
      unknownKeys: 'ignore',
      debounce: undefined,
      startTimeoutMs: 0,
      cache: new DecodeCache(0),
      logger,
      detach: vi.fn(async () => {}),
    });
    const seen: unknown[] = [];
    sub.on('change', (event) => seen.push(event.current));
    const snapshot = new Snapshot<KVEntry>();
    const store = new Map<string, string>();
    let index = 1;
    let expected: unknown;
    for (let batch = 0; batch < 150; batch++) {
      index++;
      const size = 1 + Math.floor(next() * 3);
      for (let i = 0; i < size; i++) {
        const name = NAMES[Math.floor(next() * NAMES.length)]!;
        if (next() < 0.2) store.delete(`p/${name}`);
        else store.set(`p/${name}`, JSON.stringify(value(next, good)));
      }
      const entries = [...store].map(([key, text]) =>
        KVEntry.from({ key, value: text, flags: 0, createIndex: 1, modifyIndex: index }),
      );
      sub[kApply](snapshot.apply(entries, true), index);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const tree = Object.fromEntries([...store].map(([key, text]) => [key.slice(2), JSON.parse(text)]));
      const whole = z.safeParse(schema as z.ZodType, tree);
      if (whole.success) expected = whole.data;
      expect(sub.current).toEqual(expected);
    }
    expect(seen.length).toBeGreaterThan(0);
  });
});

/** A config-like nested schema: sections with defaults, a record of flags, a catchall object, an array. */
const NESTED = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().default(5432),
    pool: z.object({ max: z.number() }).optional(),
  }),
  features: z.record(z.string(), z.boolean()),
  limits: z.object({ max: z.number().optional() }).catchall(z.number()).default({}),
  tags: z.array(z.string()).optional(),
  checked: z
    .object({ a: z.number(), b: z.number().default(50) })
    .refine((o) => o.a < 90)
    .optional(),
});
const NESTED_KEYS: Array<[string, (next: () => number) => unknown]> = [
  ['db/host', (next) => `h${num(next)}`],
  ['db/port', num],
  ['db/pool/max', num],
  ...['a', 'b', 'c', 'd'].map((f): [string, (next: () => number) => unknown] => [
    `features/${f}`,
    (next) => next() < 0.5,
  ]),
  ['limits/max', num],
  ['limits/x', num],
  ['limits/y', num],
  ['tags', (next) => [`t${num(next)}`]],
  ['checked/a', num],
  ['checked/b', num],
];

describe('Subscription with a nested object schema, validated change by change', () => {
  it('serves what whole validation gives, also to listeners that read `current` late', async () => {
    const next = random(0xfeed);
    const { sub, store, put, remove } = rawSubscription(NESTED);
    const events: Array<{ event: { current: unknown }; expected: unknown }> = [];
    let expected: unknown;
    sub.on('change', (event) => events.push({ event, expected }));
    put({ 'db/host': '"h"', 'features/a': 'true' });
    expected = await sub.ready;
    for (let batch = 0; batch < 300; batch++) {
      const size = 1 + Math.floor(next() * 3);
      const puts: Record<string, string> = {};
      const deletes: string[] = [];
      for (let i = 0; i < size; i++) {
        const [key, value] = NESTED_KEYS[Math.floor(next() * NESTED_KEYS.length)]!;
        if (next() < 0.2) deletes.push(key);
        else puts[key] = JSON.stringify(next() < 0.05 ? 'bad' : value(next));
      }
      remove(deletes);
      for (const [key, text] of Object.entries(puts)) store.set(`p/${key}`, text);
      const writer = new TreeWriter(emptyTree());
      for (const [key, text] of store) writer.set(key.slice(2).split('/'), JSON.parse(text));
      const whole = z.safeParse(NESTED, writer.root);
      if (whole.success) expected = whole.data;
      put({});
      await new Promise<void>((resolve) => setImmediate(resolve));
      // Listeners read some values at once, others later (or never).
      if (next() < 0.3) expect(sub.current).toEqual(expected);
      const late = events[Math.floor(next() * events.length)];
      if (late !== undefined && next() < 0.1) expect(late.event.current).toEqual(late.expected);
    }
    expect(events.length).toBeGreaterThan(80);
    for (const { event, expected: value } of events) expect(event.current).toEqual(value);
  });

  it('runs the schema of the changed property only, once per change, in a 1,000-property object', async () => {
    const { counted, shape, start, runs } = countedProperties(1000);
    const schema = z.object({ ...shape, nested: z.object({ flags: z.record(z.string(), counted) }) });
    const { sub, put } = rawSubscription(schema);
    put({ ...start, 'nested/flags/a': '1' });
    await sub.ready;
    expect(runs.count).toBe(1001);
    const seen: unknown[] = [];
    sub.on('change', (event) => seen.push(event.changes.map((c) => c.key)));
    for (const [key, value] of [
      ['k500', '-1'],
      ['nested/flags/b', '2'],
      ['k0', '-2'],
    ] as const) {
      runs.count = 0;
      const before = seen.length;
      put({ [key]: value });
      await vi.waitFor(() => expect(seen.length).toBe(before + 1), { interval: 1 });
      expect(runs.count).toBe(1);
    }
    expect(seen).toEqual([['p/k500'], ['p/nested/flags/b'], ['p/k0']]);
    expect(sub.current).toMatchObject({ k0: -2, k1: 1, k500: -1, nested: { flags: { a: 1, b: 2 } } });
  });
});

describe('Subscription with an object schema and unknownKeys', () => {
  const schema = z.object({ db: z.object({ host: z.string() }), port: z.number().default(1) });

  it("'error' refuses a change that adds a key the schema does not describe", async () => {
    const { sub, put } = rawSubscription(schema, 'error');
    const invalid: string[] = [];
    sub.on('invalid', (error) => invalid.push(error.issues.map((i) => `${i.key}: ${i.message}`).join('; ')));
    put({ 'db/host': '"h"' });
    await expect(sub.ready).resolves.toEqual({ db: { host: 'h' }, port: 1 });
    put({ 'db/hots': '"typo"' });
    expect(invalid).toEqual(['p/db/hots: not described by the schema']);
    expect(sub.current).toEqual({ db: { host: 'h' }, port: 1 });
  });

  it("'warn' warns of it once and serves the value", async () => {
    const { sub, put, warned } = rawSubscription(schema, 'warn');
    put({ 'db/host': '"h"' });
    await sub.ready;
    put({ 'db/hots': '"typo"' });
    put({ 'db/host': '"h2"' });
    await vi.waitFor(() => expect(sub.current).toEqual({ db: { host: 'h2' }, port: 1 }), { interval: 1 });
    expect(warned).toEqual(['unknown config key p/db/hots: not described by the schema of p/']);
  });
});

describe('Subscription validated change by change: what the candidate tells of the changes', () => {
  it('puts a key deleted and written again while the value was invalid where the tree now has it', async () => {
    const { sub, store, put } = rawSubscription(z.record(z.string(), z.number()));
    put({ b: '1', a: '2' });
    await sub.ready;
    const served: string[] = [];
    sub.on('change', (event) => served.push(JSON.stringify(event.current)));
    store.delete('p/b');
    put({ x: '"bad"' });
    store.delete('p/x');
    put({ b: '5' });
    await vi.waitFor(() => expect(served).toHaveLength(1), { interval: 1 });
    // `b` went to the end of the tree when it came back, as whole validation orders it.
    expect(served).toEqual(['{"a":2,"b":5}']);
  });

  it('validates a folder that appears where a default served as new, not from the default', async () => {
    const db = z.object({ host: z.string(), port: z.number().default(5432) });
    const { sub, put } = rawSubscription(z.object({ db: db.default({ host: 'h', port: 1 }), n: z.number() }));
    put({ n: '1' });
    await expect(sub.ready).resolves.toEqual({ db: { host: 'h', port: 1 }, n: 1 });
    const served: unknown[] = [];
    sub.on('change', (event) => served.push(event.current));
    put({ 'db/host': '"x"' });
    await vi.waitFor(() => expect(served).toHaveLength(1), { interval: 1 });
    expect(served).toEqual([{ db: { host: 'x', port: 5432 }, n: 1 }]);
  });
});

describe('Subscription validated change by change after a key conflict', () => {
  it('serves the keys in the order of the tree rebuilt to resolve it, as whole validation does', async () => {
    const { sub, store, put } = rawSubscription(z.record(z.string(), z.record(z.string(), z.number())));
    put({ 'f/z': '1', 'f/y': '2', 'f/w': '0' });
    put({ c: '{"v":3}' });
    await sub.ready;
    const order: string[] = [];
    sub.on('change', (event) => order.push(JSON.stringify(event.current)));
    // `f/z` holds a value and is a folder of `f/z/q`: refused until one goes, the tree rebuilt sorted.
    put({ 'f/z/q': '4' });
    store.delete('p/f/z/q');
    put({ 'f/y': '5' });
    await vi.waitFor(() => expect(order).toHaveLength(1), { interval: 1 });
    expect(order).toEqual(['{"c":{"v":3},"f":{"w":0,"y":5,"z":1}}']);
  });
});

/** A subscription on `p/`, fed whole answers of a store of `p/<key>` → JSON; `warned`: its warnings. */
describe('Subscription with unknownKeys, validated change by change', () => {
  /** Keys of NESTED plus keys it does not describe (`checked` strips; `limits` has a catchall, `features` is a record). */
  const KEYS: Array<[string, (next: () => number) => unknown]> = [
    ...NESTED_KEYS,
    ['db/hots', (next) => `typo${num(next)}`],
    ['checked/c', num],
    ['extra', num],
    ['limits/z', num],
  ];

  it.each(['warn', 'error'] as const)(
    "'%s': serves and reports what whole validation and the unknown-key walk give",
    async (mode) => {
      const next = random(mode === 'warn' ? 0xa11 : 0xb22);
      const { sub, store, put, remove, warned } = rawSubscription(NESTED, mode);
      const refused: string[][] = [];
      sub.on('invalid', (error) => refused.push(error.issues.map((i) => i.key)));
      put({ 'db/host': '"h"', 'features/a': 'true' });
      let expected: unknown = await sub.ready;
      const expectedWarnings: string[] = [];
      let present = new Set<string>();
      let refusedForUnknown = 0;
      for (let batch = 0; batch < 300; batch++) {
        const puts: Record<string, string> = {};
        const deletes: string[] = [];
        for (let i = 0, size = 1 + Math.floor(next() * 3); i < size; i++) {
          const [key, value] = KEYS[Math.floor(next() * KEYS.length)]!;
          // Unknown keys are rare and go again soon, as typos are fixed.
          if (next() < (key === 'extra' || key.includes('hots') || key === 'checked/c' ? 0.6 : 0.2))
            deletes.push(key);
          else puts[key] = JSON.stringify(value(next));
        }
        remove(deletes);
        for (const [key, text] of Object.entries(puts)) store.set(`p/${key}`, text);
        const writer = new TreeWriter(emptyTree());
        for (const [key, text] of store) writer.set(key.slice(2).split('/'), JSON.parse(text));
        const whole = z.safeParse(NESTED, writer.root);
        const unknown = findUnknownKeys(NESTED, writer.root).map((path) => `p/${path.join('/')}`);
        const refusedBefore = refused.length;
        put({});
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (whole.success && (mode === 'warn' || unknown.length === 0)) {
          expected = whole.data;
          if (mode === 'warn') {
            for (const key of unknown)
              if (!present.has(key))
                expectedWarnings.push(`unknown config key ${key}: not described by the schema of p/`);
            present = new Set(unknown);
          }
        } else if (whole.success && refused.length > refusedBefore) {
          // Refused for its unknown keys alone (a batch that changed nothing is not an answer to refuse).
          // As sets: the order is the tree's, which this model does not keep.
          expect([...refused.at(-1)!].sort()).toEqual([...unknown].sort());
          refusedForUnknown++;
        }
        expect(sub.current, `batch ${batch}`).toEqual(expected);
      }
      const warnings = warned.filter((line) => line.startsWith('unknown config key'));
      expect(warnings.sort()).toEqual(expectedWarnings.sort());
      if (mode === 'error') expect(refusedForUnknown).toBeGreaterThan(10);
      else expect(expectedWarnings.length).toBeGreaterThan(10);
    },
  );

  it("runs the changed property's schema only, with unknownKeys 'warn', while no key is unknown", async () => {
    const { shape, start, runs } = countedProperties(1000);
    const { sub, put, remove, warned } = rawSubscription(z.object(shape), 'warn');
    put(start);
    await sub.ready;
    const changes: string[][] = [];
    sub.on('change', (event) => changes.push(event.changes.map((c) => c.key)));
    runs.count = 0;
    put({ k7: '70' });
    await vi.waitFor(() => expect(changes).toHaveLength(1), { interval: 1 });
    expect(runs.count).toBe(1);
    // An unknown key: the whole tree is walked while it is there (1,000 runs), then change by change again.
    runs.count = 0;
    put({ typo: '1' });
    await vi.waitFor(() => expect(warned).toHaveLength(1), { interval: 1 });
    expect(runs.count).toBe(1000);
    remove(['typo']);
    put({});
    await vi.waitFor(() => expect(changes).toHaveLength(3), { interval: 1 });
    runs.count = 0;
    put({ k8: '80' });
    await vi.waitFor(() => expect(changes).toHaveLength(4), { interval: 1 });
    expect(runs.count).toBe(1);
    expect(warned).toEqual(['unknown config key p/typo: not described by the schema of p/']);
  });
});

/** `count` properties `k0`…, each a number schema that counts its runs, and their first values. */
function countedProperties(count: number) {
  const runs = { count: 0 };
  const counted = z.number().refine(() => {
    runs.count++;
    return true;
  });
  const shape: Record<string, z.ZodType> = {};
  const start: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    shape[`k${i}`] = counted;
    start[`k${i}`] = String(i);
  }
  return { runs, counted, shape, start };
}

function rawSubscription(schema: zc.$ZodType, unknownKeys: 'ignore' | 'warn' | 'error' = 'ignore') {
  const quiet = () => {};
  const warned: string[] = [];
  const sub = new Subscription<unknown>({
    key: 'p/',
    format: 'json',
    schema,
    unknownKeys,
    debounce: undefined,
    startTimeoutMs: 0,
    cache: new DecodeCache(0),
    logger: {
      debug: quiet,
      info: quiet,
      warn: (_fields, message) => warned.push(String(message)),
      error: quiet,
    },
    detach: vi.fn(async () => {}),
  });
  const snapshot = new Snapshot<KVEntry>();
  const store = new Map<string, string>();
  let index = 1;
  const answer = (): void => {
    index++;
    const entries = [...store].map(([key, text]) =>
      KVEntry.from({ key, value: text, flags: 0, createIndex: 1, modifyIndex: index }),
    );
    sub[kApply](snapshot.apply(entries, true), index);
  };
  const put = (values: Record<string, string>): void => {
    for (const [name, text] of Object.entries(values)) store.set(`p/${name}`, text);
    answer();
  };
  const remove = (names: readonly string[]): void => {
    for (const name of names) store.delete(`p/${name}`);
  };
  return { sub, store, put, remove, warned };
}

/** A subscription on `p/` fed whole answers of `p/<name>` → JSON text. */
function fedSubscription(schema: zc.$ZodType, debounce?: { minMs: number; maxMs: number }) {
  const quiet = () => {};
  const sub = new Subscription<unknown>({
    key: 'p/',
    format: 'json',
    schema,
    unknownKeys: 'ignore',
    debounce,
    startTimeoutMs: 0,
    cache: new DecodeCache(0),
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    detach: vi.fn(async () => {}),
  });
  const snapshot = new Snapshot<KVEntry>();
  const store = new Map<string, string>();
  let index = 1;
  const put = (values: Record<string, string>): void => {
    index++;
    for (const [name, text] of Object.entries(values)) store.set(`p/${name}`, text);
    const entries = [...store].map(([key, text]) =>
      KVEntry.from({ key, value: text, flags: 0, createIndex: 1, modifyIndex: index }),
    );
    sub[kApply](snapshot.apply(entries, true), index);
  };
  const changes: string[] = [];
  const invalid: string[] = [];
  sub.on('change', (event) => changes.push(event.changes.map((c) => c.key).join(' ')));
  sub.on('invalid', (error) => invalid.push(error.issues.map((i) => `${i.key}: ${i.message}`).join('; ')));
  return { sub, put, changes, invalid };
}

const throwsAt13 = z.number().refine((n) => {
  if (n === 13) throw new Error('boom');
  return true;
});

describe('Subscription with a record schema whose parts validation skips or that throws', () => {
  it('checks a new key against the key schema (z.email(), z.uuid(), z.ipv4())', async () => {
    for (const [keySchema, good, bad] of [
      [z.email(), 'a@b.co', 'not-an-email'],
      [z.uuid(), '9b2f6c1e-2a4d-4c3b-8f1e-0d6a7b5c4e3f', 'not-a-uuid'],
      [z.ipv4(), '10.0.0.1', 'not-an-ip'],
    ] as const) {
      const schema = z.record(keySchema, z.number());
      const { sub, put, changes, invalid } = fedSubscription(schema);
      put({ [good]: '1' });
      await expect(sub.ready).resolves.toEqual({ [good]: 1 });
      put({ [bad]: '2' });
      expect(z.safeParse(schema, { [good]: 1, [bad]: 2 }).success).toBe(false);
      expect(changes).toEqual([]);
      expect(invalid).toHaveLength(1);
      expect(sub.current).toEqual({ [good]: 1 });
    }
  });

  it('still validates change by change with a plain z.string() key', () => {
    const schema = z.record(z.string(), z.number());
    expect(validateRecordChange(schema, { a: 1, b: 2 }, { a: 1 }, new Set(['b']))?.value).toEqual({
      a: 1,
      b: 2,
    });
    for (const key of [
      z.string().min(1),
      z.email(),
      z.url(),
      z.string().trim(),
      z.coerce.string(),
      z.literal('a'),
    ]) {
      expect(validateRecordChange(z.record(key, z.number()), { a: 1, b: 2 }, { a: 1 }, new Set(['b']))).toBe(
        undefined,
      );
    }
  });

  it('reports a value schema that throws as invalid, as whole validation does', async () => {
    const { sub, put, changes, invalid } = fedSubscription(z.record(z.string(), throwsAt13));
    put({ a: '1' });
    await sub.ready;
    expect(() => put({ b: '13' })).not.toThrow();
    expect(invalid).toEqual(['p/: the schema threw: boom']);
    expect(changes).toEqual([]);
    expect(sub.current).toEqual({ a: 1 });
    put({ b: '14' });
    expect(changes).toEqual(['p/b']);
  });

  it('reports a value schema that turns async as invalid, not as an exception', async () => {
    // A refinement that answers with a promise for 7 only: zod's synchronous parse throws on it.
    const schema = z.record(
      z.string(),
      z.number().refine((n) => (n === 7 ? Promise.resolve(true) : true)),
    );
    const { sub, put, changes, invalid } = fedSubscription(schema);
    put({ a: '1' });
    await expect(sub.ready).resolves.toEqual({ a: 1 });
    expect(() => put({ b: '7' })).not.toThrow();
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatch(/^p\/: the schema threw: /);
    expect(changes).toEqual([]);
  });

  it('reports a throwing value schema under debounce without an uncaught exception', async () => {
    const { sub, put, invalid } = fedSubscription(z.record(z.string(), throwsAt13), { minMs: 5, maxMs: 20 });
    put({ a: '1' });
    await sub.ready;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', onUncaught);
    try {
      put({ b: '13' });
      await vi.waitFor(() => expect(invalid).toHaveLength(1), { timeout: 2000, interval: 5 });
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(invalid).toEqual(['p/: the schema threw: boom']);
  });
});
