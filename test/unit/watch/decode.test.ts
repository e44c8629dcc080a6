import { describe, expect, it, vi } from 'vitest';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import { DecodeCache, decoderFor, describeReceived } from '../../../src/watch/decode.js';

function entry(key: string, value: string | null, modifyIndex = 5): KVEntry {
  return KVEntry.from({ key, value, modifyIndex, createIndex: 1 });
}

describe('built-in formats', () => {
  const bytes = (text: string) => Buffer.from(text);

  it('text decodes UTF-8 and an empty value to an empty string', () => {
    expect(decoderFor('text')(bytes('héllo'), 'k')).toBe('héllo');
    expect(decoderFor('text')(null, 'k')).toBe('');
  });

  it('json parses, ignores a leading BOM, and decodes an empty value to undefined', () => {
    expect(decoderFor('json')(bytes('{"a":[1,true]}'), 'k')).toEqual({ a: [1, true] });
    expect(decoderFor('json')(bytes('\uFEFF42'), 'k')).toBe(42);
    expect(decoderFor('json')(null, 'k')).toBeUndefined();
  });

  it('yaml parses one document and decodes an empty value to undefined', () => {
    expect(decoderFor('yaml')(bytes('db:\n  host: h\n  port: 5432\n'), 'k')).toEqual({
      db: { host: 'h', port: 5432 },
    });
    expect(decoderFor('yaml')(null, 'k')).toBeUndefined();
  });

  it('passes a custom decoder through, with the raw bytes and the key', () => {
    const custom = vi.fn((value: Buffer | null, key: string) => `${key}=${value?.toString('hex')}`);
    expect(decoderFor(custom)(bytes('A'), 'x')).toBe('x=41');
  });
});

