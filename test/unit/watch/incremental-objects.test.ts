/**
 * Incremental validation of nested object and record schemas (validate-incremental.ts) gives exactly what
 * zod gives for the whole tree: seeded random schemas (objects in strip, strict, loose and catchall modes,
 * records, arrays, optional, nullable, default, refinements, transforms, unions) and random change
 * sequences (keys and folders added, updated, deleted), checked after every change, value and key order.
 * Outputs written in place are checked too: a refused change is undone exactly, and every earlier value
 * can still be read back through the undo logs, as a late `change` listener reads it (value-history.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type * as zc from 'zod/v4/core';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import { DecodeCache } from '../../../src/watch/decode.js';
import { Snapshot } from '../../../src/watch/diff.js';
import { kApply, Subscription } from '../../../src/watch/subscription.js';
import { emptyTree, type Folder, TreeWriter } from '../../../src/watch/tree.js';
import { undoOutput } from '../../../src/watch/validate.js';
import { type ChangedKey, validateChange } from '../../../src/watch/validate-incremental.js';
import { ValueVersion } from '../../../src/watch/value-history.js';
import { seededRandom as random } from '../../helpers/random.js';

/** A schema, and how to make keys and values it mostly accepts. */
interface Spec {
  schema: zc.$ZodType;
  /** A name below it (a folder), or undefined for a value. */
  names?: () => string;
  /** The names a valid folder holds. */
  filled?: () => string[];
  child?: (name: string) => Spec | undefined;
  value: (next: () => number) => unknown;
}

const number = (next: () => number) => Math.floor(next() * 50);
const LEAVES: Array<(next: () => number) => Spec> = [
  () => ({ schema: z.number(), value: number }),
  () => ({ schema: z.string(), value: (next) => `s${number(next)}` }),
  () => ({ schema: z.number().optional(), value: number }),
  () => ({ schema: z.number().default(7), value: number }),
  () => ({ schema: z.number().nullable(), value: (next) => (next() < 0.2 ? null : number(next)) }),
  () => ({ schema: z.number().refine((n) => n !== 13), value: number }),
  () => ({ schema: z.number().transform((n) => ({ doubled: n * 2 })), value: number }),
  () => ({ schema: z.array(z.number()), value: (next) => [number(next), number(next)] }),
  () => ({ schema: z.union([z.number(), z.string()]), value: number }),
  () => ({ schema: z.string().optional().pipe(z.string().optional()), value: (next) => `p${number(next)}` }),
  // Optional in, not out: absent, zod leaves the key out although the transform ran.
  () => ({
    schema: z
      .number()
      .optional()
      .transform((n) => n),
    value: number,
  }),
  () => ({ schema: z.number().default(3).optional(), value: number }),
  () => ({ schema: z.enum(['a', 'b']).optional(), value: (next) => (next() < 0.9 ? 'a' : 'c') }),
];

function leaf(next: () => number): Spec {
  return LEAVES[Math.floor(next() * LEAVES.length)]!(next);
}

/** A random nested schema: objects and records of objects, records and leaves. */
function spec(next: () => number, depth: number, top = false): Spec {
  if (!top && (depth <= 0 || next() < 0.25)) return leaf(next);
  if (next() < 0.35) {
    const member = spec(next, depth - 1);
    const pool = ['r0', 'r1', 'r2', 'r3', '7'];
    return wrap(next, {
      schema: z.record(z.string(), member.schema as z.ZodType),
      names: () => pool[Math.floor(next() * pool.length)]!,
      filled: () => pool.filter(() => next() < 0.5),
      child: () => member,
      value: () => ({}),
    });
  }
  const props: Record<string, Spec> = {};
  const count = 1 + Math.floor(next() * 4);
  for (let i = 0; i < count; i++) props[`p${i}`] = spec(next, depth - 1);
  const shape = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.schema as z.ZodType]));
  const mode = next();
  const extra = leaf(next);
  let schema: zc.$ZodType;
  if (mode < 0.5) schema = z.object(shape);
  else if (mode < 0.65) schema = z.strictObject(shape);
  else if (mode < 0.8) schema = z.looseObject(shape);
  else schema = z.object(shape).catchall(extra.schema as z.ZodType);
  const names = Object.keys(props);
  return wrap(next, {
    schema,
    // Mostly the shape's keys, sometimes one it does not describe.
    names: () => (next() < 0.1 ? `x${Math.floor(next() * 2)}` : names[Math.floor(next() * names.length)]!),
    filled: () => names,
    child: (name) => props[name] ?? (mode >= 0.8 ? extra : leaf(next)),
    value: () => ({}),
  });
}

