/**
 * A subscription's two values: the candidate (what Consul holds now, decoded, as a per-key map and a tree)
 * and the last good one (what `current` serves), with the undo log that lets a batch update the good map in
 * place and still be rejected.
 *
 * A change batch updates the candidate; validated, it is committed and becomes the good value, and
 * {@link CandidateStore.commit} lists every key that differs from the previous good value, however many
 * invalid states came between.
 * @module
 */
import type * as zc from 'zod/v4/core';
import type { ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import type { DecodableEntry, DecodeCache } from './decode.js';
import { type DiffableEntry, sameContent } from './diff.js';
import {
  buildTree,
  emptyTree,
  type Folder,
  locate,
  type TreeConflict,
  TreeWriter,
  treePath,
} from './tree.js';
import type { KeyChange, WatchedEntry, WatchFormat } from './types.js';
import {
  findUnknownKeysAt,
  mayKeepFolders,
  type OutputUndo,
  undoOutput,
  type ValidationOutcome,
  type ValuePath,
  validate,
} from './validate.js';
import { type ChangedKey, validateChange } from './validate-incremental.js';

/** What a subscription reads of a KV entry; `KVEntry` has it all. */
export type WatchEntry = DiffableEntry & DecodableEntry;

/** How a candidate is decoded and validated. */
export interface CandidateInit {
  /** The key, or the prefix when it ends in `/`. */
  key: string;
  format: WatchFormat;
  schema: zc.$ZodType | undefined;
  /** List the keys the schema does not describe (`unknownKeys` other than `'ignore'`). */
  findUnknownKeys: boolean;
  cache: DecodeCache;
}

/** The outcome of {@link CandidateStore.check}. */
export type CandidateCheck = ValidationOutcome<unknown>;

/** One write of a batch to the tree: a value, or {@link DELETED}. */
type TreeOp = readonly [readonly string[], unknown];
const DELETED: unique symbol = Symbol('deleted');

/**
 * Makes the object a subclass constructor starts from: a base constructor that returns an object makes that
 * object the instance, so the subclass can give a plain object a private field.
 */
class Lend {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the return is the point (see the class comment)
    return target;
  }
}

/**
 * The KV entry a record was decoded from, kept in a private field of the record itself: invisible to
 * deep-equality checks, `util.inspect`, JSON and `structuredClone`, and it costs no table on the side (a
 * 10,000-key prefix holds 10,000 records). Cheaper to add than a non-enumerable property, which V8 defines
 * through a runtime call on every change.
 */
class RecordSource extends Lend {
  readonly #source: WatchEntry;

  private constructor(record: WatchedEntry, source: WatchEntry) {
    super(record);
    this.#source = source;
  }

  /** A record of `entries` for `value`, decoded from `source`. */
  static record(value: unknown, source: WatchEntry): WatchedEntry {
    const record = new DecodedRecord(value, source);
    // The "instance" is `record` itself (see Lend): this only adds the private field to it.
    new RecordSource(record, source);
    return record;
  }

  static of(record: WatchedEntry): WatchEntry | undefined {
    return #source in record ? (record as unknown as RecordSource).#source : undefined;
  }
}

/**
 * A record's own fields. A plain object (its prototype is Object.prototype, so deep-equality checks and
 * `util.inspect` see `{ value, modifyIndex, flags }`), made by a constructor so that V8 keeps its fields,
 * the private one included, in the object itself.
 */
const DecodedRecord = function (this: WatchedEntry, value: unknown, source: WatchEntry) {
  (this as { value: unknown }).value = value;
  (this as { modifyIndex: number }).modifyIndex = source.modifyIndex;
  (this as { flags: number }).flags = source.flags;
} as unknown as new (
  value: unknown,
  source: WatchEntry,
) => WatchedEntry;
DecodedRecord.prototype = Object.prototype;

function sourceOf(record: WatchedEntry): WatchEntry | undefined {
  return RecordSource.of(record);
}

function differs(before: WatchedEntry, after: WatchedEntry): boolean {
  if (before === after) return false;
  const a = sourceOf(before);
  const b = sourceOf(after);
  // Compare the bytes even when the ModifyIndex is equal: a value restored from the cache, or read from a
  // restarted cluster, can carry the same ModifyIndex as other bytes (consul-semantics §3).
  if (a === undefined || b === undefined) return before.modifyIndex !== after.modifyIndex;
  return !sameContent(a, b);
}

