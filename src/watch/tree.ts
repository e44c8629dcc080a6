/**
 * The object a prefix subscription serves: keys below the prefix become nested properties
 * (`config/app/db/host` under `config/app/` → `{ db: { host } }`).
 *
 * Updates copy only the folders along the changed path ("copy-on-write"), so an unchanged subtree keeps its
 * identity across changes and a one-key change does not rebuild the tree. A folder that has never left its
 * owner (see {@link TreeWriterOptions.owned}) is written in place instead, with an undo log: a wide folder
 * (10,000 keys in one) costs one property write per change rather than a copy of every property. Folders are
 * plain objects made here and remembered in a WeakSet, which is how a folder is told apart from a decoded
 * value that happens to be an object.
 * @module
 */

/** A folder of the tree: a plain object whose properties are sub-folders or decoded values. */
export type Folder = Record<string, unknown>;

/** Objects created by this module as folders. A decoded JSON object is a value, never a folder. */
const folders = new WeakSet<object>();

function newFolder(from?: Folder): Folder {
  const folder: Folder = {};
  if (from !== undefined) {
    // A loop over the keys copies a wide (dictionary-mode) object several times faster than `{ ...from }`.
    const keys = Object.keys(from);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      setChild(folder, key, from[key]);
    }
  }
  folders.add(folder);
  return folder;
}

/** True when `value` is a folder made by this module (not a decoded value). */
export function isFolder(value: unknown): value is Folder {
  return typeof value === 'object' && value !== null && folders.has(value);
}

/** An empty tree: what an empty prefix serves. */
export function emptyTree(): Folder {
  return newFolder();
}

/**
 * Splits a full key into path segments below `prefix`; undefined for keys the tree skips: the prefix's own
 * folder key, and folder keys ending in `/` (created by the Consul UI, they hold no value).
 */
export function treePath(prefix: string, key: string): string[] | undefined {
  if (!key.startsWith(prefix) || key.endsWith('/') || key.length === prefix.length) return undefined;
  return key.slice(prefix.length).split('/');
}

function child(folder: Folder, segment: string): unknown {
  return Object.hasOwn(folder, segment) ? folder[segment] : undefined;
}

function setChild(folder: Folder, segment: string, value: unknown): void {
  // A key segment named `__proto__` must become a property, not replace the prototype.
  if (segment === '__proto__') {
    Object.defineProperty(folder, segment, { value, enumerable: true, writable: true, configurable: true });
  } else {
    folder[segment] = value;
  }
}

/** A key that is both a value and a folder of other keys (`db` and `db/host`): no tree can hold both. */
export interface TreeConflict {
  /** Path of the key holding a value, below the prefix. */
  readonly valuePath: readonly string[];
  /** Path of a key below it, below the prefix. */
  readonly nestedPath: readonly string[];
}

/** Options of {@link TreeWriter}. */
export interface TreeWriterOptions {
  /**
   * Folders nobody but the caller holds: values are set in them in place (each write logged for
   * {@link TreeWriter.undo}) instead of copying them. Copies the writer makes are added to it.
   * @default a set of its own (every folder of the original tree is copied before it is written)
   */
  owned?: WeakSet<Folder>;
}

/** One value set in place: enough to put the folder back as it was. */
interface UndoStep {
  readonly folder: Folder;
  readonly segment: string;
  readonly had: boolean;
  readonly value: unknown;
}

/**
 * Applies a batch of changes to a tree without touching the original: the first write to a folder copies
 * it, later writes in the same batch reuse the copy. Folders in `owned` are written in place instead, and
 * {@link TreeWriter.undo} puts them back.
 */
export class TreeWriter {
  #root: Folder;
  /** Folders safe to mutate: made during this batch, or owned by the caller. */
  readonly #owned: WeakSet<Folder>;
  /** Folders made during this batch: writing them needs no undo. */
  readonly #fresh = new WeakSet<Folder>();
  readonly #undo: UndoStep[] = [];

  constructor(root: Folder, options: TreeWriterOptions = {}) {
    this.#root = root;
    this.#owned = options.owned ?? new WeakSet();
  }

  /** The tree after the writes so far. */
  get root(): Folder {
    return this.#root;
  }

  /** Whether a folder that existed before the batch was written in place (so the original changed). */
  get wroteInPlace(): boolean {
    return this.#undo.length > 0;
  }

