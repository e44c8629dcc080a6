import { describe, expect, it } from 'vitest';
import { goQuote, isGoPrintable, parseGoDuration, parseGoUint64 } from '../../../src/devserver/go-strconv.js';

describe('parseGoDuration (consul-semantics §1 wait syntax)', () => {
  it.each([
    ['10s', 10_000],
    ['1500ms', 1_500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['.5s', 500],
    ['5.s', 5_000],
    ['1.5m', 90_000],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['1000000ns', 1],
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['-3s', -3_000],
    ['+2s', 2_000],
  ])('parses %s as %d ms', (input, ms) => {
    expect(parseGoDuration(input)).toBe(ms);
  });

  it.each(['10', '1.5', '', '-', '.', '.s', 's', '1x', '1sm', '1s 2s', '9223372036854775808ns', '3000000h'])(
    'rejects %j',
    (input) => {
      expect(parseGoDuration(input)).toBeUndefined();
    },
  );
});

describe('parseGoUint64', () => {
  it('parses base-10 digits up to 2^64-1', () => {
    expect(parseGoUint64('0')).toEqual({ ok: true, value: 0n });
    expect(parseGoUint64('007')).toEqual({ ok: true, value: 7n });
    expect(parseGoUint64('18446744073709551615')).toEqual({ ok: true, value: 18446744073709551615n });
  });

  it("answers Go's error texts for bad input", () => {
    expect(parseGoUint64('')).toEqual({
      ok: false,
      message: 'strconv.ParseUint: parsing "": invalid syntax',
    });
    expect(parseGoUint64('-1')).toEqual({
      ok: false,
      message: 'strconv.ParseUint: parsing "-1": invalid syntax',
    });
    expect(parseGoUint64('+1')).toEqual({
      ok: false,
      message: 'strconv.ParseUint: parsing "+1": invalid syntax',
    });
    expect(parseGoUint64('1_0')).toEqual({
      ok: false,
      message: 'strconv.ParseUint: parsing "1_0": invalid syntax',
    });
    expect(parseGoUint64('18446744073709551616')).toEqual({
      ok: false,
      message: 'strconv.ParseUint: parsing "18446744073709551616": value out of range',
    });
  });
});

describe('goQuote', () => {
  it('quotes like %q: printable text kept, quotes, backslashes and control characters escaped', () => {
    expect(goQuote('app/db')).toBe('"app/db"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('tab\there\n')).toBe('"tab\\there\\n"');
    expect(goQuote('\u0000\u001f\u007f')).toBe('"\\x00\\x1f\\x7f"');
    expect(goQuote('é☃')).toBe('"é☃"');
    expect(goQuote('\u2028\u{E0001}')).toBe('"\\u2028\\U000e0001"');
  });

  it('tells printable text from text with control or separator characters', () => {
    expect(isGoPrintable('config/app ok-é')).toBe(true);
    expect(isGoPrintable('a\tb')).toBe(false);
    expect(isGoPrintable('a\u00a0b')).toBe(false);
  });
});