/** Sometimes optional, defaulted or refined as a whole. */
function wrap(next: () => number, inner: Spec): Spec {
  const pick = next();
  const schema = inner.schema as z.ZodType<Record<string, unknown>>;
  if (pick < 0.15) return { ...inner, schema: schema.optional() };
  if (pick < 0.3) return { ...inner, schema: schema.default({} as never) };
  if (pick < 0.4) return { ...inner, schema: schema.refine((o) => Object.keys(o).length < 5) };
  if (pick < 0.45) return { ...inner, schema: schema.nullable() };
  return inner;
}

/** A random key path under `root` and a value for it (mostly what the schema accepts). */
function randomKey(
  next: () => number,
  root: Spec,
): { path: string[]; value: unknown; spec: Spec | undefined } {
  const path: string[] = [];
  let at: Spec | undefined = root;
  while (at?.names !== undefined && next() < 0.95) {
    const name = at.names();
    path.push(name);
    at = at.child?.(name);
  }
  if (path.length === 0) path.push('p0');
  return { path, value: valueFor(next, at), spec: at };
}

function valueFor(next: () => number, at: Spec | undefined): unknown {
  const pick = next();
  return pick < 0.96 && at !== undefined ? at.value(next) : pick < 0.98 ? 'text' : { v: 1 };
}

/** Keys (path → value) of a valid tree for `at`, below `path`. */
function fill(next: () => number, at: Spec, path: string[], into: Map<string, unknown>): void {
  if (at.filled === undefined) {
    if (path.length > 0) into.set(path.join('/'), at.value(next));
    return;
  }
  for (const name of at.filled()) {
    const child = at.child?.(name);
    if (child !== undefined) fill(next, child, [...path, name], into);
  }
}

/** JSON with keys in order, and a key that holds `undefined` kept (JSON.stringify drops it). */
function serialize(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v === undefined ? '<undefined>' : v));
}

const ROUNDS = 80;
const STEPS = 80;

