/**
 * The merged tree of a layered config: every layer's keys deep-merged, lowest precedence first, with the
 * Consul key that supplies each value (its provenance), and the per-value diff between two merged trees.
 *
 * Plain objects merge key by key, whether they come from folders of keys or from one key's JSON/YAML
 * object; any other value (string, number, array…) at a path replaces what a lower layer had there. Every
 * plain object of the merged tree is a fresh copy, so decoded values, which the watcher shares between
 * subscriptions, are never mutated.
 * @module
 */
import { sameValue } from './change-listeners.js';

/** A path inside the merged tree, e.g. `['db', 'port']` or `['hosts', 0]`. */
export type TreePath = ReadonlyArray<string | number>;

/** One layer as the merge reads it: its prefix (ending in `/`) and its keys' decoded values. */
export interface MergeLayer {
  readonly prefix: string;
  readonly entries: ReadonlyMap<string, { readonly value: unknown }>;
}

/** Where a node of the merged tree comes from. */
export interface Origin {
  /** The prefix of the layer that supplies it (for an object: the highest layer contributing to it). */
  readonly layer: string;
  /** The Consul key: the key holding the value, or for a folder its folder key, ending in `/`. */
  readonly key: string;
  /** True for a folder of keys, false for (part of) one key's decoded value. */
  readonly folder: boolean;
}

/** A value of the merged tree that is not a non-empty plain object, and where it comes from. */
export interface MergedLeaf {
  readonly path: readonly string[];
  readonly value: unknown;
  readonly origin: Origin;
}

/** One value of the merged tree that changed between two accepted configs. */
export interface LayeredChange {
  /** Where the value is in the tree (before the schema), e.g. `['db', 'port']`. */
  readonly path: readonly string[];
  readonly type: 'added' | 'updated' | 'deleted';
  /** The Consul key that supplies the value now; undefined when deleted. */
  readonly key: string | undefined;
  /** The prefix of the layer `key` is in; undefined when deleted. */
  readonly layer: string | undefined;
  /**
   * The key that supplied the value before, when that is not `key`: another layer now wins (a deletion in a
   * higher layer uncovered a lower value, or a higher layer now overrides it), or the value is gone.
   * Undefined when the same key still supplies it, and for an added value.
   */
  readonly previousKey: string | undefined;
  /** The decoded value now (before the schema); undefined when deleted. */
  readonly value: unknown;
  /** The decoded value before; undefined when added. */
  readonly previous: unknown;
}

/** The layers' keys merged into one tree, with each node's origin. */
export class MergedTree {
  /** The merged tree, the input of the schema. */
  readonly root: Record<string, unknown>;
  readonly #rootOrigin: Origin;
  /** Origin of each child of a merged object, by name. */
  readonly #origins: WeakMap<object, Map<string, Origin>>;
  /** Objects whose winning origin is a folder of keys (the root included). */
  readonly #folders: WeakSet<object>;

  /** @internal Use {@link mergeLayers}. */
  constructor(
    root: Record<string, unknown>,
    rootOrigin: Origin,
    origins: WeakMap<object, Map<string, Origin>>,
    folders: WeakSet<object>,
  ) {
    this.root = root;
    this.#rootOrigin = rootOrigin;
    this.#origins = origins;
    this.#folders = folders;
  }

  /** True when `node` is an object of the merged tree that is a folder of keys in its winning layer. */
  isFolder(node: unknown): boolean {
    return typeof node === 'object' && node !== null && this.#folders.has(node);
  }

  /**
   * The Consul key behind a path of the tree, as the engine names keys: the key holding the value (the rest
   * of the path is inside that decoded value), a folder key ending in `/` for a folder, or for a missing
   * value the key that would supply it, in the highest layer holding the folder above it.
   */
  keyOf(path: TreePath): string {
    let node: unknown = this.root;
    let origin = this.#rootOrigin;
    for (let depth = 0; depth < path.length; depth++) {
      if (!isPlainObject(node)) return origin.key;
      const name = String(path[depth]);
      if (!Object.hasOwn(node, name)) {
        if (!origin.folder) return origin.key;
        return `${origin.layer}${path
          .slice(0, depth + 1)
          .map(String)
          .join('/')}`;
      }
      origin = this.#origins.get(node)!.get(name)!;
      node = node[name];
    }
    return origin.key;
  }

