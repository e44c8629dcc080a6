import { describe, expect, it } from 'vitest';
import {
  cleanPath,
  compareCodePoints,
  GoQuery,
  goPathEscape,
  goQueryEscape,
  goUnescape,
} from '../../../src/devserver/go-url.js';

describe('GoQuery', () => {
  it('tests flags by presence and returns the first value', () => {
    const query = new GoQuery('recurse=false&keys&a=1&a=2&empty=');
    expect(query.has('recurse')).toBe(true);
    expect(query.has('keys')).toBe(true);
    expect(query.get('keys')).toBe('');
    expect(query.get('a')).toBe('1');
    expect(query.has('empty')).toBe(true);
    expect(query.has('missing')).toBe(false);
  });

  it('decodes + as a space and drops pairs with a semicolon or a bad escape, as Go does', () => {
    const query = new GoQuery('sep=a+b%2Fc&x=1;y=2&bad=%zz&ok=%41');
    expect(query.get('sep')).toBe('a b/c');
    expect(query.has('x')).toBe(false);
    expect(query.has('bad')).toBe(false);
    expect(query.get('ok')).toBe('A');
  });

  it('re-encodes with sorted keys and Go query escaping', () => {
    expect(new GoQuery('release=s%201&cas=5&acquire=a!b').encode()).toBe('acquire=a%21b&cas=5&release=s+1');
  });
});

describe('path helpers', () => {
  it('percent-decodes a path strictly and keeps +', () => {
    expect(goUnescape('/v1/kv/a%2Fb+c%25', false)).toBe('/v1/kv/a/b+c%');
    expect(goUnescape('/v1/kv/%E2%98%83', false)).toBe('/v1/kv/☃');
    expect(goUnescape('/v1/kv/%zz', false)).toBeUndefined();
    expect(goUnescape('/v1/kv/%4', false)).toBeUndefined();
  });

  it.each([
    ['/v1/kv/a//b', '/v1/kv/a/b'],
    ['/v1/kv/./a', '/v1/kv/a'],
    ['/v1/kv/a/../b', '/v1/kv/b'],
    ['/v1/kv/a/', '/v1/kv/a/'],
    ['/v1/kv//', '/v1/kv/'],
    ['/../../x', '/x'],
    ['/v1/kv/a/.', '/v1/kv/a'],
    ['/v1/kv/a', '/v1/kv/a'],
  ])('cleans %s to %s like ServeMux', (path, cleaned) => {
    expect(cleanPath(path)).toBe(cleaned);
  });

  it('escapes paths and query components like Go', () => {
    expect(goPathEscape('/v1/kv/a b/c?d#e%f$&+,:;=@~é')).toBe('/v1/kv/a%20b/c%3Fd%23e%25f$&+,:;=@~%C3%A9');
    expect(goQueryEscape("a b/c!*'()~")).toBe('a+b%2Fc%21%2A%27%28%29~');
  });

  it('orders by code point, not by UTF-16 unit', () => {
    const keys = ['\u{1F600}', '\uFFFD', 'z'];
    expect(keys.sort(compareCodePoints)).toEqual(['z', '\uFFFD', '\u{1F600}']);
  });
});
