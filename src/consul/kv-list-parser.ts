/**
 * Parses the successive answers of one prefix list, reusing what did not change. After one changed key,
 * a 10,000-key answer differs from the last one in a few hundred bytes: those bytes are found with two
 * native compares (common start, common end), only the entries around them are parsed, and the others are
 * the same `KVEntry` objects as before. The result always equals a full parse of the answer; whenever that
 * cannot be shown from the bytes, the answer is parsed whole (consul-semantics §2.3).
 * @module
 */
import { type KnownValue, type KVEntry, parseEntries, parseJson, toEntry } from './kv-entry.js';
import type { TransportResponse } from './transport.js';

/**
 * What the last {@link ListParser.parse} reused: the entries `[from, from + removed)` of `base` (the
 * previous result) were replaced by `[from, from + added)` of the new one; all others are the same objects.
 */
export interface ListRun {
  readonly base: readonly KVEntry[];
  readonly from: number;
  readonly removed: number;
  readonly added: number;
}

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const COLON = 0x3a;

/** Bodies below this size are parsed whole: a full `JSON.parse` is as cheap as the bookkeeping. */
const MIN_REUSE_BYTES = 16 * 1024;

/**
 * Where each entry of an answer starts in its body. Only built for a compact body (`[{…},{…}]`, Consul's
 * `json.Marshal` output) whose elements hold no object or array and all start with the same first field,
 * `{"LockIndex":` for Consul. In valid JSON those bytes can only open an object (a `"` right after a `{`
 * inside a string would end the string and be followed by a letter, which JSON refuses); with no nested
 * object, every object is an element, so when their count equals the number of elements they are exactly
 * the element starts (an element written `{"LockIndex" :…` makes the count fall short).
 */
interface Layout {
  readonly body: Buffer;
  readonly starts: Int32Array;
  /** Offset of the closing `]`. */
  readonly end: number;
  readonly entries: readonly KVEntry[];
  /** `{"<first field>":`, as bytes. */
  readonly opener: Buffer;
  readonly firstField: string;
}

/** Stateful parser for one query's list answers; see the module comment. Not for answers of other prefixes. */
export class ListParser {
  #layout: Layout | undefined;
  /** The last full parse's entries, when no layout could be built: only to skip base64 checks. */
  #previous: readonly KVEntry[] = [];
  #run: ListRun | undefined;

  /** How the last result differs from the one before it; undefined after a full parse or a failure. */
  get lastRun(): ListRun | undefined {
    return this.#run;
  }

  /** Forgets the last answer (a 404, or the query's target moved). */
  reset(): void {
    this.#layout = undefined;
    this.#run = undefined;
    this.#previous = [];
  }

  /**
   * The entries of `response`, equal to `parseEntries(response, …)`; throws as it does for a malformed
   * answer, and then keeps the state of the last good one. The array is shared with the next call's
   * {@link ListParser.lastRun}: do not modify it.
   */
  parse(response: TransportResponse, operation: string, key: string | undefined): readonly KVEntry[] {
    const layout = this.#layout;
    this.#run = undefined;
    if (layout !== undefined) {
      const reused = reuse(layout, response.body);
      if (reused !== undefined) {
        this.#layout = reused.layout;
        this.#run = reused.run;
        return reused.layout.entries;
      }
    }
    const previous = layout?.entries ?? this.#previous;
    const parsed = parseJson(response, operation, key);
    const entries = parseEntries(response, operation, key, knownFrom(previous), parsed);
    const built =
      response.body.length >= MIN_REUSE_BYTES
        ? buildLayout(response.body, parsed as object[], entries)
        : undefined;
    this.#layout = built;
    this.#previous = built === undefined ? entries : [];
    return entries;
  }
}

/**
 * Values of the last accepted answer were checked to be base64 then: a merge walk over both lists (sorted by
 * key) finds the entry of the same key; a miss only means the value is checked again.
 */