/** The KV entries behind the records, for the last-known-good cache. */
export function* sourcesOf(entries: ReadonlyMap<string, WatchedEntry>): Generator<WatchEntry> {
  for (const record of entries.values()) {
    const source = sourceOf(record);
    if (source !== undefined) yield source;
  }
}

/** The candidate and good values of one subscription. */
export class CandidateStore {
  readonly #init: CandidateInit;
  readonly #prefix: boolean;
  /** The good value's entries. */
  #entries: ReadonlyMap<string, WatchedEntry> = new Map();
  /**
   * `#entries` has left this object (the subscription's `entries` getter, or a cache write that builds its
   * snapshot later): it must never change again. Until then a batch may update it in place, which saves
   * copying a whole prefix per change.
   */
  #entriesExposed = false;
  // The candidate. `#tree` is undefined while two keys conflict. After a commit it IS `#entries`, until the
  // next batch.
  #candidate: Map<string, WatchedEntry> = new Map();
  /**
   * While a batch updates `#entries` in place (it is the candidate and was never exposed): the good record of
   * each key changed (undefined: the key was absent), to diff against in commit() and to restore in reject().
   */
  #goodBefore: Map<string, WatchedEntry | undefined> | undefined;
  #tree: Folder | undefined;
  /**
   * Folders of the trees here that have never left this object (the value was not handed out since they
   * were made): a batch writes them in place. Emptied by {@link CandidateStore.exposeTree}.
   */
  #owned = new WeakSet<Folder>();
  /** The last batch's in-place writes, until commit() keeps them or reject() undoes them. */
  #treeBatch: { writer: TreeWriter; base: Folder; ops: TreeOp[]; fromWriter: boolean } | undefined;
  #committedInPlace = false;
  /** Whether the schema's output may hold folders of the tree (then the tree is never written in place). */
  readonly #keepsFolders: boolean;
  /** The schema's output for the last candidate that validated, and for the good value. */
  #checkedOutput: unknown;
  /** How many unknown keys the last candidate that validated had, and the good value (see #validateChange). */
  #checkedUnknown = 0;
  #goodUnknown = 0;
  #goodOutput: { value: unknown } | undefined;
  /** The good output has never left this object: the next change may write it in place. */
  #outputOwned = false;
  /**
   * The parent each nested output object was made for (see validate-incremental.ts). Never reset: a handed-out
   * output's top is copied by the next change, which no object registered before is made for.
   */
  readonly #outputOwners = new WeakMap<object, object>();
  /** The last check's in-place writes to the good output, until commit() or reject(). */
  #outputUndo: OutputUndo | undefined;
  #committedOutputUndo: OutputUndo | undefined;
  #decodeIssues = new Map<string, ValidationIssue>();
  /** Keys changed since the last good value: commit() compares exactly these. */
  readonly #changedSinceGood = new Set<string>();
  /** Keys deleted since the last good value: written again, a key goes to the end of its folder. */
  readonly #deletedSinceGood = new Set<string>();
  /** The tree was rebuilt (in sorted key order) since the last good value. */
  #rebuiltSinceGood = false;

  constructor(init: CandidateInit) {
    this.#init = init;
    this.#prefix = init.key.endsWith('/');
    this.#keepsFolders = init.schema !== undefined && mayKeepFolders(init.schema);
    this.#tree = this.#prefix ? emptyTree() : undefined;
  }

  /** Whether the value is a prefix's tree (else one key's value). */
  get isPrefix(): boolean {
    return this.#prefix;
  }

  /** Whether `key` belongs to the value: the key itself, or a key of the tree below the prefix. */
  owns(key: string): boolean {
    return this.#prefix ? treePath(this.#init.key, key) !== undefined : key === this.#init.key;
  }

  /** Every key the candidate holds. */
  keys(): IterableIterator<string> {
    return this.#candidate.keys();
  }

  /** The good value's entries; the map handed out never changes afterwards. */
  exposeEntries(): ReadonlyMap<string, WatchedEntry> {
    // The next batch copies it rather than updating it in place.
    this.#entriesExposed = true;
    return this.#entries;
  }

  /** Whether the last commit wrote folders of the previous good tree in place. */
  get committedInPlace(): boolean {
    return this.#committedInPlace;
  }