  /** Puts every folder written in place back as it was before the batch; the original tree is whole again. */
  undo(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) {
      const { folder, segment, had, value } = this.#undo[i]!;
      // A segment that was added went to the end of the folder: deleting it leaves the others in order.
      if (had) setChild(folder, segment, value);
      else delete folder[segment];
    }
    this.#undo.length = 0;
  }

  #writable(folder: Folder): Folder {
    if (this.#fresh.has(folder) || this.#owned.has(folder)) return folder;
    const copy = this.#made(newFolder(folder));
    return copy;
  }

  #made(folder: Folder): Folder {
    this.#fresh.add(folder);
    this.#owned.add(folder);
    return folder;
  }

  /** Sets a segment of a writable folder, logging it when the folder predates the batch. */
  #put(folder: Folder, segment: string, value: unknown): void {
    if (!this.#fresh.has(folder)) {
      const had = Object.hasOwn(folder, segment);
      this.#undo.push({ folder, segment, had, value: had ? folder[segment] : undefined });
    }
    setChild(folder, segment, value);
  }

  /**
   * Sets the value at `path`. Returns the conflict instead, leaving the tree as it was, when a key above
   * holds a value or `path` itself is a folder of other keys.
   */
  set(path: readonly string[], value: unknown): TreeConflict | undefined {
    const chain: Folder[] = [this.#root];
    for (let depth = 0; depth < path.length - 1; depth++) {
      const next = child(chain[depth]!, path[depth]!);
      if (next === undefined) break;
      if (!isFolder(next)) return { valuePath: path.slice(0, depth + 1), nestedPath: path };
      chain.push(next);
    }
    if (chain.length === path.length) {
      const existing = child(chain[chain.length - 1]!, path[path.length - 1]!);
      if (isFolder(existing)) return { valuePath: path, nestedPath: [...path, ...firstValuePath(existing)] };
    }
    // Rebuild bottom-up: copies of the existing folders on the path, new folders below them.
    let node: unknown = value;
    for (let depth = path.length - 1; depth >= 0; depth--) {
      const existing = chain[depth];
      const folder = existing === undefined ? this.#made(newFolder()) : this.#writable(existing);
      this.#put(folder, path[depth]!, node);
      node = folder;
      if (existing !== undefined && folder === existing) return undefined; // writable: parents hold it
    }
    this.#root = node as Folder;
    return undefined;
  }

  /**
   * Removes the value at `path`, and folders left empty by it (a full rebuild would not have them). Always
   * by copy, except in folders made during this batch: putting a deleted key back would move it to the end
   * of its folder, so an undo could not restore the order.
   */
  delete(path: readonly string[]): void {
    const chain: Folder[] = [this.#root];
    for (let depth = 0; depth < path.length - 1; depth++) {
      const next = child(chain[depth]!, path[depth]!);
      if (!isFolder(next)) return;
      chain.push(next);
    }
    const last = chain[chain.length - 1]!;
    if (!Object.hasOwn(last, path[path.length - 1]!)) return;
    let removeFrom = path.length - 1;
    // Climb while the folder would be left empty, so the empty folder goes too (never the root).
    while (removeFrom > 0 && Object.keys(chain[removeFrom]!).length === 1) removeFrom--;
    let node: Folder | undefined;
    for (let depth = removeFrom; depth >= 0; depth--) {
      const existing = chain[depth]!;
      const folder = this.#fresh.has(existing) ? existing : this.#made(newFolder(existing));
      if (node === undefined) delete folder[path[depth]!];
      else this.#put(folder, path[depth]!, node);
      if (folder === existing) return;
      node = folder;
    }
    this.#root = node!;
  }
}

function firstValuePath(folder: Folder): string[] {
  const path: string[] = [];
  let node: unknown = folder;
  while (isFolder(node)) {
    const first = Object.keys(node)[0];
    if (first === undefined) break;
    path.push(first);
    node = node[first];
  }
  return path;
}

/**
 * Builds a tree from scratch, visiting keys in sorted order so the result and its conflicts do not depend
 * on arrival order. Used when a batch met a conflict (to list every conflict) and while one persists.
 *
 * @param values - path below the prefix → decoded value
 */
export function buildTree(values: Iterable<readonly [readonly string[], unknown]>): {
  root: Folder;
  conflicts: TreeConflict[];
} {
  const sorted = [...values].sort(([a], [b]) => compareStrings(a.join('/'), b.join('/')));
  const writer = new TreeWriter(emptyTree());
  const conflicts: TreeConflict[] = [];
  for (const [path, value] of sorted) {
    const conflict = writer.set(path, value);
    if (conflict !== undefined) conflicts.push(conflict);
  }
  return { root: writer.root, conflicts };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Finds which key a path inside the tree belongs to, for naming Consul keys in validation issues.
 *
 * Walks folders along `path`: stops at a value (the key that holds it; the rest of the path is inside that
 * decoded value), at a missing property (the key that would satisfy it), or at the end (a folder).
 *
 * @returns the key's path below the prefix and whether it is a folder
 */
export function locate(root: Folder, path: readonly PropertyKey[]): { keyPath: string[]; folder: boolean } {
  const keyPath: string[] = [];
  let node: unknown = root;
  for (const segment of path) {
    if (!isFolder(node)) return { keyPath, folder: false };
    const name = String(segment);
    keyPath.push(name);
    if (!Object.hasOwn(node, name)) return { keyPath, folder: false };
    node = node[name];
  }
  return { keyPath, folder: isFolder(node) };
}

/** One change of a key between two trees: what the key held before (`added`: nothing). */
export interface TreeChange {
  readonly key: string;
  readonly type: 'added' | 'updated' | 'deleted';
  readonly previous: unknown;
}

/**
 * The tree as it was before `changes` (in the order they were made, oldest first) were applied to reach
 * `root`: a copy along the changed paths, sharing every other folder with `root`. A key put back after a
 * later delete goes last in its folder, so the rewound tree has the old values but not always the old key
 * order (keeping each key's position would cost a copy of the folder per put-back).
 */
export function rewind(root: Folder, prefix: string, changes: readonly (readonly TreeChange[])[]): Folder {
  const writer = new TreeWriter(root);
  for (let i = changes.length - 1; i >= 0; i--) {
    const list = changes[i]!;
    // One batch may turn a value into a folder (`db` deleted, `db/host` added) or back: remove what it
    // added before putting back what it replaced or deleted, so no put-back meets a folder in its way.
    for (const change of list) {
      const path = change.type === 'added' ? treePath(prefix, change.key) : undefined;
      if (path !== undefined) writer.delete(path);
    }
    for (const change of list) {
      const path = change.type === 'added' ? undefined : treePath(prefix, change.key);
      if (path !== undefined) writer.set(path, change.previous);
    }
  }
  return writer.root;
}
