import { describe, expect, it } from 'vitest';
import { buildTree, emptyTree, isFolder, locate, TreeWriter, treePath } from '../../../src/watch/tree.js';

describe('treePath', () => {
  it('splits a key below the prefix into segments', () => {
    expect(treePath('config/app/', 'config/app/db/host')).toEqual(['db', 'host']);
  });

  it('skips folder keys ending in / and the prefix itself', () => {
    expect(treePath('config/app/', 'config/app/db/')).toBeUndefined();
    expect(treePath('config/app/', 'config/app/')).toBeUndefined();
  });
});

describe('TreeWriter', () => {
  it('assembles nested objects from key paths', () => {
    const writer = new TreeWriter(emptyTree());
    writer.set(['db', 'host'], 'h');
    writer.set(['db', 'port'], 5432);
    writer.set(['name'], 'app');
    expect(writer.root).toEqual({ db: { host: 'h', port: 5432 }, name: 'app' });
  });

  it('copies only the folders along the changed path: untouched subtrees keep their identity', () => {
    const first = new TreeWriter(emptyTree());
    first.set(['db', 'host'], 'h');
    first.set(['cache', 'ttl'], 5);
    const before = first.root;
    const second = new TreeWriter(before);
    second.set(['db', 'host'], 'h2');
    const after = second.root;
    expect(after).not.toBe(before);
    expect(after.db).not.toBe(before.db);
    expect(after.cache).toBe(before.cache);
    expect(before).toEqual({ db: { host: 'h' }, cache: { ttl: 5 } });
    expect(after).toEqual({ db: { host: 'h2' }, cache: { ttl: 5 } });
  });

  it('copies a folder once per batch, however many keys below it change', () => {
    const base = new TreeWriter(emptyTree());
    base.set(['db', 'host'], 'h');
    const writer = new TreeWriter(base.root);
    writer.set(['db', 'host'], 'x');
    const db = writer.root.db;
    writer.set(['db', 'port'], 1);
    expect(writer.root.db).toBe(db);
    expect(writer.root).toEqual({ db: { host: 'x', port: 1 } });
  });

  it('removes a deleted key and the folders it leaves empty, but never the root', () => {
    const writer = new TreeWriter(emptyTree());
    writer.set(['a', 'b', 'c'], 1);
    writer.set(['a', 'd'], 2);
    writer.delete(['a', 'b', 'c']);
    expect(writer.root).toEqual({ a: { d: 2 } });
    writer.delete(['a', 'd']);
    expect(writer.root).toEqual({});
    expect(isFolder(writer.root)).toBe(true);
  });

  it('leaves the original tree untouched on delete', () => {
    const base = new TreeWriter(emptyTree());
    base.set(['a', 'b'], 1);
    base.set(['c'], 2);
    const original = base.root;
    const writer = new TreeWriter(original);
    writer.delete(['a', 'b']);
    expect(writer.root).toEqual({ c: 2 });
    expect(original).toEqual({ a: { b: 1 }, c: 2 });
  });

  it('reports a key that holds a value and is also a folder, in either order', () => {
    const valueFirst = new TreeWriter(emptyTree());
    valueFirst.set(['db'], 'x');
    expect(valueFirst.set(['db', 'host'], 'h')).toEqual({ valuePath: ['db'], nestedPath: ['db', 'host'] });
    const folderFirst = new TreeWriter(emptyTree());
    folderFirst.set(['db', 'host'], 'h');
    expect(folderFirst.set(['db'], 'x')).toEqual({ valuePath: ['db'], nestedPath: ['db', 'host'] });
    expect(folderFirst.root).toEqual({ db: { host: 'h' } });
  });

  it('treats a decoded object as a value, not a folder', () => {
    const writer = new TreeWriter(emptyTree());
    writer.set(['db'], { host: 'h' });
    expect(writer.set(['db', 'port'], 1)).toEqual({ valuePath: ['db'], nestedPath: ['db', 'port'] });
  });

  it('stores a segment named __proto__ as a property without touching the prototype', () => {
    const writer = new TreeWriter(emptyTree());
    writer.set(['__proto__', 'polluted'], true);
    expect(Object.keys(writer.root)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(writer.root)).toBe(Object.prototype);
  });
});

describe('buildTree', () => {
  it('lists every conflict, independent of arrival order', () => {
    const { conflicts } = buildTree([
      [['db', 'host'], 'h'],
      [['db'], 'x'],
      [['cache'], 1],
      [['cache', 'ttl'], 2],
    ]);
    expect(conflicts).toEqual([
      { valuePath: ['cache'], nestedPath: ['cache', 'ttl'] },
      { valuePath: ['db'], nestedPath: ['db', 'host'] },
    ]);
  });
});

describe('locate', () => {
  const writer = new TreeWriter(emptyTree());
  writer.set(['db', 'host'], 'h');
  writer.set(['db', 'options'], { ssl: 'yes' });
  const root = writer.root;

  it('names the key holding a value, the rest of the path being inside that value', () => {
    expect(locate(root, ['db', 'options', 'ssl'])).toEqual({ keyPath: ['db', 'options'], folder: false });
  });

  it('names the missing key that would satisfy the path', () => {
    expect(locate(root, ['db', 'port'])).toEqual({ keyPath: ['db', 'port'], folder: false });
  });

  it('reports a path ending at a folder', () => {
    expect(locate(root, ['db'])).toEqual({ keyPath: ['db'], folder: true });
    expect(locate(root, [])).toEqual({ keyPath: [], folder: true });
  });
});