describe('DecodeCache', () => {
  it('decodes a key once per ModifyIndex and format, however often it is asked', () => {
    const cache = new DecodeCache(100);
    const decoder = vi.fn((value: Buffer | null) => value?.toString());
    for (let i = 0; i < 3; i++)
      expect(cache.decode(entry('a', 'v1'), decoder)).toEqual({ ok: true, value: 'v1' });
    expect(decoder).toHaveBeenCalledTimes(1);
    cache.decode(entry('a', 'v2', 6), decoder);
    expect(decoder).toHaveBeenCalledTimes(2);
    expect(cache.decodes).toBe(2);
  });

  it('keeps formats apart', () => {
    const cache = new DecodeCache(100);
    expect(cache.decode(entry('a', '42'), 'text')).toEqual({ ok: true, value: '42' });
    expect(cache.decode(entry('a', '42'), 'json')).toEqual({ ok: true, value: 42 });
    expect(cache.decodes).toBe(2);
  });

  it('decodes again when the same ModifyIndex carries other bytes (a rebuilt cluster reusing indexes)', () => {
    const cache = new DecodeCache(100);
    expect(cache.decode(entry('a', '1', 5), 'json')).toEqual({ ok: true, value: 1 });
    expect(cache.decode(entry('a', '2', 5), 'json')).toEqual({ ok: true, value: 2 });
  });

  it('decodes again after eviction: correctness never depends on the cache', () => {
    const cache = new DecodeCache(1);
    const decoder = vi.fn((value: Buffer | null) => value?.toString());
    cache.decode(entry('a', 'x'), decoder);
    cache.decode(entry('b', 'y'), decoder);
    expect(cache.decode(entry('a', 'x'), decoder)).toEqual({ ok: true, value: 'x' });
    expect(decoder).toHaveBeenCalledTimes(3);
  });

  it("keeps one slot per key: a key's new versions replace its old one rather than evicting other keys", () => {
    const cache = new DecodeCache(2);
    const decoder = vi.fn((value: Buffer | null) => value?.toString());
    cache.decode(entry('a', '1', 5), decoder);
    cache.decode(entry('b', 'x', 5), decoder);
    cache.decode(entry('a', '2', 6), decoder);
    cache.decode(entry('a', '3', 7), decoder);
    expect(cache.decode(entry('b', 'x', 5), decoder)).toEqual({ ok: true, value: 'x' });
    expect(cache.decode(entry('a', '2', 6), decoder)).toEqual({ ok: true, value: '2' });
    expect(decoder.mock.calls.map(([value]) => value?.toString())).toEqual(['1', 'x', '2', '3', '2']);
  });

  it('works with the cache disabled (size 0)', () => {
    const cache = new DecodeCache(0);
    cache.decode(entry('a', '1'), 'json');
    cache.decode(entry('a', '1'), 'json');
    expect(cache.decodes).toBe(2);
  });

  it('turns a parser error into a message naming the format, and caches the failure', () => {
    const cache = new DecodeCache(100);
    const outcome = cache.decode(entry('config/app/port', '{nope'), 'json');
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.message.startsWith('not valid JSON: ')).toBe(true);
    cache.decode(entry('config/app/port', '{nope'), 'json');
    expect(cache.decodes).toBe(1);
  });

  it('does not quote the parser (which may echo the value) for a secret-looking key', () => {
    const cache = new DecodeCache(100);
    const outcome = cache.decode(entry('config/app/db/password', '{"hunter2'), 'json');
    expect(outcome).toMatchObject({ ok: false, message: 'not valid JSON' });
  });

  it('reads a value that is not JSON at all as text, and one that starts like JSON as JSON or an error', () => {
    const cache = new DecodeCache(0);
    const decoded = (value: string) => {
      const outcome = cache.decode(entry('k', value), 'json');
      return outcome.ok ? outcome.value : `error: ${outcome.message}`;
    };
    expect(
      ['db.internal', '5432', 'true', 'null', '"quoted"', ' [1, 2]', '5432x', 'hello world'].map(decoded),
    ).toEqual(['db.internal', 5432, true, null, 'quoted', [1, 2], '5432x', 'hello world']);
    expect(decoded('{"a":')).toMatch(/^error: not valid JSON: /);
    expect(decoded('"open')).toMatch(/^error: not valid JSON: /);
    expect(decoded('[1,')).toMatch(/^error: not valid JSON: /);
  });

  it('reports a throwing custom decoder as a failure', () => {
    const cache = new DecodeCache(100);
    const outcome = cache.decode(entry('k', 'v'), () => {
      throw new Error('bad value');
    });
    expect(outcome).toMatchObject({ ok: false, message: 'the custom decoder failed: bad value' });
  });

  it('reports a value that is not valid base64', () => {
    const cache = new DecodeCache(100);
    const broken = new KVEntry({
      key: 'k',
      flags: 0,
      createIndex: 1,
      modifyIndex: 2,
      lockIndex: 0,
      session: undefined,
      value: '%%%',
    });
    expect(cache.decode(broken, 'text')).toMatchObject({
      ok: false,
      message: 'the value is not valid base64',
    });
  });
});

describe('describeReceived', () => {
  it('renders JSON, truncates long values and redacts secrets', () => {
    expect(describeReceived({ a: 1 }, false)).toBe('{"a":1}');
    expect(describeReceived(undefined, false)).toBe('undefined');
    expect(describeReceived('x'.repeat(200), false)).toHaveLength(80);
    expect(describeReceived('hunter2', true)).toBe('[redacted]');
  });

  it('quotes strings, shows JSON and cuts long renderings at 80 characters', () => {
    expect(describeReceived('abc', false)).toBe('"abc"');
    expect(describeReceived(12, false)).toBe('12');
    expect(describeReceived(null, false)).toBe('null');
    expect(describeReceived(5n, false)).toBe('5n');
    expect(describeReceived([1, { a: true }], false)).toBe('[1,{"a":true}]');
    expect(describeReceived('x'.repeat(100), false)).toBe(`"${'x'.repeat(78)}…`);
  });

  it('redacts secret-looking fields at any depth', () => {
    expect(describeReceived({ user: 'app', password: 'hunter2', nested: { apiKey: 'k' } }, false)).toBe(
      '{"user":"app","password":"[redacted]","nested":{"apiKey":"[redacted]"}}',
    );
  });

  it('redacts secret-looking fields inside an object under a non-secret key', () => {
    expect(describeReceived({ host: 'db', password: 'hunter2', list: ['token'] }, false)).toBe(
      '{"host":"db","password":"[redacted]","list":["token"]}',
    );
  });
});
