/**
 * Structural equality for config values, so a binding can tell "really changed" from "re-read".
 *
 * Consul wakes a watch for many reasons that change nothing we care about (another key under the prefix,
 * `Flags` or a session on an entry, a delete and re-create of the same value: semantics §4), and zod builds a
 * fresh object on every parse. Comparing by reference would fire on each of those; comparing by structure
 * fires only when the selected data differs.
 * @module
 */

/**
 * True when `a` and `b` hold the same data.
 *
 * - Primitives compare with `Object.is` (so `NaN` equals `NaN`, `0` differs from `-0`).
 * - Plain objects: the same own enumerable keys, each value equal. `{ a: undefined }` differs from `{}`.
 * - Arrays and typed arrays (`Buffer`, `Uint8Array`…): same length, equal items in order.
 * - `Date` by time, `RegExp` by source and flags, `Map` by keys (as `Map` sees them) and equal values,
 *   `Set` by size and members (object members are matched structurally).
 * - Objects of different prototypes are never equal. Other objects (class instances) compare their own
 *   enumerable keys, like plain objects.
 *
 * Config values are trees, so cycles are not handled.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;

  if (Array.isArray(a)) return arraysEqual(a, b as unknown[]);
  if (ArrayBuffer.isView(a)) return bytesEqual(a, b as ArrayBufferView);
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags;
  if (a instanceof Map) return mapsEqual(a, b as Map<unknown, unknown>);
  if (a instanceof Set) return setsEqual(a, b as Set<unknown>);
  return recordsEqual(a as Record<string, unknown>, b as Record<string, unknown>);
}

function arraysEqual(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!deepEqual(a[i], b[i])) return false;
  }
  return true;
}

function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const left = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const right = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < left.length; i++) {
    if (left[i] !== right[i]) return false;
  }
  return true;
}

function mapsEqual(a: Map<unknown, unknown>, b: Map<unknown, unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) {
    if (!b.has(key) || !deepEqual(value, b.get(key))) return false;
  }
  return true;
}

function setsEqual(a: Set<unknown>, b: Set<unknown>): boolean {
  if (a.size !== b.size) return false;
  const unmatched = [...b].filter((member) => !a.has(member));
  for (const member of a) {
    if (b.has(member)) continue;
    const match = unmatched.findIndex((candidate) => deepEqual(member, candidate));
    if (match === -1) return false;
    unmatched.splice(match, 1);
  }
  return true;
}

function recordsEqual(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !deepEqual(a[key], b[key])) return false;
  }
  return true;
}
