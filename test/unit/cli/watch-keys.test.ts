/**
 * The per-key decoder and tracker of `watch` (src/cli/watch-keys.ts), without a server.
 */
import { describe, expect, it } from 'vitest';
import { DecodeFailure, INVALID, KeyTracker, keyDecoder } from '../../../src/cli/watch-keys.js';
import type { ChangeEvent, KeyChange, WatchedEntry } from '../../../src/watch/types.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

function entries(values: Record<string, unknown>): Map<string, WatchedEntry> {
  return new Map(Object.entries(values).map(([key, value]) => [key, { value, modifyIndex: 1, flags: 0 }]));
}

function event(index: number, changes: KeyChange[]): ChangeEvent<unknown> {
  return { index, changes, current: undefined };
}

describe('keyDecoder', () => {
  it('decodes like the engine: text as is, JSON and YAML without a BOM, an empty value as undefined', () => {
    expect(keyDecoder('text')(bytes('\uFEFFon'), 'k')).toBe('\uFEFFon');
    expect(keyDecoder('text')(null, 'k')).toBe('');
    expect(keyDecoder('json')(bytes('\uFEFF{"a":1}'), 'k')).toEqual({ a: 1 });
    expect(keyDecoder('json')(bytes(''), 'k')).toBeUndefined();
    expect(keyDecoder('yaml')(bytes('a: [1, 2]'), 'k')).toEqual({ a: [1, 2] });
    expect(keyDecoder('yaml')(null, 'k')).toBeUndefined();
  });

  it('returns a DecodeFailure naming the format instead of throwing', () => {
    expect(keyDecoder('json')(bytes('on'), 'k')).toEqual(
      new DecodeFailure(`not valid JSON: Unexpected token 'o', "on" is not valid JSON`),
    );
    const yaml = keyDecoder('yaml')(bytes('[on'), 'k');
    expect(yaml).toBeInstanceOf(DecodeFailure);
    expect((yaml as DecodeFailure).reason).toMatch(/^not valid YAML: Flow sequence must end with a \]/);
  });
});

describe('KeyTracker', () => {
  it('reports only the invalid keys of the first answer, with their path below the prefix', () => {
    const tracker = new KeyTracker('app/');
    const error = tracker.start(entries({ 'app/a': 1, 'app/db/b': new DecodeFailure('bad') }));
    expect(error?.issues).toEqual([{ key: 'app/db/b', path: ['db', 'b'], message: 'bad' }]);
    expect(new KeyTracker('app/').start(entries({ 'app/a': 1 }))).toBeUndefined();
  });

  it('reports a fixed key against its last valid value, or as added when it never had one', () => {
    const tracker = new KeyTracker('app/');
    tracker.start(entries({ 'app/a': 1, 'app/b': new DecodeFailure('bad') }));
    const broken = tracker.apply(
      event(5, [{ key: 'app/a', type: 'updated', value: new DecodeFailure('worse'), previous: 1 }]),
    );
    expect(broken.changes).toEqual([]);
    expect(broken.invalid?.issues).toEqual([{ key: 'app/a', path: ['a'], message: 'worse' }]);
    const failure = new DecodeFailure('x');
    expect(
      tracker.apply(
        event(6, [
          { key: 'app/a', type: 'updated', value: 2, previous: failure },
          { key: 'app/b', type: 'updated', value: 3, previous: failure },
        ]),
      ),
    ).toEqual({
      changes: [
        { key: 'app/a', type: 'updated', value: 2, previous: 1 },
        { key: 'app/b', type: 'added', value: 3, previous: undefined },
      ],
      invalid: undefined,
    });
  });

  it('reports a deleted key that never decoded with INVALID as its previous value', () => {
    const tracker = new KeyTracker('app/k');
    tracker.start(entries({ 'app/k': new DecodeFailure('bad') }));
    const report = tracker.apply(
      event(7, [{ key: 'app/k', type: 'deleted', value: undefined, previous: new DecodeFailure('bad') }]),
    );
    expect(report.changes).toEqual([{ key: 'app/k', type: 'deleted', value: undefined, previous: INVALID }]);
  });
});
