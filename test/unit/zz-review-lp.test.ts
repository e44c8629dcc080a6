import { describe, expect, it } from 'vitest';
import { type KVEntry, parseEntries } from '../../src/consul/kv-entry.js';
import { ListParser } from '../../src/consul/kv-list-parser.js';
import type { TransportResponse } from '../../src/consul/transport.js';

const answer = (body: Buffer | string): TransportResponse => ({ status: 200, headers: {}, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });
const plain = (entries: readonly KVEntry[]) =>
  entries.map((e) => [e.key, e.rawValue, e.flagsBigInt, e.modifyIndex, e.createIndex, e.lockIndex, e.session]);
function full(body: Buffer | string) {
  try { return plain(parseEntries(answer(body), 'kv.list', 'app/')); } catch (e) { return (e as Error).message; }
}
function viaParser(p: ListParser, body: Buffer | string) {
  try { return plain(p.parse(answer(body), 'kv.list', 'app/')); } catch (e) { return (e as Error).message; }
}
const PAD = 'x'.repeat(3000);
const v = Buffer.from('v').toString('base64');
const ent = (key: string, mi = 1, extra = '', opener = '{"LockIndex":') =>
  `${opener}0,"Key":${JSON.stringify(key)},"Flags":0,"Value":"${v}","CreateIndex":1,"ModifyIndex":${mi}${extra}}`;

function check(bodies: string[]) {
  const p = new ListParser();
  const out: unknown[] = [];
  for (const [i, b] of bodies.entries()) {
    const got = viaParser(p, b);
    const want = full(b);
    out.push({ i, same: JSON.stringify(got, (_, x) => typeof x === 'bigint' ? `${x}n` : x) === JSON.stringify(want, (_, x) => typeof x === 'bigint' ? `${x}n` : x), got: typeof got === 'string' ? got : (got as unknown[]).map((r) => (r as unknown[])[0]), want: typeof want === 'string' ? want : (want as unknown[]).map((r) => (r as unknown[])[0]) });
  }
  return out;
}

describe('review', () => {
  it('misaligned starts: elements without the opener bytes + nested entry-like objects', () => {
    const N = (i: number, mi = 1) => ent(`app/n${i}`, mi);
    const nested = (mi3: number) => `,"X":[0,${[1, 2, 3, 4, 5, 6].map((i) => N(i, i === 3 ? mi3 : 1)).join(',')}]`;
    const T = (k: string, extra = '') => ent(k, 1, `,"P":"${PAD}"${extra}`, '{"LockIndex" :');
    const body = (mi3: number) =>
      `[${[ent('app/a', 1, `,"P":"${PAD}"`), T('app/b', nested(mi3)), T('app/c'), T('app/d'), T('app/e'), T('app/f'), T('app/g')].join(',')}]`;
    const r = check([body(1), body(2)]);
    console.log(JSON.stringify(r, null, 1));
    expect(r.every((x: any) => x.same)).toBe(true);
  });
  it('nested non-integer long Flags + reused huge flags', () => {
    const big = `{"LockIndex":0,"Key":"app/a","Flags":18446744073709551615,"Value":"${v}","CreateIndex":1,"ModifyIndex":1,"P":"${PAD}"}`;
    const others = (extra: string) => [1, 2, 3, 4, 5, 6].map((i) => ent(`app/k${i}`, 1, `,"P":"${PAD}"${i === 5 ? extra : ''}`));
    const b1 = `[${[big, ...others('')].join(',')}]`;
    const b2 = `[${[big, ...others(',"X":{"Flags":12345678901234567.5}')].join(',')}]`;
    const r = check([b1, b2]);
    console.log(JSON.stringify(r, null, 1));
    expect(r.every((x: any) => x.same)).toBe(true);
  });
});