  /**
   * The value (the tree, or a schema's output that may hold parts of it) is handed out: no folder of the
   * tree may change in place from now on.
   */
  exposeTree(): void {
    // A key's value has no folders: nothing to forget, and no WeakSet to make per change.
    if (this.#prefix) this.#owned = new WeakSet();
    this.#outputOwned = false;
  }

  /** What the last commit wrote in place in the previous good output (a schema's), if it did. */
  get committedOutputUndo(): OutputUndo | undefined {
    return this.#committedOutputUndo;
  }

  /** Decodes the batch into the candidate map and tree, then validates the candidate. */
  apply(batch: ReadonlyMap<string, WatchEntry | undefined>): CandidateCheck {
    return this.#check(this.#applyBatch(batch));
  }

  /**
   * Makes the candidate the good value; returns every key that differs from the previous good value
   * (deletions last, as within one answer), empty when nothing really changed.
   */
  commit(): KeyChange[] {
    const good = this.#entries;
    const candidate = this.#candidate;
    // Set when the batch updated the good Map in place: it then holds the candidate already.
    const goodBefore = this.#goodBefore;
    this.#goodBefore = undefined;
    this.#committedInPlace = this.#treeBatch !== undefined;
    if (this.#init.schema !== undefined) {
      this.#goodOutput = { value: this.#checkedOutput };
      this.#goodUnknown = this.#checkedUnknown;
      this.#outputOwned = true;
    }
    this.#committedOutputUndo = this.#outputUndo;
    this.#outputUndo = undefined;
    this.#treeBatch = undefined;
    const changes: KeyChange[] = [];
    const deletions: KeyChange[] = [];
    for (const key of this.#changedSinceGood) {
      const before = goodBefore?.has(key) === true ? goodBefore.get(key) : good.get(key);
      const after = candidate.get(key);
      if (before === undefined && after === undefined) continue;
      if (before === undefined) {
        changes.push({ key, type: 'added', value: after!.value, previous: undefined });
      } else if (after === undefined) {
        deletions.push({ key, type: 'deleted', value: undefined, previous: before.value });
      } else if (differs(before, after)) {
        changes.push({ key, type: 'updated', value: after.value, previous: before.value });
      }
    }
    if (deletions.length > 0) changes.push(...deletions);
    // Cleared only when not empty: each clear allocates a new table.
    this.#changedSinceGood.clear();
    if (this.#deletedSinceGood.size > 0) this.#deletedSinceGood.clear();
    this.#rebuiltSinceGood = false;
    if (candidate !== good) {
      this.#entries = candidate;
      this.#entriesExposed = false;
    }
    return changes;
  }

  /** The candidate was refused: the good value keeps serving, untouched. */
  reject(): void {
    if (this.#outputUndo !== undefined && this.#goodOutput !== undefined) {
      undoOutput(this.#goodOutput.value as Record<string, unknown>, this.#outputUndo, true);
    }
    this.#outputUndo = undefined;
    this.#restoreGood();
    this.#restoreTree(true);
  }

  /** Back to no candidate at all, as before the first answer. */
  reset(): void {
    this.#goodOutput = undefined;
    this.#outputOwned = false;
    this.#outputUndo = undefined;
    this.#restoreGood();
    this.#restoreTree(false);
    this.#candidate = new Map();
    this.#tree = this.#prefix ? emptyTree() : undefined;
    this.#decodeIssues.clear();
    this.#changedSinceGood.clear();
    this.#deletedSinceGood.clear();
    this.#rebuiltSinceGood = false;
  }

  #applyBatch(batch: ReadonlyMap<string, WatchEntry | undefined>): TreeConflict[] {
    if (batch.size === 0) return [];
    const { key: root, cache, format } = this.#init;
    let candidate = this.#candidate;
    // The candidate is private, so a batch updates it in place, except when it is the good value: then a
    // Map someone holds is copied (as a new Map per change), and one nobody saw is updated in place, with
    // the good records of the keys it changes kept aside. Never left over: every batch ends in commit(),
    // reject() or reset().
    let goodBefore: Map<string, WatchedEntry | undefined> | undefined;
    if (candidate === this.#entries) {
      if (this.#entriesExposed) candidate = new Map(candidate);
      else goodBefore = this.#goodBefore ??= new Map();
    }
    const base = this.#tree;
    const writer = base === undefined ? undefined : new TreeWriter(base, { owned: this.#owned });
    const ops: TreeOp[] = [];
    let conflicted = this.#tree === undefined && this.#prefix;
    for (const [key, entry] of batch) {
      this.#changedSinceGood.add(key);
      this.#decodeIssues.delete(key);
      if (goodBefore !== undefined && !goodBefore.has(key)) goodBefore.set(key, candidate.get(key));
      const path = this.#prefix ? treePath(root, key) : undefined;
      const outcome = entry === undefined ? undefined : cache.decode(entry, format);
      if (entry === undefined || outcome === undefined || !outcome.ok) {
        if (goodBefore !== undefined && candidate.has(key)) {
          // Putting a deleted key back would move it to the end of the good Map: give the candidate its
          // own Map now (only updates and additions happened in place so far, and those undo exactly).
          this.#candidate = candidate;
          this.#restoreGood();
          candidate = this.#candidate;
          goodBefore = undefined;
        }
        candidate.delete(key);
        this.#deletedSinceGood.add(key);
        if (path !== undefined && writer !== undefined) {
          writer.delete(path);
          ops.push([path, DELETED]);
        }
        if (outcome !== undefined && !outcome.ok) {
          this.#decodeIssues.set(key, { key, path: path ?? [], message: outcome.message });
        }
        continue;
      }
      candidate.set(key, RecordSource.record(outcome.value, entry));
      if (path !== undefined && writer !== undefined) {
        if (writer.set(path, outcome.value) !== undefined) conflicted = true;
        ops.push([path, outcome.value]);
      }
    }
    this.#candidate = candidate;
    if (!this.#prefix) return [];
    if (writer?.wroteInPlace) {
      this.#treeBatch = { writer, base: base!, ops, fromWriter: !conflicted };
    }
    if (!conflicted) {
      this.#tree = writer!.root;
      return [];
    }
    // A conflict: rebuild from scratch to list every one, and keep rebuilding until none is left.
    const { root: rebuilt, conflicts } = buildTree(this.#treeValues());
    this.#rebuiltSinceGood = true;
    this.#tree = conflicts.length === 0 ? rebuilt : undefined;
    return conflicts;
  }

  *#treeValues(): Generator<readonly [readonly string[], unknown]> {
    for (const [key, record] of this.#candidate) {
      const path = treePath(this.#init.key, key);
      if (path !== undefined) yield [path, record.value];
    }
  }

  /** Decode issues, tree conflicts and the schema's issues, from one mapper. */
  #check(conflicts: readonly TreeConflict[]): CandidateCheck {
    // Built only when there is something to report: most batches have nothing.
    const issues: ValidationIssue[] =
      this.#decodeIssues.size === 0 && conflicts.length === 0
        ? []
        : [...this.#decodeIssues.values(), ...conflicts.map((c) => this.#conflictIssue(c))];
    if (conflicts.length > 0 || (issues.length > 0 && !this.#prefix))
      return { ok: false, issues, unknownKeys: [] };
    // An empty prefix reads as an empty folder, so the schema's defaults can fill it.
    const input = this.#prefix ? this.#tree : this.#candidate.get(this.#init.key)?.value;
    const { schema, key } = this.#init;
    if (schema === undefined) {
      return issues.length === 0
        ? { ok: true, value: input, unknownKeys: [] }
        : { ok: false, issues, unknownKeys: [] };
    }
    // A schema's output may hold folders of the tree as they are (`z.unknown()`, a custom type…): with such
    // a schema the tree is handed out as soon as it is validated.
    if (this.#keepsFolders) this.exposeTree();
    const changed = issues.length === 0 ? this.#validateChange(schema, input) : undefined;
    if (changed !== undefined) {
      this.#checkedOutput = changed;
      this.#checkedUnknown = 0;
      return { ok: true, value: changed, unknownKeys: [] };
    }
    const result = validate(schema, input, {
      keyOf: (path) => this.#keyAt(path),
      // A single key's name can say it is a secret; a prefix names the application, not a field.
      secret: !this.#prefix && looksSecret(key),
      findUnknownKeys: this.#init.findUnknownKeys && this.#prefix,
    });
    if (result.ok && issues.length === 0) {
      this.#checkedOutput = result.value;
      this.#checkedUnknown = result.unknownKeys.length;
    }
    if (result.ok)
      return issues.length === 0 ? result : { ok: false, issues, unknownKeys: result.unknownKeys };
    // Keys that failed to decode are missing from the tree: drop the schema's complaints about them.
    for (const issue of result.issues) if (!this.#decodeIssues.has(issue.key)) issues.push(issue);
    return { ok: false, issues, unknownKeys: result.unknownKeys };
  }

  /**
   * The schema's output for the candidate from the good output and the keys changed since, when the schema
   * allows it (see validate-incremental.ts); undefined: validate the whole tree.
   */
  #validateChange(schema: zc.$ZodType, input: unknown): unknown {
    if (!this.#prefix || this.#goodOutput === undefined) return undefined;
    // Unknown keys are looked for along the changed keys only, when the good value had none: any found
    // (or a key that is also a folder) means the whole tree is walked, which lists them in its order.
    if (this.#init.findUnknownKeys && this.#goodUnknown > 0) return undefined;
    // A rebuilt tree has its keys in sorted order, not the order the good output follows.
    if (input === undefined || this.#rebuiltSinceGood) return undefined;
    const changes: ChangedKey[] = [];
    for (const key of this.#changedSinceGood) {
      const path = treePath(this.#init.key, key);
      if (path === undefined) continue;
      const before = this.#goodBefore?.has(key) === true ? this.#goodBefore.get(key) : this.#entries.get(key);
      changes.push({ path, existed: before !== undefined, deleted: this.#deletedSinceGood.has(key) });
    }
    if (this.#init.findUnknownKeys) {
      // Every changed path, deleted ones too: a key deleted and written again is in the tree (absent ones are skipped).
      const paths = changes.map((change) => change.path);
      const unknown = findUnknownKeysAt(schema, input as Folder, paths);
      if (unknown === undefined || unknown.length > 0) return undefined;
    }
    const result = validateChange(schema, input as Folder, this.#goodOutput.value, changes, {
      inPlace: this.#outputOwned,
      owners: this.#outputOwners,
    });
    this.#outputUndo = result?.undo;
    return result?.value;
  }

  /** The Consul key behind a path of the validated value (see `locate` in tree.ts). */
  #keyAt(path: ValuePath): string {
    const { key } = this.#init;
    if (!this.#prefix || this.#tree === undefined) return key;
    const { keyPath, folder } = locate(this.#tree, path);
    if (keyPath.length === 0) return key;
    return `${key}${keyPath.join('/')}${folder ? '/' : ''}`;
  }

  #conflictIssue(conflict: TreeConflict): ValidationIssue {
    const valueKey = this.#init.key + conflict.valuePath.join('/');
    const nestedKey = this.#init.key + conflict.nestedPath.join('/');
    return {
      key: valueKey,
      path: [...conflict.valuePath],
      message: `${valueKey} holds a value but is also a folder of ${nestedKey}; a key cannot be both`,
    };
  }

  /**
   * Undoes the last batch's in-place tree writes, so the tree they were made to (the good value's, or an
   * earlier candidate's) is whole again.
   * @param keepCandidate - rebuild the refused candidate tree by copy, for the next batch to build on
   */
  #restoreTree(keepCandidate: boolean): void {
    const batch = this.#treeBatch;
    if (batch === undefined) return;
    this.#treeBatch = undefined;
    batch.writer.undo();
    // The base tree's folders may be the good value's now: only fresh copies are ours to write in place.
    this.#owned = new WeakSet();
    if (!keepCandidate || !batch.fromWriter) return;
    const writer = new TreeWriter(batch.base, { owned: this.#owned });
    for (const [path, value] of batch.ops) {
      if (value === DELETED) writer.delete(path);
      else writer.set(path, value);
    }
    this.#tree = writer.root;
  }

  /**
   * Undoes a batch that updated the good Map in place: the candidate moves to a Map of its own and the good
   * one gets its records back, in its own order (only updates, which keep a key's place, and additions, at
   * the end, are ever made in place). Costs a copy, but only when a value is rejected or a key deleted.
   */
  #restoreGood(): void {
    const goodBefore = this.#goodBefore;
    if (goodBefore === undefined) return;
    this.#goodBefore = undefined;
    const good = this.#candidate;
    this.#candidate = new Map(good);
    for (const [key, record] of goodBefore) {
      if (record === undefined) good.delete(key);
      else good.set(key, record);
    }
  }
}
