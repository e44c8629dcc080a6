import { describe, expect, it } from 'vitest';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import { Snapshot, sameContent } from '../../../src/watch/diff.js';

function entry(key: string, value: string | null, modifyIndex: number, flags = 0): KVEntry {
  return KVEntry.from({ key, value, modifyIndex, createIndex: 1, flags });
}

/** Changes without the entry objects, for readable exact comparisons. */
function summary(snapshot: Snapshot<KVEntry>, entries: KVEntry[]) {
  return snapshot.apply(entries).map((c) => ({
    key: c.key,
    type: c.type,
    now: c.entry?.modifyIndex,
    before: c.previous?.modifyIndex,
  }));
}

describe('Snapshot.apply', () => {
  it('reports every key of the first answer as added, in answer order', () => {
    const snapshot = new Snapshot<KVEntry>();
    expect(summary(snapshot, [entry('a/x', '1', 5), entry('a/y', '2', 6)])).toEqual([
      { key: 'a/x', type: 'added', now: 5, before: undefined },
      { key: 'a/y', type: 'added', now: 6, before: undefined },
    ]);
    expect(snapshot.size).toBe(2);
  });

  it('reports nothing for a wake-up where no ModifyIndex moved (consul-semantics §4 spurious return)', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', '1', 5), entry('a/y', '2', 6)]);
    expect(summary(snapshot, [entry('a/x', '1', 5), entry('a/y', '2', 6)])).toEqual([]);
  });

  it('reports a changed value as updated, carrying both versions', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', '1', 5), entry('a/y', '2', 6)]);
    const changes = snapshot.apply([entry('a/x', '1', 5), entry('a/y', '3', 9)]);
    expect(changes).toHaveLength(1);
    expect(changes[0]?.type).toBe('updated');
    expect(changes[0]?.entry?.text()).toBe('3');
    expect(changes[0]?.previous?.text()).toBe('2');
  });

  it('does not report a key whose ModifyIndex moved but whose value and flags are identical (consul-semantics §4)', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', 'same', 5, 7)]);
    expect(summary(snapshot, [entry('a/x', 'same', 11, 7)])).toEqual([]);
    // The snapshot took the new ModifyIndex, so the next answer with 11 is not compared again.
    expect(snapshot.get('a/x')?.modifyIndex).toBe(11);
  });

  it('reports a flags-only change as updated', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', 'same', 5, 0)]);
    expect(summary(snapshot, [entry('a/x', 'same', 6, 42)])).toEqual([
      { key: 'a/x', type: 'updated', now: 6, before: 5 },
    ]);
  });

  it('tells an empty value (null) from an empty-looking non-empty one', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', null, 5)]);
    expect(summary(snapshot, [entry('a/x', ' ', 6)])).toEqual([
      { key: 'a/x', type: 'updated', now: 6, before: 5 },
    ]);
    expect(summary(snapshot, [entry('a/x', null, 7)])).toEqual([
      { key: 'a/x', type: 'updated', now: 7, before: 6 },
    ]);
  });

  it('reports keys that disappeared as deleted, after the other changes', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', '1', 5), entry('a/y', '2', 6), entry('a/z', '3', 7)]);
    expect(summary(snapshot, [entry('a/w', '0', 9), entry('a/y', '2', 6)])).toEqual([
      { key: 'a/w', type: 'added', now: 9, before: undefined },
      { key: 'a/x', type: 'deleted', now: undefined, before: 5 },
      { key: 'a/z', type: 'deleted', now: undefined, before: 7 },
    ]);
    expect([...snapshot.entries()].map((e) => e.key)).toEqual(['a/w', 'a/y']);
  });

  it('reports every key as deleted when the prefix becomes empty (404 → [])', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', '1', 5), entry('a/y', '2', 6)]);
    expect(summary(snapshot, [])).toEqual([
      { key: 'a/x', type: 'deleted', now: undefined, before: 5 },
      { key: 'a/y', type: 'deleted', now: undefined, before: 6 },
    ]);
    expect(snapshot.size).toBe(0);
  });

  it('never decodes the value of a key whose ModifyIndex did not move', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/x', '1', 5)]);
    // Bad base64 would throw on access; same ModifyIndex means it is never read.
    const broken = new KVEntry({
      key: 'a/x',
      flags: 0,
      createIndex: 1,
      modifyIndex: 5,
      lockIndex: 0,
      session: undefined,
      value: '%%%not base64',
    });
    expect(snapshot.apply([broken])).toEqual([]);
  });

  it('keeps the first of a key listed twice in one answer', () => {
    const snapshot = new Snapshot<KVEntry>();
    expect(summary(snapshot, [entry('a/x', '1', 5), entry('a/x', '2', 6)])).toEqual([
      { key: 'a/x', type: 'added', now: 5, before: undefined },
    ]);
  });

  it('handles a one-key change in a 10,000-key prefix without reporting the others', () => {
    const snapshot = new Snapshot<KVEntry>();
    const keys = Array.from({ length: 10_000 }, (_, i) =>
      entry(`big/${String(i).padStart(5, '0')}`, `${i}`, i + 1),
    );
    snapshot.apply(keys);
    const next = keys.slice();
    next[4321] = entry('big/04321', 'changed', 20_000);
    expect(summary(snapshot, next)).toEqual([
      { key: 'big/04321', type: 'updated', now: 20_000, before: 4322 },
    ]);
  });

  it('matches keys by name when a key was added or deleted in the middle of a sorted answer', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/1', '1', 1), entry('a/2', '2', 2), entry('a/3', '3', 3), entry('a/4', '4', 4)]);
    expect(
      summary(snapshot, [
        entry('a/1', '1', 1),
        entry('a/3', '3', 3),
        entry('a/35', 'n', 9),
        entry('a/4', 'x', 8),
      ]),
    ).toEqual([
      { key: 'a/35', type: 'added', now: 9, before: undefined },
      { key: 'a/4', type: 'updated', now: 8, before: 4 },
      { key: 'a/2', type: 'deleted', now: undefined, before: 2 },
    ]);
    expect(summary(snapshot, [entry('a/1', '1', 1), entry('a/3', 'y', 10), entry('a/35', 'n', 9)])).toEqual([
      { key: 'a/3', type: 'updated', now: 10, before: 3 },
      { key: 'a/4', type: 'deleted', now: undefined, before: 8 },
    ]);
  });

  it('gives the same changes when the server lists keys out of order or twice', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a/1', '1', 1), entry('a/2', '2', 2), entry('a/3', '3', 3)]);
    expect(
      summary(snapshot, [
        entry('a/3', '3', 3),
        entry('a/1', 'x', 7),
        entry('a/3', 'dup', 8),
        entry('a/0', 'n', 9),
        entry('a/1', 'dup', 10),
      ]),
    ).toEqual([
      { key: 'a/1', type: 'updated', now: 7, before: 1 },
      { key: 'a/0', type: 'added', now: 9, before: undefined },
      { key: 'a/2', type: 'deleted', now: undefined, before: 2 },
    ]);
    // Back in order: the snapshot holds the first of each duplicate.
    expect(summary(snapshot, [entry('a/0', 'n', 9), entry('a/1', 'x', 7), entry('a/3', '3', 3)])).toEqual([]);
    expect([...snapshot.entries()].map((e) => [e.key, e.modifyIndex])).toEqual([
      ['a/0', 9],
      ['a/1', 7],
      ['a/3', 3],
    ]);
  });

  it('agrees with a plain by-key diff over random answers in any order', () => {
    // A small deterministic generator: the test must give the same answers on every run.
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const snapshot = new Snapshot<KVEntry>();
    const model = new Map<string, KVEntry>();
    // The last answer's keys, in its order, each once: the order deletions are reported in.
    let order: string[] = [];
    let index = 1;
    for (let round = 0; round < 300; round++) {
      const answer: KVEntry[] = [];
      for (let k = 0; k < 12; k++) {
        if (random(3) === 0) continue;
        const key = `r/${String(k).padStart(2, '0')}`;
        const kept = model.get(key);
        answer.push(kept !== undefined && random(4) !== 0 ? kept : entry(key, `${random(3)}`, index++));
      }
      const shape = random(4);
      if (shape === 1) answer.reverse();
      if (shape === 2 && answer.length > 1) answer.push(answer[random(answer.length)]!);
      if (shape === 3 && answer.length > 1) answer.splice(random(answer.length), 0, answer.pop()!);
      // The reference: by key, first occurrence wins, deletions last in the last answer's order.
      const expected: { key: string; type: string }[] = [];
      const seen = new Set<string>();
      for (const e of answer) {
        if (seen.has(e.key)) continue;
        seen.add(e.key);
        const before = model.get(e.key);
        if (before === undefined) {
          expected.push({ key: e.key, type: 'added' });
          model.set(e.key, e);
        } else if (before.modifyIndex !== e.modifyIndex) {
          if (!sameContent(before, e)) expected.push({ key: e.key, type: 'updated' });
          model.set(e.key, e);
        }
      }
      for (const key of order) {
        if (seen.has(key)) continue;
        model.delete(key);
        expected.push({ key, type: 'deleted' });
      }
      order = [...seen];
      expect(snapshot.apply(answer).map((c) => ({ key: c.key, type: c.type }))).toEqual(expected);
      expect([...snapshot.entries()]).toEqual(order.map((key) => model.get(key)));
    }
  });
});