describe('validateChange on random nested schemas', () => {
  it(`matches whole validation after every change (${ROUNDS} schemas x ${STEPS} changes)`, () => {
    let valid = 0;
    let incremental = 0;
    let inPlaceWrites = 0;
    let nestedWrites = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const next = random(0xc0ffee + round);
      const root = spec(next, 4, true);
      const schema = root.schema as z.ZodType;
      const store = new Map<string, unknown>();
      fill(next, root, [], store);
      const start = new TreeWriter(emptyTree());
      for (const [key, value] of store) if (start.set(key.split('/'), value) !== undefined) store.delete(key);
      let tree: Folder = start.root;
      // The last good value: its store, output and in-place ownership, as candidate.ts keeps them.
      let good: { store: Map<string, unknown>; output: unknown } | undefined;
      const changed = new Set<string>();
      const deleted = new Set<string>();
      let owned = false;
      let last: { path: string[]; spec: Spec | undefined } | undefined;
      let owners = new WeakMap<object, object>();
      // Announced values, with a JSON snapshot each, for late reads through the undo logs.
      const versions: Array<{ version: ValueVersion; own: Record<string, unknown>; json: string }> = [];
      for (let step = 0; step < STEPS; step++) {
        const size = 1 + Math.floor(next() * 3);
        for (let i = 0; i < size; i++) {
          // Often the key changed last again (a setting tuned twice), which writes nested outputs in place.
          const again = last !== undefined && next() < 0.4;
          const picked = again ? { ...last!, value: valueFor(next, last!.spec) } : randomKey(next, root);
          const { path, value } = picked;
          last = picked;
          const key = path.join('/');
          const writer = new TreeWriter(tree);
          if (next() < 0.12) {
            // Delete a key, or every key of a folder.
            const victims = [...store.keys()].filter((k) => k === key || k.startsWith(`${key}/`));
            for (const victim of victims) {
              writer.delete(victim.split('/'));
              store.delete(victim);
              changed.add(victim);
              deleted.add(victim);
            }
          } else if (writer.set(path, value) === undefined) {
            store.set(key, value);
            changed.add(key);
          }
          tree = writer.root;
        }
        const whole = z.safeParse(schema, tree);
        const changes: ChangedKey[] = [...changed].map((key) => ({
          path: key.split('/'),
          existed: good?.store.has(key) === true,
          deleted: deleted.has(key),
        }));
        const before = good === undefined ? undefined : serialize(good.output);
        const fast =
          good === undefined
            ? undefined
            : validateChange(schema, tree, good.output, changes, { inPlace: owned, owners });
        if (fast !== undefined) {
          incremental++;
          inPlaceWrites += fast.undo?.length ?? 0;
          nestedWrites += fast.undo?.filter(([, , , path]) => path.length > 0).length ?? 0;
          expect(whole.success).toBe(true);
          // Same value, same key order, same keys holding `undefined`.
          expect(serialize(fast.value)).toBe(serialize(whole.data));
          expect(fast.value).toEqual(whole.data);
        }
        if (whole.success && good !== undefined) valid++;
        if (!whole.success) continue;
        if (fast !== undefined && next() < 0.1) {
          // Valid, and still refused (CandidateStore.reject): the good output is put back exactly.
          if (fast.undo !== undefined) undoOutput(good!.output as Record<string, unknown>, fast.undo, true);
          expect(serialize(good!.output)).toBe(before);
          continue;
        }
        const output = fast?.value ?? whole.data;
        good = { store: new Map(store), output };
        changed.clear();
        deleted.clear();
        const version = new ValueVersion([], false, fast?.undo);
        const previous = versions.at(-1);
        if (previous !== undefined) previous.version.next = version;
        versions.push({ version, own: output as Record<string, unknown>, json: serialize(output) });
        owned = true;
        if (next() < 0.1) {
          // Read by a listener: handed out, never written in place again.
          owned = false;
          owners = new WeakMap();
        }
        // Every announced value reads back as it was.
        for (const { version: v, own, json } of versions) {
          expect(serialize(v.outputFrom(own) ?? own)).toBe(json);
        }
      }
    }
    // Valid trees are common, nearly all of them validated change by change (not those whose top has
    // a refinement), and outputs are written in place, nested ones too.
    expect(valid).toBeGreaterThan(800);
    expect(incremental).toBeGreaterThan(valid * 0.85);
    expect(inPlaceWrites).toBeGreaterThan(500);
    expect(nestedWrites).toBeGreaterThan(100);
  });
});

