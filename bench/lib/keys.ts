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
