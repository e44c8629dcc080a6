import { afterEach, describe, expect, it } from 'vitest';
import { KvStore, type TxnKvOp } from '../../../src/devserver/store.js';

const TTL_MS = 60_000;

function createStore() {
  let nowMs = 1_000;
  const commits: string[][] = [];
  const store = new KvStore({
    tombstoneTtlMs: TTL_MS,
    now: () => nowMs,
    onCommit: (keys) => commits.push([...keys]),
  });
  return {
    store,
    commits,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

const value = (text: string) => Buffer.from(text);
const op = (verb: string, key: string, extra: Partial<TxnKvOp> = {}): TxnKvOp => ({
  verb,
  key,
  value: null,
  flags: 0n,
  index: 0n,
  session: '',
  ...extra,
});

let current: KvStore | undefined;
afterEach(() => current?.dispose());

function setup() {
  const created = createStore();
  current = created.store;
  return created;
}

describe('KvStore indexes (consul-semantics §3)', () => {
  it('starts at raft index 1 with a whole-KV index of 1, and gives the first user write index 2', () => {
    const { store } = setup();
    expect(store.index()).toBe(1);
    expect(store.wholeIndex()).toBe(1);
    expect(store.set('a', value('1'), 0n).modifyIndex).toBe(2);
    expect(store.index()).toBe(2);
  });

  it('keeps CreateIndex and moves ModifyIndex on every real change', () => {
    const { store } = setup();
    store.set('a', value('1'), 0n);
    store.set('b', value('1'), 0n);
    const updated = store.set('a', value('2'), 0n);
    expect(updated).toMatchObject({ key: 'a', createIndex: 2, modifyIndex: 4 });
  });

  it('changes nothing and notifies nobody when the same value and flags are written again (consul-semantics §2)', () => {
    const { store, commits } = setup();
    store.set('a', value('same'), 7n);
    const again = store.set('a', value('same'), 7n);
    expect(again.modifyIndex).toBe(2);
    expect(store.index()).toBe(2);
    expect(commits).toEqual([['a']]);
  });

  it('bumps ModifyIndex when only the flags change', () => {
    const { store } = setup();
    store.set('a', value('same'), 0n);
    expect(store.set('a', value('same'), 1n).modifyIndex).toBe(3);
  });

  it('treats an empty value and null as the same value', () => {
    const { store, commits } = setup();
    store.set('a', null, 0n);
    store.set('a', null, 0n);
    expect(commits).toEqual([['a']]);
  });

  it('reports the ModifyIndex for an existing key and the whole-KV index for a missing one', () => {
    const { store } = setup();
    store.set('a', value('1'), 0n);
    store.set('b', value('1'), 0n);
    expect(store.get('a').index).toBe(2);
    expect(store.get('missing')).toEqual({ value: undefined, index: 3 });
  });

  it('reports the highest index under a prefix, and the whole-KV index when nothing matches or the prefix is empty', () => {
    const { store } = setup();
    store.set('app/a', value('1'), 0n); // 2
    store.set('app/b', value('1'), 0n); // 3
    store.set('other', value('1'), 0n); // 4
    expect(store.list('app/').index).toBe(3);
    expect(store.list('nothing/').index).toBe(4);
    expect(store.list('').index).toBe(4);
  });

  it('matches prefixes as raw strings, so app matches apple too (consul-semantics §2)', () => {
    const { store } = setup();
    store.set('app/x', value('1'), 0n);
    store.set('apple', value('1'), 0n);
    store.set('b', value('1'), 0n);
    expect(store.list('app').value.map((entry) => entry.key)).toEqual(['app/x', 'apple']);
  });

  it('lists keys in byte order of their UTF-8 form', () => {
    const { store } = setup();
    for (const key of ['b', '\u{1F600}', 'a', '\uFFFD', 'B', 'a/b', 'a-']) store.set(key, value('1'), 0n);
    expect(store.list('').value.map((entry) => entry.key)).toEqual([
      'B',
      'a',
      'a-',
      'a/b',
      'b',
      '\uFFFD',
      '\u{1F600}',
    ]);
  });
});

describe('KvStore keys and separator (consul-semantics §2)', () => {
  it('folds keys after the first separator following the prefix, deduplicated', () => {
    const { store } = setup();
    for (const key of ['app/a', 'app/b/c', 'app/b/d', 'app/e/f/g', 'apple']) store.set(key, value('1'), 0n);
    expect(store.keys('app/', '/').value).toEqual(['app/a', 'app/b/', 'app/e/']);
    expect(store.keys('app', '/').value).toEqual(['app/', 'apple']);
    expect(store.keys('app/', '').value).toEqual(['app/a', 'app/b/c', 'app/b/d', 'app/e/f/g']);
  });

  it('counts folded-away keys toward the index', () => {
    const { store } = setup();
    store.set('app/b/c', value('1'), 0n); // 2
    store.set('app/b/d', value('1'), 0n); // 3
    expect(store.keys('app/', '/')).toEqual({ value: ['app/b/'], index: 3 });
  });
});

describe('KvStore tombstones (consul-semantics §3)', () => {
  it('keeps a prefix index from going backwards when its newest key is deleted', () => {
    const { store } = setup();
    store.set('app/a', value('1'), 0n); // 2
    store.set('app/b', value('1'), 0n); // 3
    store.delete('app/b'); // 4, tombstone at app/b
    expect(store.list('app/')).toMatchObject({ index: 4 });
    expect(store.tombstoneCount).toBe(1);
  });

  it('puts one tombstone at the prefix for a prefix delete', () => {
    const { store } = setup();
    store.set('app/a', value('1'), 0n); // 2
    store.set('app/b', value('1'), 0n); // 3
    store.set('zzz', value('1'), 0n); // 4
    store.deleteTree('app/'); // 5
    expect(store.tombstoneCount).toBe(1);
    expect(store.list('app/')).toEqual({ value: [], index: 5 });
    expect(store.list('app')).toEqual({ value: [], index: 5 });
    // The tombstone sits at "app/", which is not under "app/a".
    expect(store.list('app/a').index).toBe(5);
  });

  it('leaves no tombstone when the empty prefix is deleted, yet the whole-KV index moves', () => {
    const { store } = setup();
    store.set('a', value('1'), 0n);
    store.deleteTree('');
    expect(store.tombstoneCount).toBe(0);
    expect(store.list('')).toEqual({ value: [], index: 3 });
  });

  it('changes nothing when a missing key or an empty prefix is deleted', () => {
    const { store, commits } = setup();
    store.set('a', value('1'), 0n);
    store.delete('missing');
    store.deleteTree('nothing/');
    expect(store.index()).toBe(2);
    expect(store.tombstoneCount).toBe(0);
    expect(commits).toEqual([['a']]);
  });

  it('reaps tombstones after the TTL on the next read, so the prefix index goes backwards', () => {
    const { store, advance } = setup();
    store.set('app/a', value('1'), 0n); // 2
    store.set('app/b', value('1'), 0n); // 3
    store.delete('app/b'); // 4
    advance(TTL_MS - 1);
    expect(store.list('app/').index).toBe(4);
    advance(1);
    expect(store.list('app/').index).toBe(2);
    expect(store.tombstoneCount).toBe(0);
    // The whole-KV index never goes backwards.
    expect(store.wholeIndex()).toBe(4);
  });

  it('reaps only the tombstones that are old enough when asked explicitly', () => {
    const { store, advance } = setup();
    store.set('a', value('1'), 0n);
    store.set('b', value('1'), 0n);
    store.delete('a');
    advance(TTL_MS / 2);
    store.delete('b');
    advance(TTL_MS / 2);
    expect(store.reapTombstones()).toBe(1);
    expect(store.tombstoneCount).toBe(1);
  });

  it('makes a prefix with only reaped tombstones report the whole-KV index again', () => {
    const { store, advance } = setup();
    store.set('app/a', value('1'), 0n); // 2
    store.delete('app/a'); // 3
    store.set('other', value('1'), 0n); // 4
    expect(store.list('app/').index).toBe(3);
    advance(TTL_MS);
    expect(store.list('app/').index).toBe(4);
  });
});

describe('KvStore tombstone cost (consul-semantics §3)', () => {
  it('visits only the tombstones under the prefix it reads, however many others exist', () => {
    const { store } = createStore();
    for (let i = 0; i < 1_000; i++) store.set(`gone/${i}`, value('x'), 0n);
    for (let i = 0; i < 1_000; i++) store.delete(`gone/${i}`);
    store.set('live/a', value('1'), 0n);
    store.set('live/b', value('2'), 0n);
    store.delete('live/b');
    store.set('live/c', value('3'), 0n);
    store.delete('live/c');
    const deletedAt = store.index();
    store.set('livestock', value('not under live/'), 0n);
    expect(store.tombstoneCount).toBe(1_002);
    const before = store.tombstonesVisited;
    for (let read = 0; read < 10; read++) expect(store.list('live/').index).toBe(deletedAt);
    expect(store.keys('live/', '/').index).toBe(deletedAt);
    expect(store.tombstonesVisited - before).toBe(22);
  });

  it('forgets reaped tombstones in the sorted index too', () => {
    const { store, advance } = createStore();
    store.set('p/a', value('1'), 0n);
    store.set('p/b', value('2'), 0n);
    store.delete('p/b');
    advance(TTL_MS);
    expect(store.list('p/').index).toBe(2);
    const before = store.tombstonesVisited;
    store.list('p/');
    expect([store.tombstoneCount, store.tombstonesVisited - before]).toEqual([0, 0]);
  });
});

describe('KvStore CAS (consul-semantics §2)', () => {
  it('sets with cas=0 only when the key is absent', () => {
    const { store } = setup();
    expect(store.cas('a', value('1'), 0n, 0n)).toBe(true);
    expect(store.cas('a', value('2'), 0n, 0n)).toBe(false);
    expect(store.get('a').value?.value?.toString()).toBe('1');
  });

  it('sets with cas=N only when the key exists at ModifyIndex N', () => {
    const { store } = setup();
    expect(store.cas('a', value('1'), 0n, 5n)).toBe(false);
    store.set('a', value('1'), 0n); // 2
    expect(store.cas('a', value('2'), 0n, 3n)).toBe(false);
    expect(store.cas('a', value('2'), 0n, 2n)).toBe(true);
    expect(store.get('a').value?.modifyIndex).toBe(3);
  });

  it('deletes with cas when the index matches or the key is absent, and refuses otherwise', () => {
    const { store } = setup();
    expect(store.deleteCas('missing', 9n)).toBe(true);
    store.set('a', value('1'), 0n); // 2
    expect(store.deleteCas('a', 0n)).toBe(false);
    expect(store.deleteCas('a', 3n)).toBe(false);
    expect(store.deleteCas('a', 2n)).toBe(true);
    expect(store.get('a').value).toBeUndefined();
  });
});

describe('KvStore transactions (consul-semantics §6)', () => {
  it('gives every write of a transaction the same new index and reads its own writes', () => {
    const { store, commits } = setup();
    const outcome = store.runTxn([
      op('set', 'a', { value: value('1') }),
      op('set', 'b', { value: value('2'), flags: 3n }),
      op('get', 'a'),
    ]);
    expect(outcome).toEqual({
      ok: true,
      results: [
        { entry: expect.objectContaining({ key: 'a', modifyIndex: 2 }), withValue: false },
        { entry: expect.objectContaining({ key: 'b', modifyIndex: 2, flags: 3n }), withValue: false },
        { entry: expect.objectContaining({ key: 'a', value: value('1') }), withValue: true },
      ],
    });
    expect(commits).toEqual([['a', 'b']]);
  });

  it('reports every failing op with Consul texts and rolls everything back', () => {
    const { store, commits } = setup();
    store.set('exists', value('1'), 0n); // 2
    const outcome = store.runTxn([
      op('set', 'new', { value: value('x') }),
      op('get', 'missing'),
      op('check-not-exists', 'exists'),
      op('cas', 'exists', { index: 9n }),
      op('delete-cas', 'exists', { index: 9n }),
      op('check-index', 'missing', { index: 2n }),
      op('check-index', 'exists', { index: 7n }),
      op('frobnicate', 'exists'),
    ]);
    expect(outcome).toEqual({
      ok: false,
      errors: [
        { opIndex: 1, what: 'key "missing" doesn\'t exist' },
        { opIndex: 2, what: 'key "exists" exists' },
        { opIndex: 3, what: 'failed to set key "exists", index is stale' },
        { opIndex: 4, what: 'failed to delete key "exists", index is stale' },
        { opIndex: 5, what: 'failed to check index, key "missing" doesn\'t exist' },
        { opIndex: 6, what: 'failed index check for key "exists", current modify index 2 != 7' },
        { opIndex: 7, what: 'unknown KV verb "frobnicate"' },
      ],
    });
    expect(store.get('new').value).toBeUndefined();
    expect(store.index()).toBe(2);
    expect(commits).toEqual([['exists']]);
  });

  it('rejects an empty key for every verb but delete-tree before running anything', () => {
    const { store } = setup();
    expect(store.runTxn([op('set', 'a'), op('get', ''), op('delete-tree', '')])).toEqual({
      ok: false,
      errors: [{ opIndex: 1, what: 'Must provide key' }],
    });
    expect(store.index()).toBe(1);
  });

  it('answers get-or-empty, get-tree, check-index and deletes with the documented results', () => {
    const { store } = setup();
    store.set('t/a', value('1'), 0n); // 2
    store.set('t/b', value('2'), 0n); // 3
    const outcome = store.runTxn([
      op('get-or-empty', 'nope'),
      op('get-tree', 't/'),
      op('check-index', 't/a', { index: 2n }),
      op('check-not-exists', 'nope'),
      op('delete', 't/a'),
      op('delete-tree', 't/'),
    ]);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.results.map((result) => [result.entry.key, result.withValue])).toEqual([
      ['nope', true],
      ['t/a', true],
      ['t/b', true],
      ['t/a', false],
    ]);
    expect(store.list('t/').value).toEqual([]);
    expect(store.tombstoneCount).toBe(2);
  });

  it('commits nothing for a read-only transaction', () => {
    const { store, commits } = setup();
    store.set('a', value('1'), 0n);
    expect(store.runTxn([op('get', 'a')]).ok).toBe(true);
    expect(store.index()).toBe(2);
    expect(commits).toEqual([['a']]);
  });
});