describe('Subscription on random nested schemas', () => {
  it('serves what whole validation gives, key order included, read at once or late', async () => {
    let events = 0;
    for (let round = 0; round < 30; round++) {
      const next = random(0xabc + round);
      const root = spec(next, 3, true);
      const schema = root.schema as z.ZodType;
      const store = new Map<string, unknown>();
      fill(next, root, [], store);
      const sub = fedSubscription(schema);
      // The same answers without a schema: the tree itself, in the key order the subscription builds.
      const plain = fedSubscription(undefined);
      const seen: Array<{ event: { current: unknown }; expected: string }> = [];
      let expected: string | undefined;
      sub.sub.on('change', (event) => seen.push({ event, expected: expected! }));
      const snapshot = new Snapshot<KVEntry>();
      for (let answer = 0; answer < 60; answer++) {
        if (answer > 0) {
          for (let i = 0; i < 1 + Math.floor(next() * 2); i++) {
            const { path, value } = randomKey(next, root);
            const key = path.join('/');
            if (next() < 0.15) {
              for (const victim of [...store.keys()]) {
                if (victim === key || victim.startsWith(`${key}/`)) store.delete(victim);
              }
            } else store.set(key, value);
          }
        }
        const index = answer + 2;
        const entries = [...store].map(([key, value]) =>
          KVEntry.from({
            key: `p/${key}`,
            value: JSON.stringify(value),
            flags: 0,
            createIndex: 1,
            modifyIndex: index,
          }),
        );
        const changes = snapshot.apply(entries, true);
        const accepted = plain.changes.length;
        plain.sub[kApply](changes, index);
        await new Promise<void>((resolve) => setImmediate(resolve));
        // Whole validation of the tree (refused when two keys conflict).
        const whole = plain.changes.length > accepted ? z.safeParse(schema, plain.sub.current) : undefined;
        if (whole?.success === true) expected = serialize(whole.data);
        sub.sub[kApply](changes, index);
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (expected !== undefined && next() < 0.3) expect(serialize(sub.sub.current)).toBe(expected);
      }
      for (const { event, expected: value } of seen) expect(serialize(event.current)).toBe(value);
      events += seen.length;
      await sub.sub.close();
      await plain.sub.close();
    }
    expect(events).toBeGreaterThan(150);
  });
});

/** A subscription on `p/` fed by `kApply`; `changes`: the change events' key lists. */
function fedSubscription(schema: zc.$ZodType | undefined) {
  const quiet = () => {};
  const sub = new Subscription<unknown>({
    key: 'p/',
    format: 'json',
    schema,
    unknownKeys: 'ignore',
    debounce: undefined,
    startTimeoutMs: 0,
    cache: new DecodeCache(0),
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    detach: vi.fn(async () => {}),
  });
  sub.ready.catch(() => {});
  const changes: string[][] = [];
  sub.on('change', (event) => changes.push(event.changes.map((c) => c.key)));
  return { sub, changes };
}

/** Keys (path → value, undefined: delete) applied to a tree, as candidate.ts applies a batch. */
type Keys = Record<string, unknown>;

/**
 * The tree of `before`, validated whole, then `after` applied and validated change by change: the
 * incremental result and zod's for the whole new tree.
 */
function change(schema: zc.$ZodType, before: Keys, ...batches: Keys[]) {
  const writer = new TreeWriter(emptyTree());
  for (const [key, value] of Object.entries(before)) writer.set(key.split('/'), value);
  let tree = writer.root;
  const good = z.safeParse(schema as z.ZodType, tree);
  if (!good.success) throw new Error(`invalid start: ${good.error.message}`);
  const changed = new Set<string>();
  const deleted = new Set<string>();
  for (const batch of batches) {
    const next = new TreeWriter(tree);
    for (const [key, value] of Object.entries(batch)) {
      changed.add(key);
      if (value === undefined) {
        next.delete(key.split('/'));
        deleted.add(key);
      } else if (next.set(key.split('/'), value) !== undefined) throw new Error(`conflict at ${key}`);
    }
    tree = next.root;
  }
  const changes = [...changed].map((key) => ({
    path: key.split('/'),
    existed: Object.hasOwn(before, key),
    deleted: deleted.has(key),
  }));
  const fast = validateChange(schema, tree, good.data, changes, { inPlace: false, owners: new WeakMap() });
  return { fast: fast?.value, whole: z.safeParse(schema as z.ZodType, tree), previous: good.data };
}

