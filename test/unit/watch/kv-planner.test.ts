import { describe, expect, it } from 'vitest';
import type { Consistency } from '../../../src/consul/config.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { planRoots } from '../../../src/watch/kv-planner.js';
import { resolveWatcherOptions } from '../../../src/watch/options.js';
import type { KvTarget } from '../../../src/watch/query-kv.js';

function target(key: string, consistency: Consistency = 'default'): KvTarget {
  const kind = key.endsWith('/') ? 'prefix' : 'key';
  return { id: `${kind}\u0000${consistency}\u0000${key}`, key, kind, consistency };
}

/** The plan as lists of member keys. */
function plan(keys: readonly (string | KvTarget)[], budget: number): string[][] {
  const targets = keys.map((key) => (typeof key === 'string' ? target(key) : key));
  return planRoots(targets, budget).map((group) => group.map((member) => member.key));
}

describe('planRoots', () => {
  it('keeps every target on its own while they fit the budget', () => {
    expect(plan(['b/1', 'a/1', 'a/2'], 3)).toEqual([['a/1'], ['a/2'], ['b/1']]);
  });

  it('merges the targets that share the deepest folder first, every such folder at once', () => {
    const keys = ['app/a/x/1', 'app/a/x/2', 'app/a/y/1', 'app/b/1', 'app/b/2', 'other/1'];
    // 6 > 5: the depth-3 folder app/a/x/ merges (5 groups), which fits.
    expect(plan(keys, 5)).toEqual([
      ['app/a/x/1', 'app/a/x/2'],
      ['app/a/y/1'],
      ['app/b/1'],
      ['app/b/2'],
      ['other/1'],
    ]);
    // 4: the depth-2 folders app/a/ and app/b/ both merge at once.
    expect(plan(keys, 4)).toEqual([
      ['app/a/x/1', 'app/a/x/2', 'app/a/y/1'],
      ['app/b/1', 'app/b/2'],
      ['other/1'],
    ]);
    expect(plan(keys, 2)).toEqual([
      ['app/a/x/1', 'app/a/x/2', 'app/a/y/1', 'app/b/1', 'app/b/2'],
      ['other/1'],
    ]);
    // Nothing in common but the whole KV (folder '').
    expect(plan(keys, 1)).toEqual([keys]);
  });

  it('puts a watched prefix together with the keys below it', () => {
    expect(plan(['cfg/app/', 'cfg/app/db/host', 'cfg/other'], 2)).toEqual([
      ['cfg/app/', 'cfg/app/db/host'],
      ['cfg/other'],
    ]);
  });

  it('never merges targets of different consistencies', () => {
    const keys = [target('a/1'), target('a/2', 'stale'), target('a/3')];
    expect(plan(keys, 1)).toEqual([['a/1', 'a/3'], ['a/2']]);
  });

  it('plans 500 keys in 5 folders as the 5 folders', () => {
    const keys: string[] = [];
    for (let folder = 0; folder < 5; folder++)
      for (let i = 0; i < 100; i++) keys.push(`config/svc-${folder}/key-${i}`);
    const groups = plan(keys, 32);
    expect(groups.map((group) => group.length)).toEqual([100, 100, 100, 100, 100]);
  });
});

describe('maxBlockingQueries', () => {
  it('defaults to 32', () => {
    expect(resolveWatcherOptions({}).maxBlockingQueries).toBe(32);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s, naming the option', (value) => {
    expect(() => resolveWatcherOptions({ maxBlockingQueries: value })).toThrow(InvalidArgumentError);
    expect(() => resolveWatcherOptions({ maxBlockingQueries: value })).toThrow(
      `Watcher: maxBlockingQueries must be a whole number above 0; got ${value}`,
    );
  });
});
