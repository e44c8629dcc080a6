import { describe, expect, it, vi } from 'vitest';
import { KVEntry } from '../../../src/consul/kv-entry.js';
import { DecodeCache } from '../../../src/watch/decode.js';

function entry(key: string, value: string, modifyIndex = 5): KVEntry {
  return KVEntry.from({ key, value, modifyIndex, createIndex: 1 });
}

/** The values a decoder was called with, in order. */
function decodedValues(decoder: ReturnType<typeof vi.fn>): string[] {
  return decoder.mock.calls.map(([value]) => String((value as Buffer | null)?.toString()));
}

describe('DecodeCache recency', () => {
  it('evicts the least recently used slot: a hit keeps a key', () => {
    const cache = new DecodeCache(2);
    const decoder = vi.fn((value: Buffer | null) => value?.toString());
    cache.decode(entry('a', '1'), decoder);
    cache.decode(entry('b', '2'), decoder);
    cache.decode(entry('a', '1'), decoder); // hit: `a` is now the most recent
    cache.decode(entry('c', '3'), decoder); // evicts `b`
    cache.decode(entry('a', '1'), decoder); // still cached
    cache.decode(entry('b', '2'), decoder); // decoded again
    expect(decodedValues(decoder)).toEqual(['1', '2', '3', '2']);
  });

  it('counts a replaced version as a use of its key', () => {
    const cache = new DecodeCache(2);
    const decoder = vi.fn((value: Buffer | null) => value?.toString());
    cache.decode(entry('a', '1', 5), decoder);
    cache.decode(entry('b', '2', 5), decoder);
    cache.decode(entry('a', '9', 6), decoder); // a's new version: `a` is now the most recent
    cache.decode(entry('c', '3', 5), decoder); // evicts `b`
    cache.decode(entry('a', '9', 6), decoder);
    cache.decode(entry('b', '2', 5), decoder);
    expect(decodedValues(decoder)).toEqual(['1', '2', '9', '3', '2']);
  });

  it('counts every key and format together against the size, and evicts the least recent key whole', () => {
    const cache = new DecodeCache(3);
    expect(cache.decode(entry('a', '42'), 'text')).toEqual({ ok: true, value: '42' });
    expect(cache.decode(entry('a', '42'), 'json')).toEqual({ ok: true, value: 42 });
    cache.decode(entry('b', '7'), 'text'); // 3 slots: a/text, a/json, b/text
    cache.decode(entry('a', '42'), 'text');
    cache.decode(entry('a', '42'), 'json');
    cache.decode(entry('b', '7'), 'text');
    expect(cache.decodes).toBe(3);
    cache.decode(entry('c', '1'), 'text'); // a is the least recent key: both its slots go
    cache.decode(entry('b', '7'), 'text');
    expect(cache.decodes).toBe(4);
    cache.decode(entry('a', '42'), 'json');
    expect(cache.decodes).toBe(5);
  });

  it('keeps working after slots of many short-lived custom decoders were evicted', () => {
    const cache = new DecodeCache(3);
    for (let i = 0; i < 50; i++) {
      const decoder = (value: Buffer | null) => `${i}:${value?.toString()}`;
      expect(cache.decode(entry('k', 'v'), decoder)).toEqual({ ok: true, value: `${i}:v` });
    }
    expect(cache.decodes).toBe(50);
    const last = vi.fn((value: Buffer | null) => value?.toString());
    cache.decode(entry('k', 'v'), last);
    cache.decode(entry('k', 'v'), last);
    expect(last).toHaveBeenCalledTimes(1);
  });

  it('starts empty again after clear()', () => {
    const cache = new DecodeCache(2);
    cache.decode(entry('a', '1'), 'text');
    cache.clear();
    cache.decode(entry('a', '1'), 'text');
    cache.decode(entry('b', '2'), 'text');
    cache.decode(entry('c', '3'), 'text'); // evicts `a`, the oldest since clear()
    cache.decode(entry('b', '2'), 'text');
    expect(cache.decodes).toBe(4);
  });
});