describe('validateChange on object shapes', () => {
  it('replaces only the changed property, in the shape order', () => {
    const schema = z.object({ b: z.number(), a: z.object({ x: z.number(), y: z.string().optional() }) });
    const { fast, whole, previous } = change(schema, { 'a/x': 1, b: 2 }, {});
    expect(fast).toBe(previous);
    expect(whole.success).toBe(true);
    const added = change(schema, { b: 1, 'a/x': 1 }, { 'a/y': 'v' });
    expect(serialize(added.fast)).toBe('{"b":1,"a":{"x":1,"y":"v"}}');
    expect(serialize(added.fast)).toBe(serialize(added.whole.data));
    // The unchanged property is the previous output's, not a new validation of it.
    expect((added.fast as { b: unknown }).b).toBe(1);
  });

  it('gives up (so whole validation words the issues) for a missing required property or a wrong value', () => {
    const schema = z.object({ a: z.number(), b: z.object({ c: z.number() }) });
    expect(change(schema, { a: 1, 'b/c': 2 }, { a: undefined }).fast).toBe(undefined);
    expect(change(schema, { a: 1, 'b/c': 2 }, { 'b/c': 'x' }).fast).toBe(undefined);
    expect(change(schema, { a: 1, 'b/c': 2 }, { 'b/c': undefined, 'b/d': 1 }).fast).toBe(undefined);
  });

  it('strips, rejects, passes through or runs the catchall on keys the shape does not name, as zod does', () => {
    const shape = { a: z.number() };
    const stripped = change(z.object(shape), { a: 1 }, { extra: 5 });
    expect(serialize(stripped.fast)).toBe('{"a":1}');
    expect(change(z.strictObject(shape), { a: 1 }, { extra: 5 }).fast).toBe(undefined);
    const loose = change(z.looseObject(shape), { a: 1 }, { extra: 5 });
    expect(serialize(loose.fast)).toBe('{"a":1,"extra":5}');
    const caught = z.object(shape).catchall(z.number().transform((n) => n + 1));
    const catchall = change(caught, { a: 1, z: 1 }, { extra: 5 });
    expect(serialize(catchall.fast)).toBe('{"a":1,"z":2,"extra":6}');
    expect(change(caught, { a: 1 }, { extra: 'x' }).fast).toBe(undefined);
  });

  it('puts a catchall key deleted and written again where the tree now has it (last)', () => {
    const schema = z.object({ a: z.number() }).catchall(z.number());
    const { fast, whole } = change(schema, { a: 1, x: 1, y: 2 }, { x: undefined }, { x: 3 });
    expect(serialize(whole.data)).toBe('{"a":1,"y":2,"x":3}');
    expect(serialize(fast)).toBe(serialize(whole.data));
  });

  it('leaves an absent optional property out, fills a default, keeps an explicit undefined', () => {
    const schema = z.object({
      opt: z.number().optional(),
      def: z.number().default(7),
      piped: z
        .number()
        .optional()
        .transform((n) => n),
      nested: z.object({ v: z.number().default(1) }).default({ v: 2 }),
    });
    const start = { opt: 1, def: 2, piped: 3, 'nested/v': 4 };
    const { fast, whole } = change(schema, start, { opt: undefined, def: undefined, piped: undefined });
    expect(serialize(whole.data)).toBe('{"def":7,"nested":{"v":4}}');
    expect(serialize(fast)).toBe(serialize(whole.data));
  });

  it('validates a folder that stands where a default stood as new, not from the default', () => {
    const schema = z.object({
      db: z.object({ host: z.string(), port: z.number().default(5432) }).default({ host: 'h', port: 1 }),
    });
    // `db` was absent (the default served), then a key appears in it: the default's port is not its port.
    const filled = change(schema, {}, { 'db/host': 'x' });
    expect(serialize(filled.whole.data)).toBe('{"db":{"host":"x","port":5432}}');
    expect(serialize(filled.fast)).toBe(serialize(filled.whole.data));
    const required = z.object({
      db: z.object({ host: z.string(), port: z.number() }).default({ host: 'h', port: 1 }),
    });
    expect(change(required, {}, { 'db/host': 'x' }).fast).toBe(undefined);
    expect(change(required, {}, { 'db/host': 'x' }).whole.success).toBe(false);
  });

  it('validates a refined or transformed object, an array and a union as a whole where they changed', () => {
    let runs = 0;
    const counted = z.object({ a: z.number(), b: z.number() }).refine(() => ++runs > 0);
    const schema = z.object({
      refined: counted,
      list: z.array(z.number()),
      either: z.union([z.number(), z.object({ n: z.number() })]),
      other: z.object({ c: z.number() }),
    });
    const start = { 'refined/a': 1, 'refined/b': 2, list: [1], 'either/n': 1, 'other/c': 1 };
    runs = 0;
    const { fast, whole } = change(schema, start, { 'refined/a': 5, list: [2, 3], 'either/n': 2 });
    // Once for the start, once incrementally (the object as a whole), once by the whole validation here.
    expect(runs).toBe(3);
    expect(serialize(fast)).toBe(serialize(whole.data));
    const top = z.object({ a: z.number() }).refine(() => true);
    expect(change(top, { a: 1 }, { a: 2 }).fast).toBe(undefined);
  });

  it('keeps record keys in the tree order: integer-like keys first, a re-added key last', () => {
    const schema = z.object({ r: z.record(z.string(), z.number()) });
    const integers = change(schema, { 'r/b': 1, 'r/a': 2 }, { 'r/7': 3 });
    expect(serialize(integers.whole.data)).toBe('{"r":{"7":3,"b":1,"a":2}}');
    expect(serialize(integers.fast)).toBe(serialize(integers.whole.data));
    const moved = change(schema, { 'r/b': 1, 'r/a': 2 }, { 'r/b': undefined }, { 'r/b': 5 });
    expect(serialize(moved.whole.data)).toBe('{"r":{"a":2,"b":5}}');
    expect(serialize(moved.fast)).toBe(serialize(moved.whole.data));
    const emptied = change(
      z.record(z.string(), z.record(z.string(), z.number())),
      { 'f/x': 1, 'g/y': 2 },
      { 'f/x': undefined },
      { 'f/z': 3 },
    );
    expect(serialize(emptied.whole.data)).toBe('{"g":{"y":2},"f":{"z":3}}');
    expect(serialize(emptied.fast)).toBe(serialize(emptied.whole.data));
  });
});

