/**
 * The merged tree of a layered config: precedence, key-by-key merging of objects, whole replacement of
 * everything else, the Consul key named for each path, and the per-value diff with moved winners.
 */
import { describe, expect, it } from 'vitest';
import { diffLeaves, type MergeLayer, mergeLayers } from '../../../src/config/layered-tree.js';

const SHARED = 'config/application/';
const APP = 'config/checkout/';
const PROFILE = 'config/checkout,prod/';

function layer(prefix: string, values: Record<string, unknown>): MergeLayer {
  return {
    prefix,
    entries: new Map(Object.entries(values).map(([path, value]) => [prefix + path, { value }])),
  };
}

describe('mergeLayers', () => {
  it('lets a profile key override the app key, which overrides the shared key', () => {
    const tree = mergeLayers([
      layer(SHARED, { 'db/host': 'shared', 'db/port': 5432, 'http/timeoutMs': 1000 }),
      layer(APP, { 'db/host': 'app', 'db/user': 'checkout' }),
      layer(PROFILE, { 'db/host': 'prod' }),
    ]);
    expect(tree.root).toEqual({
      db: { host: 'prod', port: 5432, user: 'checkout' },
      http: { timeoutMs: 1000 },
    });
    expect(tree.keyOf(['db', 'host'])).toBe('config/checkout,prod/db/host');
    expect(tree.keyOf(['db', 'user'])).toBe('config/checkout/db/user');
    expect(tree.keyOf(['db', 'port'])).toBe('config/application/db/port');
  });

  it('merges a JSON object held by one key with folders of other layers, key by key', () => {
    const tree = mergeLayers([
      layer(SHARED, { db: { host: 'shared', pool: { min: 1, max: 10 } } }),
      layer(APP, { 'db/pool/max': 20 }),
    ]);
    expect(tree.root).toEqual({ db: { host: 'shared', pool: { min: 1, max: 20 } } });
    expect(tree.keyOf(['db', 'pool', 'min'])).toBe('config/application/db');
    expect(tree.keyOf(['db', 'pool', 'max'])).toBe('config/checkout/db/pool/max');
    // The folder itself is named in the highest layer holding it, as a folder key.
    expect(tree.keyOf(['db', 'pool'])).toBe('config/checkout/db/pool/');
  });

  it('replaces arrays and plain values whole, and a value by a folder or a folder by a value', () => {
    const tree = mergeLayers([
      layer(SHARED, { hosts: ['a', 'b', 'c'], mode: 'x', 'cache/ttl': 5 }),
      layer(APP, { hosts: ['z'], 'mode/name': 'y', cache: 'off' }),
    ]);
    expect(tree.root).toEqual({ hosts: ['z'], mode: { name: 'y' }, cache: 'off' });
    expect(tree.keyOf(['hosts', 0])).toBe('config/checkout/hosts');
    expect(tree.keyOf(['cache', 'ttl'])).toBe('config/checkout/cache');
  });

  it('names a missing value at the key that would win: in the highest layer holding the folder above it', () => {
    const tree = mergeLayers([
      layer(SHARED, { 'db/port': 1 }),
      layer(APP, { 'http/x': 1 }),
      layer(PROFILE, {}),
    ]);
    expect(tree.keyOf(['db', 'host'])).toBe('config/application/db/host');
    expect(tree.keyOf(['stripe', 'key'])).toBe('config/checkout,prod/stripe');
    expect(tree.keyOf([])).toBe('config/checkout,prod/');
  });

  it('never mutates the decoded values it merges (the watcher shares them)', () => {
    const shared = { db: { host: 'shared', port: 1 } };
    const frozen = structuredClone(shared);
    const tree = mergeLayers([layer(SHARED, shared), layer(APP, { 'db/port': 2 })]);
    expect(tree.root).toEqual({ db: { host: 'shared', port: 2 } });
    expect(shared).toEqual(frozen);
  });

  it('keeps a key named __proto__ an own property', () => {
    const tree = mergeLayers([layer(SHARED, { '__proto__/polluted': true })]);
    expect(Object.hasOwn(tree.root, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('diffLeaves', () => {
  it('names the key that wins now, and the one that won before when it moved', () => {
    const before = mergeLayers([
      layer(SHARED, { 'db/host': 'shared', 'db/port': 1 }),
      layer(APP, { 'db/host': 'app', 'db/port': 1, gone: true }),
    ]);
    const after = mergeLayers([
      layer(SHARED, { 'db/host': 'shared', 'db/port': 1 }),
      layer(APP, { 'db/user': 'u' }),
    ]);
    expect(diffLeaves(before.leaves(), after.leaves())).toEqual([
      {
        path: ['db', 'host'],
        type: 'updated',
        key: 'config/application/db/host',
        layer: SHARED,
        previousKey: 'config/checkout/db/host',
        value: 'shared',
        previous: 'app',
      },
      // Same value, but another layer supplies it now.
      {
        path: ['db', 'port'],
        type: 'updated',
        key: 'config/application/db/port',
        layer: SHARED,
        previousKey: 'config/checkout/db/port',
        value: 1,
        previous: 1,
      },
      {
        path: ['db', 'user'],
        type: 'added',
        key: 'config/checkout/db/user',
        layer: APP,
        previousKey: undefined,
        value: 'u',
        previous: undefined,
      },
      {
        path: ['gone'],
        type: 'deleted',
        key: undefined,
        layer: undefined,
        previousKey: 'config/checkout/gone',
        value: undefined,
        previous: true,
      },
    ]);
  });

  it('lists nothing when the same keys supply the same values', () => {
    const a = mergeLayers([layer(SHARED, { x: [1, 2], 'y/z': 'q' })]);
    const b = mergeLayers([layer(SHARED, { x: [1, 2], 'y/z': 'q' })]);
    expect(diffLeaves(a.leaves(), b.leaves())).toEqual([]);
  });
});
