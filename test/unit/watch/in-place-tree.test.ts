/**
 * A prefix subscription writes its tree in place while nobody has read the value a change replaces
 * (tree.ts, candidate.ts, value-history.ts): every value a user can reach still never changes.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import type { Logger } from '../../../src/logger.js';
import { DecodeCache } from '../../../src/watch/decode.js';
import { Snapshot } from '../../../src/watch/diff.js';
import { kApply, Subscription } from '../../../src/watch/subscription.js';
import { emptyTree, type Folder, rewind, TreeWriter } from '../../../src/watch/tree.js';
import type { ChangeEvent } from '../../../src/watch/types.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function prefixSubscription(schema?: z.ZodType) {
  const quiet = () => {};
  const logger: Required<Logger> = { debug: quiet, info: quiet, warn: quiet, error: quiet };
  const sub = new Subscription<Record<string, unknown>>({
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
  const snapshot = new Snapshot<KVEntry>();
  const store: Record<string, string> = {};
  let index = 1;
  /** Writes keys and hands the whole store to the subscription as one answer. */
  const write = (values: Record<string, string | undefined>): void => {
    index++;
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete store[key];
      else store[key] = value;
    }
    const entries = Object.entries(store).map(([key, value]) =>
      KVEntry.from({ key, value, flags: 0, createIndex: 1, modifyIndex: modifyIndexes.get(key) ?? 1 }),
    );
    sub[kApply](snapshot.apply(entries), index);
  };
  const modifyIndexes = new Map<string, number>();
  const put = (values: Record<string, string | undefined>): void => {
    for (const key of Object.keys(values)) modifyIndexes.set(key, index + 1);
    write(values);
  };
  const events: ChangeEvent<Record<string, unknown>>[] = [];
  sub.on('change', (event) => events.push(event));
  return { sub, put, events };
}