describe('validateChange cost', () => {
  it('runs only the changed property schema of a 1,000-property object, and of a 1,000-key record in it', () => {
    let runs = 0;
    const counted = z.number().refine(() => {
      runs++;
      return true;
    });
    const shape: Record<string, z.ZodType> = {};
    const start: Keys = {};
    for (let i = 0; i < 1000; i++) {
      shape[`k${i}`] = counted;
      start[`k${i}`] = i;
      start[`r/n${i}`] = i;
    }
    const schema = z.object({ ...shape, r: z.record(z.string(), counted) });
    const writer = new TreeWriter(emptyTree());
    for (const [key, value] of Object.entries(start)) writer.set(key.split('/'), value);
    const good = z.parse(schema, writer.root);
    expect(runs).toBe(2000);
    runs = 0;
    const next = new TreeWriter(writer.root);
    next.set(['k500'], -1);
    next.set(['r', 'n7'], -7);
    const changes = [
      { path: ['k500'], existed: true, deleted: false },
      { path: ['r', 'n7'], existed: true, deleted: false },
    ];
    const fast = validateChange(schema, next.root, good, changes, { inPlace: false, owners: new WeakMap() });
    expect(runs).toBe(2);
    expect(fast?.value).toEqual({ ...good, k500: -1, r: { ...good.r, n7: -7 } });
  });
});

describe('undoOutput', () => {
  it('copies the objects below the output it writes back into, unless told they are not shared', () => {
    const inner = { x: 2, y: 3 };
    const output: Record<string, unknown> = { a: inner, b: 4 };
    const undo = [
      ['x', true, 1, ['a']],
      ['b', false, undefined, []],
    ] as const;
    undoOutput(output, undo);
    expect(output).toEqual({ a: { x: 1, y: 3 } });
    // The object below was copied: an earlier value that shares it is untouched.
    expect(output.a).not.toBe(inner);
    expect(inner).toEqual({ x: 2, y: 3 });
    const owned = { a: inner, b: 4 };
    undoOutput(owned, undo, true);
    expect(owned.a).toBe(inner);
    expect(serialize(owned)).toBe('{"a":{"x":1,"y":3}}');
  });
});