function knownFrom(previous: readonly KVEntry[]): KnownValue | undefined {
  if (previous.length === 0) return undefined;
  let at = 0;
  return (key, rawValue) => {
    while (at < previous.length && previous[at]!.key < key) at++;
    const entry = previous[at];
    return entry !== undefined && entry.key === key && entry.rawValue === rawValue;
  };
}

/** The layout of a fully parsed answer, or undefined when the body is not in the compact form. */
function buildLayout(
  body: Buffer,
  parsed: readonly object[],
  entries: readonly KVEntry[],
): Layout | undefined {
  if (entries.length === 0 || body[0] !== OPEN_BRACKET || body[1] !== OPEN_BRACE || body[2] !== QUOTE)
    return undefined;
  const fieldEnd = body.indexOf(QUOTE, 3);
  if (fieldEnd < 4 || fieldEnd > 64 || body[fieldEnd + 1] !== COLON) return undefined;
  const firstField = body.toString('latin1', 3, fieldEnd);
  if (!/^[A-Za-z]+$/.test(firstField)) return undefined;
  const opener = Buffer.from(body.subarray(1, fieldEnd + 2));
  const end = closingBracket(body);
  if (end < 0 || body[end - 1] !== CLOSE_BRACE) return undefined;
  if (!parsed.every((raw) => isFlatElement(raw, firstField))) return undefined;
  const starts = locate(body, 1, end, entries.length, opener);
  if (starts === undefined) return undefined;
  return { body, starts, end, entries, opener, firstField };
}

/** Offset of the closing `]`, allowing trailing whitespace; -1 when the body does not end with one. */
function closingBracket(body: Buffer): number {
  let end = body.length - 1;
  while (end > 0 && (body[end] === 0x20 || body[end] === 0x0a || body[end] === 0x0d || body[end] === 0x09))
    end--;
  return body[end] === CLOSE_BRACKET ? end : -1;
}

/**
 * The offsets of `opener` in `body[from, to)`, when there are exactly `count` of them, the first at `from`,
 * each later one right after a `,`; otherwise undefined.
 */
function locate(
  body: Buffer,
  from: number,
  to: number,
  count: number,
  opener: Buffer,
): Int32Array | undefined {
  const starts = new Int32Array(count);
  let found = 0;
  for (let at = body.indexOf(opener, from); at !== -1 && at < to; at = body.indexOf(opener, at + 1)) {
    if (found === count || (found === 0 ? at !== from : body[at - 1] !== COMMA)) return undefined;
    starts[found++] = at;
  }
  return found === count ? starts : undefined;
}

/**
 * The next layout, when `body` differs from the last one only inside a run of whole entries that parses on
 * its own; undefined means "parse it whole" (the full parse also words any error).
 *
 * Why the result equals a full parse: the body is `A + middle + B`, where `A` (ending in `[` or `,`) and `B`
 * (starting with `,` or `]`) are byte for byte the last body's, up to an element boundary. If `[middle]`
 * parses as a non-empty array, the whole body is a valid array whose elements are `A`'s, then `middle`'s,
 * then `B`'s; UTF-8 decoding cannot differ either, since every cut is at an ASCII byte.
 */