describe('TreeWriter with owned folders', () => {
  it('writes an owned folder in place and undo puts it back, order included', () => {
    const owned = new WeakSet<Folder>();
    const base = new TreeWriter(emptyTree(), { owned });
    base.set(['a'], 1);
    base.set(['b'], 2);
    const root = base.root;
    const writer = new TreeWriter(root, { owned });
    writer.set(['a'], 10);
    writer.set(['c'], 3);
    expect(writer.root).toBe(root);
    expect(writer.wroteInPlace).toBe(true);
    expect(root).toEqual({ a: 10, b: 2, c: 3 });
    writer.undo();
    expect(Object.entries(root)).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('copies a folder it does not own, and deletes by copy even in an owned one', () => {
    const owned = new WeakSet<Folder>();
    const root = new TreeWriter(emptyTree(), { owned });
    root.set(['a'], 1);
    root.set(['b'], 2);
    const before = root.root;
    const foreign = new TreeWriter(before);
    foreign.set(['a'], 5);
    expect(foreign.root).not.toBe(before);
    const deleting = new TreeWriter(before, { owned });
    deleting.delete(['a']);
    expect([deleting.root === before, deleting.wroteInPlace, before]).toEqual([false, false, { a: 1, b: 2 }]);
    expect(deleting.root).toEqual({ b: 2 });
  });

  it('rewinds a tree through later changes without touching it', () => {
    const tree = new TreeWriter(emptyTree());
    tree.set(['a'], 2);
    tree.set(['n', 'c'], 3);
    const now = tree.root;
    const then = rewind(now, 'p/', [
      [{ key: 'p/a', type: 'updated', previous: 1 }],
      [
        { key: 'p/n/c', type: 'added', previous: undefined },
        { key: 'p/b', type: 'deleted', previous: 'b' },
      ],
    ]);
    expect(then).toEqual({ a: 1, b: 'b' });
    expect(now).toEqual({ a: 2, n: { c: 3 } });
  });
});

describe('Subscription: a tree written in place', () => {
  it('writes the tree in place while nobody reads it, and every event still holds its own value', async () => {
    const { sub, put, events } = prefixSubscription();
    put({ 'p/a': '1', 'p/b': '2' });
    await sub.ready;
    put({ 'p/a': '10' });
    put({ 'p/c': '3' });
    put({ 'p/b': '20' });
    // Nobody read a value until now: the three changes went to one tree, in place.
    expect(events.map((event) => event.current)).toEqual([
      { a: 10, b: 2 },
      { a: 10, b: 2, c: 3 },
      { a: 10, b: 20, c: 3 },
    ]);
    expect(events[2]?.current).toBe(sub.current);
  });

  it('never changes a value once read: the next change copies', async () => {
    const { sub, put, events } = prefixSubscription();
    put({ 'p/a': '1', 'p/b': '2' });
    const first = await sub.ready;
    put({ 'p/a': '10' });
    const read = events[0]?.current;
    put({ 'p/b': '20' });
    put({ 'p/c': '3' });
    expect([first, read, sub.current]).toEqual([
      { a: 1, b: 2 },
      { a: 10, b: 2 },
      { a: 10, b: 20, c: 3 },
    ]);
    expect(events[0]?.current).toBe(read);
  });

  it('undoes the writes of a refused batch: the good value keeps serving as it was', async () => {
    const { sub, put, events } = prefixSubscription();
    const invalid: unknown[] = [];
    sub.on('invalid', (error) => invalid.push(error.issues.map((issue) => issue.key)));
    put({ 'p/a': '1', 'p/b': '2' });
    await sub.ready;
    put({ 'p/a': '10' });
    // `{bad` starts like a JSON object but is not one: the whole batch is refused.
    put({ 'p/a': '11', 'p/b': '{bad' });
    put({ 'p/c': '3' });
    expect(invalid).toEqual([['p/b'], ['p/b']]);
    expect(events.map((event) => event.current)).toEqual([{ a: 10, b: 2 }]);
    expect(sub.current).toEqual({ a: 10, b: 2 });
    put({ 'p/b': '2' });
    await settle();
    expect(events.map((event) => event.changes)).toEqual([
      [{ key: 'p/a', type: 'updated', value: 10, previous: 1 }],
      [
        { key: 'p/a', type: 'updated', value: 11, previous: 10 },
        { key: 'p/c', type: 'added', value: 3, previous: undefined },
      ],
    ]);
    expect([events[0]?.current, events[1]?.current]).toEqual([
      { a: 10, b: 2 },
      { a: 11, b: 2, c: 3 },
    ]);
  });
});

describe('Subscription with a record schema: an output written in place', () => {
  it('writes the output in place while nobody reads it, and every event still holds its own value', async () => {
    const { sub, put, events } = prefixSubscription(z.record(z.string(), z.object({ n: z.number() })));
    put({ 'p/a': '{"n":1}', 'p/b': '{"n":2}' });
    await expect(sub.ready).resolves.toEqual({ a: { n: 1 }, b: { n: 2 } });
    put({ 'p/a': '{"n":10}' });
    put({ 'p/c': '{"n":3}' });
    put({ 'p/b': '{"n":20}' });
    put({ 'p/a': undefined });
    expect(events.map((event) => event.current)).toEqual([
      { a: { n: 10 }, b: { n: 2 } },
      { a: { n: 10 }, b: { n: 2 }, c: { n: 3 } },
      { a: { n: 10 }, b: { n: 20 }, c: { n: 3 } },
      { b: { n: 20 }, c: { n: 3 } },
    ]);
    expect(events[3]?.current).toBe(sub.current);
    // Read now: the next change copies it.
    const held = sub.current;
    put({ 'p/d': '{"n":1}' });
    expect([held, sub.current]).toEqual([
      { b: { n: 20 }, c: { n: 3 } },
      { b: { n: 20 }, c: { n: 3 }, d: { n: 1 } },
    ]);
  });
});

describe('Subscription: an event read late, after later changes copied or rebuilt', () => {
  it('keeps a record output its own after a later change copied the output', async () => {
    const { sub, put, events } = prefixSubscription(z.record(z.string(), z.number()));
    put({ 'p/a': '1', 'p/b': '1' });
    await sub.ready;
    put({ 'p/a': '2' }); // event 0, not read
    await settle();
    put({ 'p/b': '2' }); // written in place over event 0's output
    await settle();
    expect(sub.current).toEqual({ a: 2, b: 2 }); // read: the next change copies
    put({ 'p/a': '3' }); // a copy, no undo
    await settle();
    expect(events.map((event) => event.current)).toEqual([
      { a: 2, b: 1 },
      { a: 2, b: 2 },
      { a: 3, b: 2 },
    ]);
  });

  it('keeps a record output its own after a later change validated the whole tree', async () => {
    const { sub, put, events } = prefixSubscription(z.record(z.string(), z.number()));
    put({ 'p/a': '1', 'p/b': '1' });
    await sub.ready;
    put({ 'p/a': '2' }); // event 0, not read
    put({ 'p/b': '2' }); // in place
    put({ 'p/a': undefined, 'p/c': '1' }); // a delete: whole validation, a new output
    put({ 'p/c': '5' }); // in place over the new output
    expect(events.map((event) => event.current)).toEqual([
      { a: 2, b: 1 },
      { a: 2, b: 2 },
      { b: 2, c: 1 },
      { b: 2, c: 5 },
    ]);
  });

  it('rewinds over a key that turned from a value into a folder', async () => {
    const { sub, put, events } = prefixSubscription();
    put({ 'p/db': '"x"', 'p/other': '1' });
    await sub.ready;
    put({ 'p/other': '2' }); // event 0: {db:'x', other:2}
    await settle();
    put({ 'p/db': undefined, 'p/db/host': '"h"' }); // one answer: db becomes a folder
    await settle();
    put({ 'p/other': '3' }); // copies the rebuilt tree
    await settle();
    put({ 'p/other': '4' }); // in place
    await settle();
    expect(events.map((event) => event.current)).toEqual([
      { db: 'x', other: 2 },
      { db: { host: 'h' }, other: 2 },
      { db: { host: 'h' }, other: 3 },
      { db: { host: 'h' }, other: 4 },
    ]);
  });

  it('rewinds over a folder that turned back into a value', async () => {
    const { sub, put, events } = prefixSubscription();
    put({ 'p/db/host': '"h"', 'p/other': '1' });
    await sub.ready;
    put({ 'p/other': '2' }); // event 0
    put({ 'p/db/host': undefined, 'p/db': '"x"' });
    put({ 'p/other': '3' });
    put({ 'p/other': '4' });
    expect(events.map((event) => event.current)).toEqual([
      { db: { host: 'h' }, other: 2 },
      { other: 2, db: 'x' },
      { other: 3, db: 'x' },
      { other: 4, db: 'x' },
    ]);
  });
});
