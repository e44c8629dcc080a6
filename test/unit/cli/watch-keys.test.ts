/**
 * The per-key decoder and tracker of `watch` (src/cli/watch-keys.ts), without a server.
 */
import { describe, expect, it } from 'vitest';
import {
  DecodeFailure,
  INVALID,
  KeyTracker,
  keyDecoder,
  printable,
  REDACTED,
} from '../../../src/cli/watch-keys.js';
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
    expect(keyDecoder('text', 'k')(bytes('\uFEFFon'), 'k')).toBe('\uFEFFon');
    expect(keyDecoder('text', 'k')(null, 'k')).toBe('');
    expect(keyDecoder('json', 'k')(bytes('\uFEFF{"a":1}'), 'k')).toEqual({ a: 1 });
    expect(keyDecoder('json', 'k')(bytes(''), 'k')).toBeUndefined();
    expect(keyDecoder('yaml', 'k')(bytes('a: [1, 2]'), 'k')).toEqual({ a: [1, 2] });
    expect(keyDecoder('yaml', 'k')(null, 'k')).toBeUndefined();
  });

  it('returns a DecodeFailure naming the format instead of throwing', () => {
    expect(keyDecoder('json', 'k')(bytes('[on'), 'k')).toEqual(
      new DecodeFailure(`not valid JSON: Unexpected token 'o', "[on" is not valid JSON`),
    );
    const yaml = keyDecoder('yaml', 'k')(bytes('[on'), 'k');
    expect(yaml).toBeInstanceOf(DecodeFailure);
    expect((yaml as DecodeFailure).reason).toMatch(/^not valid YAML: Flow sequence must end with a \]/);
  });
});

describe('redaction', () => {
  it('redacts the value of a secret-looking key once it decodes, and names only the format when it does not', () => {
    const json = keyDecoder('json', 'app/');
    expect(json(bytes('"hunter2"'), 'app/db/password')).toBe(REDACTED);
    expect(json(bytes('{hunter2'), 'app/api-key')).toEqual(new DecodeFailure('not valid JSON'));
    expect(keyDecoder('text', 'app/db/token')(bytes('t0k3n'), 'app/db/token')).toBe(REDACTED);
    expect(json(bytes('5432'), 'app/db/port')).toBe(5432);
  });

  it('judges only the part of the key below a watched prefix, which names the application', () => {
    const decode = keyDecoder('text', 'config/auth-service/');
    expect(decode(bytes('8080'), 'config/auth-service/port')).toBe('8080');
    expect(decode(bytes('s3cr3t'), 'config/auth-service/client-secret')).toBe(REDACTED);
  });

  it('redacts secret-looking fields inside printed values and leaves out keys that do not decode', () => {
    const value = { user: 'app', password: 'hunter2', nested: { apiKey: 'k' }, list: ['token'] };
    expect(JSON.stringify({ value, previous: new DecodeFailure('bad') }, printable)).toBe(
      '{"value":{"user":"app","password":"[redacted]","nested":{"apiKey":"[redacted]"},"list":["token"]}}',
    );
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