describe('sameContent', () => {
  it('compares flags and bytes, never indexes', () => {
    expect(sameContent(entry('k', 'v', 1, 3), entry('k', 'v', 2, 3))).toBe(true);
    expect(sameContent(entry('k', 'v', 1, 3), entry('k', 'v', 1, 4))).toBe(false);
    expect(sameContent(entry('k', 'v', 1), entry('k', 'w', 1))).toBe(false);
  });
});

describe('Snapshot.apply with verifyValues (consul-semantics §3: a rebuilt cluster can reuse ModifyIndexes)', () => {
  it('trusts an equal ModifyIndex on ordinary answers', () => {
    const snapshot = new Snapshot<KVEntry>();
    snapshot.apply([entry('a', 'one', 2)]);
    expect(snapshot.apply([entry('a', 'two', 2)])).toEqual([]);
    expect(snapshot.get('a')?.text()).toBe('one');
  });

  it('compares the bytes under an equal ModifyIndex when asked, and keeps the new entry', () => {
    const snapshot = new Snapshot<KVEntry>();
    const before = entry('a', 'one', 2);
    snapshot.apply([before, entry('b', 'same', 3)]);
    const after = entry('a', 'two', 2);
    expect(snapshot.apply([after, entry('b', 'same', 3)], true)).toEqual([
      { key: 'a', type: 'updated', entry: after, previous: before },
    ]);
    expect(snapshot.get('a')).toBe(after);
  });
});
