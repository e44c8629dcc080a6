/**
 * The syntax check of Go's `json.Decoder.Decode`, so a malformed request body gets the text Consul's
 * `Request decode failed: …` carries (consul-semantics §S9.2): `EOF` for an empty body, `unexpected EOF`
 * for a cut one, `invalid character 'x' looking for beginning of value` and the other scanner texts of
 * `encoding/json/scanner.go`. Like the Decoder, it reads one value and ignores what follows it.
 * @module
 */

/** The first JSON value's end (a byte offset), or the error Go's Decoder gives for the body. */
export type GoJsonScan =
  | { readonly ok: true; readonly end: number }
  | { readonly ok: false; readonly error: string };

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

const C_ESCAPES: Readonly<Record<number, string>> = {
  7: '\\a',
  8: '\\b',
  9: '\\t',
  10: '\\n',
  11: '\\v',
  12: '\\f',
  13: '\\r',
  92: '\\\\',
};

/** Go's `quoteChar`: the byte as a Go rune literal (`'x'`, `'\n'`, `'\x01'`, `'\u0085'`). */
export function goQuoteByte(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return `'"'`;
  const cEscape = C_ESCAPES[c];
  if (cEscape !== undefined) return `'${cEscape}'`;
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  // string(byte) is the rune U+0080…U+00FF; strconv.Quote escapes the unprintable ones.
  if ((c >= 0x80 && c < 0xa0) || c === 0xad) return `'\\u${c.toString(16).padStart(4, '0')}'`;
  return `'${String.fromCharCode(c)}'`;
}

class SyntaxFailure extends Error {}

const invalid = (c: number, context: string) =>
  new SyntaxFailure(`invalid character ${goQuoteByte(c)} ${context}`);

type Container = 'object-key' | 'object-value' | 'array';

/** Scans the first JSON value of `bytes` with the states and texts of Go's scanner. */
export function scanGoJson(bytes: Uint8Array): GoJsonScan {
  let i = 0;
  const stack: Container[] = [];
  const eof = () => new SyntaxFailure(stack.length === 0 && i >= bytes.length ? 'EOF' : 'unexpected EOF');
  const at = (offset: number): number => {
    if (offset >= bytes.length) throw new SyntaxFailure('unexpected EOF');
    return bytes[offset] as number;
  };
  const skipSpace = () => {
    while (i < bytes.length && isSpace(bytes[i] as number)) i++;
  };
  const literal = (word: string) => {
    for (let k = 1; k < word.length; k++) {
      const c = at(i + k);
      if (c !== word.charCodeAt(k)) {
        throw invalid(c, `in literal ${word} (expecting ${goQuoteByte(word.charCodeAt(k))})`);
      }
    }
    i += word.length;
  };
  const string = () => {
    i++; // the opening quote
    for (;;) {
      const c = at(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c === 0x5c) {
        const e = at(i + 1);
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) {
            const h = at(i + k);
            if (!isHex(h)) throw invalid(h, 'in \\u hexadecimal character escape');
          }
          i += 6;
          continue;
        }
        if (!'bfnrt\\/"'.includes(String.fromCharCode(e))) throw invalid(e, 'in string escape code');
        i += 2;
        continue;
      }
      if (c < 0x20) throw invalid(c, 'in string literal');
      i++;
    }
  };
  /** A number; at the end of input it is complete (the Decoder feeds a space at EOF). */
  const number = () => {
    if (bytes[i] === 0x2d) {
      i++;
      const c = at(i);
      if (!isDigit(c)) throw invalid(c, 'in numeric literal');
    }
    if (bytes[i] === 0x30) i++;
    else while (i < bytes.length && isDigit(bytes[i] as number)) i++;
    if (bytes[i] === 0x2e) {
      i++;
      const c = at(i);
      if (!isDigit(c)) throw invalid(c, 'after decimal point in numeric literal');
      while (i < bytes.length && isDigit(bytes[i] as number)) i++;
    }
    if (bytes[i] === 0x65 || bytes[i] === 0x45) {
      i++;
      if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
      const c = at(i);
      if (!isDigit(c)) throw invalid(c, 'in exponent of numeric literal');
      while (i < bytes.length && isDigit(bytes[i] as number)) i++;
    }
  };
  /** Starts a value at `i`; returns true when it opened a container. */
  const beginValue = (): boolean => {
    const c = at(i);
    switch (c) {
      case 0x7b: // {
        i++;
        skipSpace();
        if (at(i) === 0x7d) {
          i++;
          return false;
        }
        if (at(i) !== 0x22) throw invalid(at(i), 'looking for beginning of object key string');
        string();
        stack.push('object-key');
        return true;
      case 0x5b: // [
        i++;
        skipSpace();
        if (at(i) === 0x5d) {
          i++;
          return false;
        }
        stack.push('array');
        return beginValue() || true;
      case 0x22:
        string();
        return false;
      case 0x74:
        literal('true');
        return false;
      case 0x66:
        literal('false');
        return false;
      case 0x6e:
        literal('null');
        return false;
      default:
        if (c === 0x2d || isDigit(c)) {
          number();
          return false;
        }
        throw invalid(c, 'looking for beginning of value');
    }
  };
  try {
    skipSpace();
    if (i >= bytes.length) throw eof();
    beginValue();
    // After each value, the container decides what may follow (stateEndValue).
    while (stack.length > 0) {
      skipSpace();
      const c = at(i);
      const top = stack[stack.length - 1] as Container;
      if (top === 'object-key') {
        if (c !== 0x3a) throw invalid(c, 'after object key');
        i++;
        skipSpace();
        stack[stack.length - 1] = 'object-value';
        beginValue();
        continue;
      }
      const close = top === 'array' ? 0x5d : 0x7d;
      if (c === close) {
        i++;
        stack.pop();
        continue;
      }
      if (c !== 0x2c)
        throw invalid(c, top === 'array' ? 'after array element' : 'after object key:value pair');
      i++;
      skipSpace();
      if (top === 'array') {
        beginValue();
        continue;
      }
      if (at(i) !== 0x22) throw invalid(at(i), 'looking for beginning of object key string');
      string();
      stack[stack.length - 1] = 'object-key';
    }
    return { ok: true, end: i };
  } catch (error) {
    if (error instanceof SyntaxFailure) return { ok: false, error: error.message };
    throw error;
  }
}