function reuse(last: Layout, body: Buffer): { layout: Layout; run: ListRun } | undefined {
  const old = last.body;
  const n = last.entries.length;
  if (body.length === old.length && body.equals(old)) {
    return { layout: { ...last, body }, run: { base: last.entries, from: 0, removed: 0, added: 0 } };
  }
  const limit = Math.min(old.length, body.length);
  const same = commonPrefix(old, body, limit);
  const sameEnd = commonSuffix(old, body, limit - same);
  // The entries holding the first and last differing byte, widened by one on each side, so a removed entry
  // and its comma always fall inside the run that is parsed again.
  let first = lastStartAtOrBefore(last.starts, same);
  let final = lastStartAtOrBefore(last.starts, Math.max(old.length - sameEnd - 1, same));
  if (first < 0 || final < 0) return undefined;
  if (first > 0) first--;
  if (final < n - 1) final++;
  const from = last.starts[first]!;
  const oldTo = final + 1 < n ? last.starts[final + 1]! - 1 : last.end;
  const to = body.length - (old.length - oldTo);
  // A and B must lie inside the common start and end (the widening makes that so except at the edges).
  if (from > same || old.length - oldTo > sameEnd || to <= from || body[to - 1] !== CLOSE_BRACE)
    return undefined;
  const middle = parseRun(body, from, to, last.firstField);
  if (middle === undefined) return undefined;
  const middleStarts = locate(body, from, to, middle.length, last.opener);
  if (middleStarts === undefined) return undefined;
  const shift = body.length - old.length;
  const kept = n - (final + 1);
  const entries = new Array<KVEntry>(first + middle.length + kept);
  const starts = new Int32Array(entries.length);
  for (let i = 0; i < first; i++) entries[i] = last.entries[i]!;
  starts.set(last.starts.subarray(0, first), 0);
  for (let i = 0; i < middle.length; i++) entries[first + i] = middle[i]!;
  starts.set(middleStarts, first);
  for (let i = 0; i < kept; i++) {
    entries[first + middle.length + i] = last.entries[final + 1 + i]!;
    starts[first + middle.length + i] = last.starts[final + 1 + i]! + shift;
  }
  const layout = {
    body,
    starts,
    end: last.end + shift,
    entries,
    opener: last.opener,
    firstField: last.firstField,
  };
  return {
    layout,
    run: { base: last.entries, from: first, removed: final + 1 - first, added: middle.length },
  };
}

/**
 * `body[from, to)` as a list of entries, each opening with `firstField`; undefined when it is not one
 * (not JSON, empty, a malformed entry, flags past 2^53 that need the exact re-read: the full parse handles
 * them all).
 */
function parseRun(body: Buffer, from: number, to: number, firstField: string): KVEntry[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(`[${body.toString('utf8', from, to)}]`);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return undefined;
  const entries = new Array<KVEntry>(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    const raw: unknown = parsed[i];
    if (typeof raw !== 'object' || raw === null || !isFlatElement(raw, firstField)) return undefined;
    let entry: KVEntry;
    try {
      entry = toEntry(raw, i, 'kv.list', undefined, 200);
    } catch {
      return undefined;
    }
    if (entry.flags > Number.MAX_SAFE_INTEGER) return undefined;
    entries[i] = entry;
  }
  return entries;
}

/**
 * An element whose first field is `firstField` (JSON.parse keeps an object's field order) and which holds
 * no object or array: then every `{` outside a string in the body opens an element.
 */
function isFlatElement(element: object, firstField: string): boolean {
  let first = true;
  for (const key in element) {
    if (first && key !== firstField) return false;
    first = false;
    const value = (element as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null) return false;
  }
  return !first;
}

/** Largest i with `starts[i] <= offset`, or -1. */
function lastStartAtOrBefore(starts: Int32Array, offset: number): number {
  let low = 0;
  let high = starts.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (starts[mid]! <= offset) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

/** Length of the common start of `a` and `b`, at most `limit`: native compares over halving spans. */
function commonPrefix(a: Buffer, b: Buffer, limit: number): number {
  let low = 0; // a[0, low) equals b[0, low)
  let high = limit;
  while (low < high) {
    const mid = low + Math.ceil((high - low) / 2);
    if (a.compare(b, low, mid, low, mid) === 0) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Length of the common end of `a` and `b`, at most `limit`. */
function commonSuffix(a: Buffer, b: Buffer, limit: number): number {
  let low = 0;
  let high = limit;
  const aEnd = a.length;
  const bEnd = b.length;
  while (low < high) {
    const mid = low + Math.ceil((high - low) / 2);
    if (a.compare(b, bEnd - mid, bEnd - low, aEnd - mid, aEnd - low) === 0) low = mid;
    else high = mid - 1;
  }
  return low;
}