  /** Every leaf (a value that is not a non-empty plain object), by path, in tree order. */
  leaves(): Map<string, MergedLeaf> {
    const found = new Map<string, MergedLeaf>();
    const stack: Array<[Record<string, unknown>, string[]]> = [[this.root, []]];
    while (stack.length > 0) {
      const [node, at] = stack.pop()!;
      const origins = this.#origins.get(node)!;
      const children = Object.keys(node);
      const nested: Array<[Record<string, unknown>, string[]]> = [];
      for (const name of children) {
        const value = node[name];
        const path = [...at, name];
        if (isPlainObject(value) && Object.keys(value).length > 0) nested.push([value, path]);
        else found.set(pathId(path), { path, value, origin: origins.get(name)! });
      }
      // Reversed onto the stack, so folders come out in the tree's order.
      for (let i = nested.length - 1; i >= 0; i--) stack.push(nested[i]!);
    }
    return found;
  }
}

/**
 * Merges the layers, lowest precedence first, into one tree. Folder keys (ending in `/`) hold no value and
 * are skipped; a key that is both a value and a folder inside one layer never gets here (the watcher refuses
 * that layer's value).
 */
export function mergeLayers(layers: readonly MergeLayer[]): MergedTree {
  const origins = new WeakMap<object, Map<string, Origin>>();
  const folders = new WeakSet<object>();
  const top = layers[layers.length - 1];
  const rootOrigin: Origin = { layer: top?.prefix ?? '', key: top?.prefix ?? '', folder: true };
  const root = newObject(origins);
  folders.add(root);
  const setChild = (parent: Record<string, unknown>, name: string, value: unknown, origin: Origin): void => {
    setOwn(parent, name, value);
    origins.get(parent)!.set(name, origin);
    if (isPlainObject(value)) {
      if (origin.folder) folders.add(value);
      else folders.delete(value);
    }
  };
  /** Copies a decoded value into `parent[name]`, merging plain objects into what is there. */
  const put = (parent: Record<string, unknown>, name: string, value: unknown, origin: Origin): void => {
    if (!isPlainObject(value)) {
      setChild(parent, name, value, origin);
      return;
    }
    const existing = Object.hasOwn(parent, name) ? parent[name] : undefined;
    const target = isPlainObject(existing) ? existing : newObject(origins);
    setChild(parent, name, target, origin);
    for (const child of Object.keys(value)) put(target, child, value[child], origin);
  };
  for (const { prefix, entries } of layers) {
    for (const [key, entry] of entries) {
      if (!key.startsWith(prefix) || key.endsWith('/') || key.length === prefix.length) continue;
      const path = key.slice(prefix.length).split('/');
      let node = root;
      for (let depth = 0; depth < path.length - 1; depth++) {
        const name = path[depth]!;
        const folderKey = `${prefix}${path.slice(0, depth + 1).join('/')}/`;
        const existing = Object.hasOwn(node, name) ? node[name] : undefined;
        // A lower layer's plain value here is replaced by this layer's folder; an object is merged into.
        const next = isPlainObject(existing) ? existing : newObject(origins);
        setChild(node, name, next, { layer: prefix, key: folderKey, folder: true });
        node = next;
      }
      put(node, path[path.length - 1]!, entry.value, { layer: prefix, key, folder: false });
    }
  }
  return new MergedTree(root, rootOrigin, origins, folders);
}

/**
 * The values that differ between two merged trees, in the order of the new tree, deletions last. A value
 * counts as changed when it differs structurally or another key now supplies it.
 */
export function diffLeaves(
  before: ReadonlyMap<string, MergedLeaf>,
  after: ReadonlyMap<string, MergedLeaf>,
): LayeredChange[] {
  const changes: LayeredChange[] = [];
  for (const [id, now] of after) {
    const was = before.get(id);
    const { path, value, origin } = now;
    if (was === undefined) {
      changes.push({
        path,
        type: 'added',
        key: origin.key,
        layer: origin.layer,
        previousKey: undefined,
        value,
        previous: undefined,
      });
      continue;
    }
    const moved = was.origin.key !== origin.key;
    if (!moved && sameValue(was.value, value)) continue;
    changes.push({
      path,
      type: 'updated',
      key: origin.key,
      layer: origin.layer,
      previousKey: moved ? was.origin.key : undefined,
      value,
      previous: was.value,
    });
  }
  for (const [id, was] of before) {
    if (after.has(id)) continue;
    changes.push({
      path: was.path,
      type: 'deleted',
      key: undefined,
      layer: undefined,
      previousKey: was.origin.key,
      value: undefined,
      previous: was.value,
    });
  }
  return changes;
}

function pathId(path: readonly string[]): string {
  return JSON.stringify(path);
}

function newObject(origins: WeakMap<object, Map<string, Origin>>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  origins.set(object, new Map());
  return object;
}

/** Sets an own property; a segment named `__proto__` becomes a property, never the prototype. */
function setOwn(object: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[name] = value;
  }
}

/** True for `{}`-style objects, false for arrays, null, dates, buffers… */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
