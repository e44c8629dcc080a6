import { expect, it } from 'vitest';
import { type KVEntry, parseEntries } from '../../src/consul/kv-entry.js';
import { ListParser } from '../../src/consul/kv-list-parser.js';
import type { TransportResponse } from '../../src/consul/transport.js';

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const answer = (body: Buffer): TransportResponse => ({ status: 200, headers: {}, body });
const ser = (x: unknown) => JSON.stringify(x, (_, y) => (typeof y === 'bigint' ? `${y}n` : y));
const plain = (entries: readonly KVEntry[]) =>
  ser(entries.map((e) => [e.key, e.rawValue, e.flagsBigInt, e.flags, e.modifyIndex, e.createIndex, e.lockIndex, e.session]));
function full(body: Buffer) {
  try { return plain(parseEntries(answer(body), 'kv.list', 'app/')); } catch (e) { return `ERR ${(e as Error).message}`; }
}
function via(p: ListParser, body: Buffer) {
  try { return plain(p.parse(answer(body), 'kv.list', 'app/')); } catch (e) { return `ERR ${(e as Error).message}`; }
}
const KEYS = ['{"LockIndex":', '},{"LockIndex":0', '\\"', '\\\\', 'é€😀', '\u2028', ',', '"Flags":12345678901234567890', ']', '\\u0041'];
const FLAGS = ['0', '7', '18446744073709551615', '9007199254740993', '1e3', '"5"', '12345678901234567.5', '-1', '1.5'];
interface R { key: string; mi: number; flags: string; value: string; session?: string; form: number; nested: number; extra: number }
function text(r: R): string {
  const opener = r.form === 1 ? '{"LockIndex" :' : r.form === 2 ? '{"Lock\\u0049ndex":' : r.form === 3 ? '{ "LockIndex":' : '{"LockIndex":';
  const key = JSON.stringify(r.key).replace('\\u2028', '\u2028');
  let s = `${opener}0,"Key":${key},"Flags":${r.flags},"Value":${r.value}`;
  if (r.session !== undefined) s += `,"Session":${JSON.stringify(r.session)}`;
  s += `,"CreateIndex":1,"ModifyIndex":${r.mi}`;
  if (r.nested > 0) s += `,"X":[0,${Array.from({ length: r.nested }, (_, i) => `{"LockIndex":0,"Key":"app/n${i}${r.mi}","Flags":0,"Value":null,"CreateIndex":1,"ModifyIndex":1}`).join(',')}]`;
  if (r.extra === 1) s += `,"Y":{"Flags":12345678901234567.5}`;
  if (r.extra === 2) s += `,"P":"${'p'.repeat(200)}"`;
  return `${s}}`;
}
it('fuzz', () => {
  let bad = 0;
  const firsts: string[] = [];
  for (let seed = 1; seed <= 60; seed++) {
    const next = random(seed);
    const pick = <T>(a: readonly T[]) => a[Math.floor(next() * a.length)]!;
    const weird = seed % 3; // 0: only consul-ish, 1: with flags oddities, 2: with forms/nested
    const rows: R[] = [];
    const count = 120 + Math.floor(next() * 100);
    for (let i = 0; i < count; i++)
      rows.push({ key: `app/k${String(i).padStart(4, '0')}${i % 13 === 3 ? pick(KEYS) : ''}`, mi: i + 1, flags: '0', value: `"${Buffer.from(`value ${i}`).toString('base64')}"`, form: 0, nested: 0, extra: 2 });
    const p = new ListParser();
    for (let step = 0; step < 150; step++) {
      let body = Buffer.from(`[${rows.map(text).join(',')}]${step % 7 === 0 ? '\n' : ''}`);
      if (next() < 0.15) {
        const at = Math.floor(next() * body.length);
        const k = next();
        const ch = Buffer.from([Buffer.from('{}[],":\\ 0a\xff')[Math.floor(next() * 12)]!]);
        if (k < 0.33) body[at] = ch[0]!;
        else if (k < 0.66) body = Buffer.concat([body.subarray(0, at), ch, body.subarray(at)]);
        else body = Buffer.concat([body.subarray(0, at), body.subarray(at + 1)]);
      }
      const got = via(p, body);
      const want = full(body);
      if (got !== want) { if (seed===22 && step===19) { require('node:fs').writeFileSync('/tmp/review-lp/b22.json', body); } bad++; if (firsts.length < 8) firsts.push(`seed ${seed} step ${step}: got ${got.slice(0, 120)} want ${want.slice(0, 120)}`); }
      // edit
      const r = pick(rows);
      const kind = Math.floor(next() * 12);
      const mi = 10000 + step;
      if (kind === 0 && rows.length > 2) rows.splice(rows.indexOf(r), 1);
      else if (kind === 1) rows.splice(Math.floor(next() * rows.length), 0, { ...r, key: `${r.key}z`, mi });
      else if (kind === 2) r.flags = weird === 1 ? pick(FLAGS) : String(Math.floor(next() * 100));
      else if (kind === 3) r.session = next() < 0.5 ? (next() < 0.5 ? '' : 'sess') : undefined;
      else if (kind === 4 && weird === 2) r.form = Math.floor(next() * 4);
      else if (kind === 5 && weird === 2) r.nested = Math.floor(next() * 4);
      else if (kind === 6 && weird === 1) r.extra = next() < 0.5 ? 1 : 2;
      else if (kind === 7) r.value = pick(['null', '"YQ=="', '"YQ="', '"Y*=="', '""', `"${Buffer.from(String(next())).toString('base64')}"`]);
      else if (kind === 8) rows.splice(0, 1);
      else if (kind === 9) rows.push({ ...r, key: `app/zz${step}`, mi });
      else r.value = `"${Buffer.from(`v${next()}`).toString('base64')}"`;
      r.mi = mi;
      if (rows.length === 0) rows.push({ ...r });
    }
  }
  console.log(bad, firsts.join('\n'));
  expect(bad).toBe(0);
});
