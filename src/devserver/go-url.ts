/**
 * URL handling the way Go's `net/url` and `http.ServeMux` do it, because Consul's routing, key extraction
 * and `Conflicting flags` texts follow Go (consul-semantics §1): strict percent-decoding of the path, `ParseQuery` (`+` is a
 * space, `;` pairs are dropped), sorted `Encode()`, path cleaning and path escaping for redirects.
 * @module
 */

/** Orders strings by Unicode code point, which equals Go's byte-wise order of their UTF-8 form. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointOrder(x) - codePointOrder(y);
  }
  return a.length - b.length;
}

// UTF-16 order differs from code-point order only between surrogates (D800–DFFF, i.e. code points above
// FFFF) and E000–FFFF: move surrogates above that range.
function codePointOrder(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Percent-decodes like Go's `url.PathUnescape` (`plusIsSpace` false) or `url.QueryUnescape` (true).
 * Returns `undefined` for a malformed escape (`%`, `%4`, `%zz`), which Go rejects. Bytes that are not
 * valid UTF-8 become U+FFFD; use {@link goUnescapeBytes} where that difference matters.
 */
export function goUnescape(text: string, plusIsSpace: boolean): string | undefined {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text;
  return goUnescapeBytes(text, plusIsSpace)?.toString('utf8');
}

/** {@link goUnescape}, returning the decoded bytes as Go keeps them (a Go string is bytes, not text). */
export function goUnescapeBytes(text: string, plusIsSpace: boolean): Buffer | undefined {
  const input = Buffer.from(text, 'utf8');
  const output = Buffer.alloc(input.length);
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] ?? 0;
    if (byte === 0x25) {
      const high = hexValue(input[i + 1] ?? -1);
      const low = hexValue(input[i + 2] ?? -1);
      if (high < 0 || low < 0) return undefined;
      output[length++] = high * 16 + low;
      i += 2;
    } else if (byte === 0x2b && plusIsSpace) {
      output[length++] = 0x20;
    } else {
      output[length++] = byte;
    }
  }
  return output.subarray(0, length);
}

function escapeBytes(text: string, keep: (byte: number) => boolean, spaceAsPlus: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (keep(byte)) out += String.fromCharCode(byte);
    else if (byte === 0x20 && spaceAsPlus) out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2e || // .
    byte === 0x7e // ~
  );
}

const PATH_RESERVED_KEPT = new Set([...'$&+,/:;=@'].map((char) => char.charCodeAt(0)));

/** Escapes a whole path like Go's `url.URL.EscapedPath` for a URL built from `Path` alone. */
export function goPathEscape(path: string): string {
  return escapeBytes(path, (byte) => isUnreserved(byte) || PATH_RESERVED_KEPT.has(byte), false);
}

/** Escapes a query component like Go's `url.QueryEscape` (space becomes `+`). */
export function goQueryEscape(text: string): string {
  return escapeBytes(text, isUnreserved, true);
}

/** A parsed query string with Go's `url.Values` semantics. */
export class GoQuery {
  readonly #values = new Map<string, string[]>();

  /** Parses like Go's `url.ParseQuery`: pairs split on `&`; pairs with `;` or bad escapes are dropped. */
  constructor(rawQuery: string) {
    for (const pair of rawQuery.split('&')) {
      if (pair === '' || pair.includes(';')) continue;
      const equals = pair.indexOf('=');
      const name = goUnescape(equals < 0 ? pair : pair.slice(0, equals), true);
      const value = goUnescape(equals < 0 ? '' : pair.slice(equals + 1), true);
      if (name === undefined || value === undefined) continue;
      const list = this.#values.get(name);
      if (list === undefined) this.#values.set(name, [value]);
      else list.push(value);
    }
  }

  /** Whether the parameter is present at all: Consul tests flag parameters by presence (consul-semantics §1). */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** The first value, or `''` when absent (Go's `Values.Get`). */
  get(name: string): string {
    return this.#values.get(name)?.[0] ?? '';
  }

  /** Re-encodes like Go's `Values.Encode()`: keys sorted, values in order, query-escaped. */
  encode(): string {
    const names = [...this.#values.keys()].sort(compareCodePoints);
    const parts: string[] = [];
    for (const name of names) {
      for (const value of this.#values.get(name) ?? []) {
        parts.push(`${goQueryEscape(name)}=${goQueryEscape(value)}`);
      }
    }
    return parts.join('&');
  }
}

/**
 * Cleans a path like `http.ServeMux` before routing: repeated slashes and `.`/`..` segments removed, a
 * trailing slash kept. A request whose decoded path differs from its cleaned form is redirected (consul-semantics §1).
 */
export function cleanPath(path: string): string {
  if (path === '') return '/';
  const rooted = path.startsWith('/') ? path : `/${path}`;
  const segments: string[] = [];
  for (const segment of rooted.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const cleaned = `/${segments.join('/')}`;
  return rooted.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}
