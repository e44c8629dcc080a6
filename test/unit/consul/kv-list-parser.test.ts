/**
 * ListParser against parseEntries: for every answer of a seeded random walk (edits as Consul makes them, and
 * random byte damage), the reusing parser gives exactly what a full parse gives, or throws exactly when it
 * throws, and reuses the entries whose bytes did not change.
 */
import { describe, expect, it } from 'vitest';
import { type KVEntry, parseEntries } from '../../../src/consul/kv-entry.js';
import { ListParser } from '../../../src/consul/kv-list-parser.js';
import type { TransportResponse } from '../../../src/consul/transport.js';
import { type RawChange, Snapshot } from '../../../src/watch/diff.js';
import { seededRandom as random } from '../../helpers/random.js';

interface Row {
  key: string;
  value: string | null;
  flags: number;
  modifyIndex: number;
  session?: string;
  /** Not something Consul sends: an element opening with another field, holding a nested entry-like object. */
  odd?: boolean;
}

/** The body Consul's `json.Marshal` writes for a list: compact, sorted, LockIndex first. */
function consulBody(rows: readonly Row[], pretty = false): Buffer {
  const sorted = [...rows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const json = sorted.map((row) => ({
    ...(row.odd === true ? { Key: row.key, X: [1, { LockIndex: 0, Key: `${row.key}n` }] } : {}),
    LockIndex: 0,
    Key: row.key,
    Flags: row.flags,
    Value: row.value === null ? null : Buffer.from(row.value).toString('base64'),
    ...(row.session === undefined ? {} : { Session: row.session }),
    CreateIndex: 1,
    ModifyIndex: row.modifyIndex,
  }));
  return Buffer.from(pretty ? `${JSON.stringify(json, null, 4)}\n` : JSON.stringify(json));
}

const answer = (body: Buffer): TransportResponse => ({ status: 200, headers: {}, body });

const plain = (entries: readonly KVEntry[]) =>
  entries.map((e) => [
    e.key,
    e.rawValue,
    e.flagsBigInt,
    e.modifyIndex,
    e.createIndex,
    e.lockIndex,
    e.session,
  ]);

/** What parseEntries does with the body: its entries, or its error message. */
function fullParse(body: Buffer): ReturnType<typeof plain> | string {
  try {
    return plain(parseEntries(answer(body), 'kv.list', 'app/'));
  } catch (error) {
    return (error as Error).message;
  }
}

/** Entries handed out by the last parse, to count the ones reused (same object) by the next. */
let handedOut = new Set<KVEntry>();
let reusedCount = 0;

function parseWith(parser: ListParser, body: Buffer): ReturnType<typeof plain> | string {
  try {
    const entries = parser.parse(answer(body), 'kv.list', 'app/');
    reusedCount += entries.filter((entry) => handedOut.has(entry)).length;
    handedOut = new Set(entries);
    return plain(entries);
  } catch (error) {
    return (error as Error).message;
  }
}

/** Keys that look like the bytes the parser cuts at, so a cut inside a string would show. */
const AWKWARD = ['{"LockIndex":', '},{"LockIndex":0', '"]', '\\', 'é€😀', '\u2028', ','];

function makeRows(next: () => number, count: number): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const awkward = i % 97 === 5 ? AWKWARD[i % AWKWARD.length] : '';
    rows.push({
      key: `app/k${String(i).padStart(5, '0')}${awkward}`,
      value: `{"v":${i}}`,
      flags: 0,
      modifyIndex: i + 1,
    });
  }
  if (next() < 0.5) rows[3]!.value = null;
  return rows;
}

