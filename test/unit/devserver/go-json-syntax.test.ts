import { describe, expect, it } from 'vitest';
import { goQuoteByte, scanGoJson } from '../../../src/devserver/go-json-syntax.js';

const scan = (text: string) => {
  const result = scanGoJson(Buffer.from(text, 'utf8'));
  return result.ok ? result.end : result.error;
};

// The texts of Go's encoding/json scanner, as json.Decoder.Decode reports them (consul-semantics §S1.2).
describe('scanGoJson', () => {
  it('returns the end of the first value and ignores what follows it, as the Decoder does', () => {
    expect(scan('{"a":[1,2.5e-3,true,null,"x\\u00e9"]}')).toBe(36);
    expect(scan('  [] ')).toBe(4);
    expect(scan('{"a":1} {"b":')).toBe(7);
    expect(scan('12')).toBe(2);
    expect(scan('01')).toBe(1);
  });

  it('says EOF for nothing and unexpected EOF for a value cut short', () => {
    expect(scan('')).toBe('EOF');
    expect(scan(' \n\t')).toBe('EOF');
    expect(scan('{')).toBe('unexpected EOF');
    expect(scan('["a"')).toBe('unexpected EOF');
    expect(scan('"abc')).toBe('unexpected EOF');
    expect(scan('-')).toBe('unexpected EOF');
    expect(scan('nul')).toBe('unexpected EOF');
  });

  it('names the character and the place like the scanner', () => {
    expect(scan('x')).toBe("invalid character 'x' looking for beginning of value");
    expect(scan('[1,]')).toBe("invalid character ']' looking for beginning of value");
    expect(scan('{1:2}')).toBe("invalid character '1' looking for beginning of object key string");
    expect(scan('{"a" 1}')).toBe("invalid character '1' after object key");
    expect(scan('{"a":1,"b":2 x}')).toBe("invalid character 'x' after object key:value pair");
    expect(scan('[1 2]')).toBe("invalid character '2' after array element");
    expect(scan('[01]')).toBe("invalid character '1' after array element");
    expect(scan('"a\tb"')).toBe("invalid character '\\t' in string literal");
    expect(scan('"\\x"')).toBe("invalid character 'x' in string escape code");
    expect(scan('"\\u12g4"')).toBe("invalid character 'g' in \\u hexadecimal character escape");
    expect(scan('-a')).toBe("invalid character 'a' in numeric literal");
    expect(scan('1.e')).toBe("invalid character 'e' after decimal point in numeric literal");
    expect(scan('1e+x')).toBe("invalid character 'x' in exponent of numeric literal");
    expect(scan('fals0')).toBe("invalid character '0' in literal false (expecting 'e')");
    expect(scan('nUll')).toBe("invalid character 'U' in literal null (expecting 'u')");
  });

  it("quotes bytes like Go's quoteChar", () => {
    expect([0x27, 0x22, 0x5c, 0x0a, 0x01, 0x7f, 0x85, 0xe9].map(goQuoteByte)).toEqual([
      "'\\''",
      `'"'`,
      "'\\\\'",
      "'\\n'",
      "'\\x01'",
      "'\\x7f'",
      "'\\u0085'",
      "'é'",
    ]);
  });
});
