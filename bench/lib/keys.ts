/**
 * The keys and values the bench writes: a two-level prefix (`<prefix>svc-042/key-07`, 100 keys per folder)
 * with small JSON values, like a service-config tree. Every process builds the same keys from the same
 * numbers, so a child server and the measuring process agree without sending the keys around.
 * @module
 */

/** Keys per folder below the prefix. */
const KEYS_PER_FOLDER = 100;

/** The i-th bench key under `prefix` (which ends in `/`). */
export function benchKey(prefix: string, i: number): string {
  const folder = String(Math.floor(i / KEYS_PER_FOLDER)).padStart(3, '0');
  const key = String(i % KEYS_PER_FOLDER).padStart(2, '0');
  return `${prefix}svc-${folder}/key-${key}`;
}

/** The value the i-th key is seeded with: about 60 bytes of JSON. */
export function benchValue(i: number, generation = 0): string {
  return JSON.stringify({ enabled: i % 2 === 0, limit: 1000 + i, owner: `team-${i % 17}`, generation });
}

/** `count` keys under `prefix` with their seed values, as the dev server's `seed` option takes them. */
export function benchSeed(prefix: string, count: number): Record<string, string> {
  const seed: Record<string, string> = {};
  for (let i = 0; i < count; i++) seed[benchKey(prefix, i)] = benchValue(i);
  return seed;
}

/** A spread of key numbers for `n` successive changes: a stride that visits folders far apart. */
export function changedKeyNumber(change: number, count: number): number {
  return (change * 7919 + 13) % count;
}

/** How the bench keys sit below their prefix: folders of 100 (`svc-042/key-07`), or all in one folder. */
export type KeyShape = 'nested' | 'flat';

/** The i-th key of a flat prefix: `<prefix>key-00042`, all 10,000 in one folder. */
export function flatKey(prefix: string, i: number): string {
  return `${prefix}key-${String(i).padStart(5, '0')}`;
}

/** The value a flat key holds: about 10 bytes of JSON (`{"v":1042}`). */
export function flatValue(i: number, generation = 0): string {
  return JSON.stringify({ v: 1000 + i + generation });
}

/** The i-th key of `shape` under `prefix`. */
export function shapeKey(shape: KeyShape, prefix: string, i: number): string {
  return shape === 'flat' ? flatKey(prefix, i) : benchKey(prefix, i);
}

/** The value of the i-th key of `shape`. */
export function shapeValue(shape: KeyShape, i: number, generation = 0): string {
  return shape === 'flat' ? flatValue(i, generation) : benchValue(i, generation);
}

/** `count` keys of `shape` under `prefix` with their seed values. */
export function shapeSeed(shape: KeyShape, prefix: string, count: number): Record<string, string> {
  if (shape === 'nested') return benchSeed(prefix, count);
  const seed: Record<string, string> = {};
  for (let i = 0; i < count; i++) seed[flatKey(prefix, i)] = flatValue(i);
  return seed;
}