/** One edit as Consul would make it: a value, flags, a session, an added or deleted key (or several). */
function edit(rows: Row[], next: () => number, index: number, odd: boolean): void {
  const pick = () => Math.floor(next() * rows.length);
  const at = pick();
  const row = rows[at]!;
  const kind = Math.floor(next() * 10);
  if (kind === 0 && rows.length > 1) rows.splice(at, 1);
  else if (kind === 1)
    rows.push({
      key: `app/k${Math.floor(next() * 99999)}x${AWKWARD[at % AWKWARD.length]}`,
      value: 'new',
      flags: 0,
      modifyIndex: index,
    });
  else if (kind === 2) row.flags = next() < 0.05 ? 2 ** 53 + 2 : Math.floor(next() * 1000);
  else if (kind === 3) row.session = next() < 0.5 ? 'adf4238a-882b-9ddc-4a9d-5b6758e4159e' : undefined;
  else if (kind === 4 && next() < 0.2) for (let i = 0; i < 5; i++) rows[pick()]!.value = `{"v":${next()}}`;
  else if (kind === 5 && rows.length > 3) rows.splice(0, 2);
  else if (kind === 6) rows.splice(rows.length - 1, 1);
  else if (kind === 7 && odd) row.odd = next() < 0.5;
  else row.value = `{"v":"${'x'.repeat(Math.floor(next() * 40))}"}`;
  row.modifyIndex = index;
}

/** Random damage: a few bytes replaced, inserted or removed, from the characters JSON cares about. */
function damage(body: Buffer, next: () => number): Buffer {
  const chars = Buffer.from('{}[],":\\ aZ0=*-\u00e9');
  let bytes = Buffer.from(body);
  const times = 1 + Math.floor(next() * 3);
  for (let t = 0; t < times; t++) {
    const at = Math.floor(next() * bytes.length);
    const byte = Buffer.from([chars[Math.floor(next() * chars.length)]!]);
    const kind = next();
    if (kind < 0.4) bytes[at] = byte[0]!;
    else if (kind < 0.7) bytes = Buffer.concat([bytes.subarray(0, at), byte, bytes.subarray(at)]);
    else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
  }
  return bytes;
}

describe('ListParser', () => {
  it('gives what a full parse gives for every answer of a random walk, damaged answers included', () => {
    let total = 0;
    let reusedAtEight = 0;
    reusedCount = 0;
    // Seeds 9 to 12 also make elements Consul never sends (see Row.odd): those answers are parsed whole.
    for (let seed = 1; seed <= 12; seed++) {
      if (seed === 9) reusedAtEight = reusedCount;
      const next = random(seed);
      const rows = makeRows(next, 400 + Math.floor(next() * 400));
      const parser = new ListParser();
      for (let step = 0; step < 120; step++) {
        let body = consulBody(rows, step % 50 === 49);
        const damaged = next() < 0.3;
        if (damaged) body = damage(body, next);
        expect(parseWith(parser, body), `seed ${seed} step ${step}`).toEqual(fullParse(body));
        if (seed <= 8 && !damaged) total += rows.length;
        edit(rows, next, 1000 + step, seed > 8);
      }
    }
    // Most good answers were an edit or two away from the last one: most entries came from the last parse.
    expect(reusedAtEight / total).toBeGreaterThan(0.5);
  });

  it('feeds Snapshot.apply a run that gives the same changes as the full diff', () => {
    const summary = (changes: RawChange<KVEntry>[]) =>
      changes.map((c) => [c.key, c.type, c.entry?.modifyIndex, c.previous?.modifyIndex]);
    let runs = 0;
    for (let seed = 21; seed <= 26; seed++) {
      const next = random(seed);
      const rows = makeRows(next, 300 + Math.floor(next() * 300));
      const parser = new ListParser();
      const withRun = new Snapshot<KVEntry>();
      const without = new Snapshot<KVEntry>();
      for (let step = 0; step < 80; step++) {
        const entries = parser.parse(answer(consulBody(rows)), 'kv.list', 'app/');
        const run = parser.lastRun;
        if (run !== undefined) runs++;
        const expected = summary(without.apply([...entries]));
        expect(summary(withRun.apply(entries, false, run)), `seed ${seed} step ${step}`).toEqual(expected);
        expect([...withRun.entries()]).toEqual([...without.entries()]);
        edit(rows, next, 1000 + step, false);
      }
    }
    expect(runs).toBeGreaterThan(300);
  });

  it('reuses the entries whose bytes did not change, and parses the changed one anew', () => {
    const rows = makeRows(random(7), 1000);
    const parser = new ListParser();
    const first = parser.parse(answer(consulBody(rows)), 'kv.list', 'app/');
    rows[500]!.value = 'changed';
    rows[500]!.modifyIndex = 5000;
    const second = parser.parse(answer(consulBody(rows)), 'kv.list', 'app/');
    expect(second[500]!.rawValue).toBe(Buffer.from('changed').toString('base64'));
    const reused = second.filter((entry, i) => entry === first[i]).length;
    // The changed entry and its two neighbours are parsed again; every other one is the same object.
    expect(reused).toBe(997);
    expect(plain(second)).toEqual(fullParse(consulBody(rows)));
  });

  it('refuses an answer with one bad value whole, then reuses the last good answer', () => {
    const rows = makeRows(random(3), 1000);
    const parser = new ListParser();
    const first = parser.parse(answer(consulBody(rows)), 'kv.list', 'app/');
    const good = consulBody(rows);
    const bad = Buffer.from(
      good.toString().replace(first[600]!.rawValue!, `${first[600]!.rawValue!.slice(0, -4)}b2s*`),
    );
    expect(() => parser.parse(answer(bad), 'kv.list', 'app/')).toThrow(
      `kv.list app/: malformed response from Consul: entry 600 (${JSON.stringify(first[600]!.key)}): Value is not valid base64`,
    );
    const again = parser.parse(answer(good), 'kv.list', 'app/');
    expect(again.every((entry, i) => entry === first[i])).toBe(true);
  });

  describe('bodies Consul never sends, which must still parse as a full parse does', () => {
    const PAD = 'x'.repeat(3000);
    const element = (key: string, modifyIndex = 1, extra = '', opener = '{"LockIndex":') =>
      `${opener}0,"Key":${JSON.stringify(key)},"Flags":0,"Value":"dg==","CreateIndex":1,"ModifyIndex":${modifyIndex}${extra}}`;
    const walk = (bodies: string[]) => {
      const parser = new ListParser();
      for (const [i, text] of bodies.entries()) {
        const body = Buffer.from(text);
        expect(parseWith(parser, body), `answer ${i}`).toEqual(fullParse(body));
      }
    };

    it('elements whose opener is spelled otherwise, beside one holding entry-like objects', () => {
      const nested = (changed: number) =>
        `,"X":[0,${[1, 2, 3, 4, 5, 6].map((i) => element(`app/n${i}`, i === 3 ? changed : 1)).join(',')}]`;
      // `{"LockIndex" :` opens an element without the opener's bytes; the nested ones have them.
      const spaced = (key: string, extra = '') => element(key, 1, `,"P":"${PAD}"${extra}`, '{"LockIndex" :');
      const body = (changed: number) =>
        `[${[element('app/a', 1, `,"P":"${PAD}"`), spaced('app/b', nested(changed)), ...'cdefg'.split('').map((k) => spaced(`app/${k}`))].join(',')}]`;
      walk([body(1), body(2), body(3)]);
    });

    it('a long non-integer Flags beside reused entries with uint64 flags', () => {
      const big = element('app/a', 1, `,"P":"${PAD}"`).replace('"Flags":0', '"Flags":18446744073709551615');
      const others = (extra: string) =>
        [1, 2, 3, 4, 5, 6].map((i) => element(`app/k${i}`, 1, `,"P":"${PAD}"${i === 5 ? extra : ''}`));
      walk([
        `[${[big, ...others('')].join(',')}]`,
        `[${[big, ...others(',"X":{"Flags":12345678901234567.5}')].join(',')}]`,
        `[${[big, ...others(',"Flags":12345678901234567.5')].join(',')}]`,
      ]);
    });
  });

  it('parses whole a body whose elements do not all open with the same field', () => {
    const body = Buffer.from(
      JSON.stringify([
        {
          LockIndex: 0,
          Key: 'app/a',
          Flags: 0,
          Value: 'YQ==',
          CreateIndex: 1,
          ModifyIndex: 1,
          Extra: [1, 'x'.repeat(20000)],
        },
        {
          Key: 'app/b',
          LockIndex: 0,
          Flags: 0,
          Value: 'Yg==',
          CreateIndex: 1,
          ModifyIndex: 1,
          Extra: [1, { LockIndex: 0 }],
        },
      ]),
    );
    const parser = new ListParser();
    expect(parseWith(parser, body)).toEqual(fullParse(body));
    const changed = Buffer.from(body.toString().replace('"app/b"', '"app/c"'));
    expect(parseWith(parser, changed)).toEqual(fullParse(changed));
  });
});
