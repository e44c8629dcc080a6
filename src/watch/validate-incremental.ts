/**
 * Incremental schema validation of a prefix's tree: after a change, only what changed below the last good
 * output is run through the schema, and the output is that output with the changed parts replaced, equal
 * (deep, and in key order) to what zod gives for the whole tree.
 *
 * Walked change by change: `z.object` shapes (per property, with zod's rules for absent, optional and
 * defaulted properties, and its strip, strict and catchall handling of other keys), `z.record` of plain
 * string keys (per value), and the wrappers that hand a folder to their inner schema unchanged (optional,
 * nullable, default, prefault, nonoptional). Anything else under a change (an array, a union, a refinement
 * or transform, lazy, an intersection…) is validated as a whole value, and a node with its own checks
 * (`.refine` on an object) is validated whole at that node. Whatever fails, anywhere, makes the whole
 * result undefined: the caller then validates the whole tree, which words every issue.
 *
 * Outputs nobody holds are written in place (with an undo log), the rest is copied along the changed paths.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { safeParse } from 'zod/v4/core';
import { type OutputUndo, type OutputWrite, type Plan, type Prop, planOf } from './validate-plan.js';

/** One key written or deleted since the output being built on was validated. */
export interface ChangedKey {
  /** The key's path below the prefix. */
  readonly path: readonly string[];
  /** The key held a value in the tree that output was validated from. */
  readonly existed: boolean;
  /** The key was deleted since: written again, it went to the end of its folder. */
  readonly deleted: boolean;
}

/** How {@link validateChange} may write the previous output. */
export interface OutputOwnership {
  /** Nobody holds the previous output's top object: it may be written in place. */
  inPlace: boolean;
  /**
   * The object each nested output object was made for, by earlier changes: written in place only while its
   * parent is that object and is itself written in place (a copy shares children with what it copied, which
   * may be held). A new map whenever the value is handed out.
   */
  owners: WeakMap<object, object>;
}

/** The result of {@link validateChange}: the output, and what was written in the previous one in place. */
export interface ChangeOutput {
  value: unknown;
  /** Set when `value` is the previous output written in place; undefined when it is a new object. */
  undo: OutputUndo | undefined;
}

/** The path's children changed: what changed below, and what the tree held there before. */
interface ChangeNode {
  /** A key at exactly this path was written or deleted: its value is new as a whole. */
  leaf: boolean;
  /** A key at or below this path held a value before (so this folder existed). */
  existed: boolean;
  /** A key at or below this path was deleted since (its folder may have moved to the end of its parent). */
  deleted: boolean;
  children: Map<string, ChangeNode> | undefined;
}

const FAIL: unique symbol = Symbol('fail');
/** A property left out of the output (absent and optional). */
const OMIT: unique symbol = Symbol('omit');
type Outcome = unknown | typeof FAIL;

/** One validation's bookkeeping: objects it made, and its in-place writes (applied only if all is valid). */
interface Step {
  readonly owners: WeakMap<object, object>;
  readonly made: WeakSet<object>;
  readonly writes: OutputWrite[];
}

/**
 * The schema's output for `tree`, from `previous` (the output of the last successful validation) and the
 * keys changed since; undefined when it cannot be told without validating the whole tree (a schema with no
 * parts to walk, a change that fails, a schema that throws).
 */
export function validateChange(
  schema: zc.$ZodType,
  tree: Record<string, unknown>,
  previous: unknown,
  changes: Iterable<ChangedKey>,
  ownership: OutputOwnership,
): ChangeOutput | undefined {
  if (!isPlainObject(previous)) return undefined;
  // A schema with nothing to walk at the top is the whole tree's validation: left to the caller.
  let top = planOf(schema);
  for (let depth = 0; top.kind === 'wrap' && depth < 64; depth++) top = planOf(top.inner);
  if (top.kind !== 'object' && top.kind !== 'record') return undefined;
  const root = changeTree(changes);
  const step: Step = { owners: ownership.owners, made: new WeakSet(), writes: [] };
  let value: Outcome;
  try {
    value = validateAt(schema, tree, previous, root, ownership.inPlace, [], step);
  } catch {
    // A refinement that throws or turns async: whole validation reports it (`the schema threw`).
    return undefined;
  }
  if (value === FAIL) return undefined;
  if (value !== previous) return { value, undo: undefined };
  const undo: Array<OutputUndo[number]> = [];
  for (const [target, path, name, next] of step.writes) {
    const had = Object.hasOwn(target, name);
    undo.push([name, had, had ? target[name] : undefined, path]);
    target[name] = next;
  }
  return { value, undo };
}

function changeTree(changes: Iterable<ChangedKey>): ChangeNode {
  const root: ChangeNode = { leaf: false, existed: true, deleted: false, children: undefined };
  for (const { path, existed, deleted } of changes) {
    let node = root;
    for (const segment of path) {
      node.children ??= new Map();
      let next = node.children.get(segment);
      if (next === undefined) {
        next = { leaf: false, existed: false, deleted: false, children: undefined };
        node.children.set(segment, next);
      }
      node = next;
      node.existed ||= existed;
      node.deleted ||= deleted;
    }
    node.leaf = true;
  }
  return root;
}

/** The output of `schema` for `input`, whose previous output is `previous`; FAIL when it has issues. */
function validateAt(
  schema: zc.$ZodType,
  input: unknown,
  previous: unknown,
  node: ChangeNode,
  owned: boolean,
  path: readonly string[],
  step: Step,
): Outcome {
  if (node.leaf || !isPlainObject(input) || !isPlainObject(previous)) return whole(schema, input);
  const plan = planOf(schema);
  switch (plan.kind) {
    case 'wrap':
      // A default stands in for an absent folder: its output is no output of this folder's keys.
      if (plan.defaulted && !node.existed && !hasUntouched(input, node)) return whole(schema, input);
      return validateAt(plan.inner, input, previous, node, owned, path, step);
    case 'object':
      return objectAt(schema, plan, input, previous, node, owned, path, step);
    case 'record':
      return recordAt(schema, plan.value, input, previous, node, owned, path, step);
    default:
      return whole(schema, input);
  }
}

function whole(schema: zc.$ZodType, input: unknown): Outcome {
  const result = safeParse(schema, input);
  return result.success ? result.data : FAIL;
}

/** Whether `folder` holds a key no change touched (it then existed before the changes). */
function hasUntouched(folder: Record<string, unknown>, node: ChangeNode): boolean {
  for (const name in folder) if (node.children?.has(name) !== true) return true;
  return false;
}

/**
 * Whether a key may have moved to the end of its folder since: it was deleted and written again, or its
 * folder was emptied (and so removed) and made again. A folder that kept a key no change touched stayed.
 */
function moved(value: unknown, child: ChangeNode): boolean {
  if (!child.deleted) return false;
  return child.leaf || !isPlainObject(value) || !hasUntouched(value, child);
}

/** A changed child that can be walked: still a folder, in the previous output, not replaced as a whole. */
function walkable(
  input: unknown,
  previous: Record<string, unknown>,
  name: string,
  child: ChangeNode,
): boolean {
  return (
    !child.leaf && isPlainObject(input) && Object.hasOwn(previous, name) && isPlainObject(previous[name])
  );
}

function objectAt(
  schema: zc.$ZodType,
  plan: Extract<Plan, { kind: 'object' }>,
  input: Record<string, unknown>,
  previous: Record<string, unknown>,
  node: ChangeNode,
  owned: boolean,
  path: readonly string[],
  step: Step,
): Outcome {
  // What zod's object parse makes of each changed property: a value, OMIT, or FAIL.
  const fresh = new Map<string, unknown>();
  const walks: Array<[string, Prop, ChangeNode]> = [];
  let reorder = false;
  for (const [name, child] of node.children ?? []) {
    const shaped = plan.props.get(name);
    const prop = shaped ?? plan.catchall;
    if (prop === undefined) continue; // stripped
    // zod leaves `__proto__` out of the output; rare enough to leave to it.
    if (name === '__proto__') return whole(schema, input);
    // zod reads a shape's key with `in` (inherited names count), a catchall's with for…in (own ones here).
    const present = shaped !== undefined ? name in input : Object.hasOwn(input, name);
    if (shaped === undefined && present && plan.strict) return FAIL;
    const value = present ? input[name] : undefined;
    if (present && walkable(value, previous, name, child)) {
      walks.push([name, prop, child]);
      // A catchall key's place in the output follows the tree's order, which a delete and re-add moves.
      if (shaped === undefined && moved(value, child)) reorder = true;
      continue;
    }
    const had = Object.hasOwn(previous, name);
    // zod's catchall sees only the keys that are there; a shape runs each property, even on `undefined`.
    const outcome = shaped === undefined && !present ? OMIT : property(prop, present, value);
    if (outcome === FAIL) return FAIL;
    if (outcome === OMIT) {
      // Left out before and now: nothing to write. Left out now only: the key goes.
      if (had) reorder = true;
      if (had) fresh.set(name, OMIT);
      continue;
    }
    fresh.set(name, outcome);
    if (!had || (shaped === undefined && moved(value, child))) reorder = true;
  }
  // Walked children keep their place: written in place only when this object is.
  const inPlace = owned && !reorder;
  for (const [name, prop, child] of walks) {
    const before = previous[name] as Record<string, unknown>;
    const childOwned = inPlace && step.owners.get(before) === previous;
    const outcome = validateAt(prop.schema, input[name], before, child, childOwned, [...path, name], step);
    if (outcome === FAIL) return FAIL;
    fresh.set(name, outcome);
  }
  if (!reorder) return update(previous, fresh, [], inPlace, path, step);
  const output: Record<string, unknown> = {};
  for (const name of plan.keys) {
    const value = fresh.has(name) ? fresh.get(name) : Object.hasOwn(previous, name) ? previous[name] : OMIT;
    if (value !== OMIT) output[name] = value;
  }
  if (plan.catchall !== undefined) {
    for (const name in input) {
      if (plan.props.has(name) || name === '__proto__') continue;
      if (!fresh.has(name) && !Object.hasOwn(previous, name)) return whole(schema, input);
      const value = fresh.has(name) ? fresh.get(name) : previous[name];
      if (value !== OMIT) output[name] = value;
    }
  }
  return made(output, fresh, step);
}

/**
 * zod's rule for one property of a shape (handlePropertyResult in its object parse): its schema's output
 * for `value`, OMIT (an absent optional property, even one whose schema fails on `undefined`), or FAIL.
 */
function property(prop: Prop, present: boolean, value: unknown): Outcome {
  const optionalOut = prop.optout === 'optional';
  if (!present && optionalOut && prop.optin === 'optional') return OMIT;
  const result = whole(prop.schema, value);
  if (result === FAIL) return !present && optionalOut && prop.optin !== undefined ? OMIT : FAIL;
  if (!present && prop.optin === undefined) return FAIL;
  if (result === undefined && !present && (prop.optin !== 'defaulted' || optionalOut)) return OMIT;
  return result;
}

function recordAt(
  schema: zc.$ZodType,
  valueType: zc.$ZodType,
  input: Record<string, unknown>,
  previous: Record<string, unknown>,
  node: ChangeNode,
  owned: boolean,
  path: readonly string[],
  step: Step,
): Outcome {
  const fresh = new Map<string, unknown>();
  const walks: Array<[string, ChangeNode]> = [];
  let reorder = false;
  let added = 0;
  for (const [name, child] of node.children ?? []) {
    // zod leaves `__proto__` out of a record; rare enough to leave to it.
    if (name === '__proto__') return whole(schema, input);
    const present = Object.hasOwn(input, name);
    const had = Object.hasOwn(previous, name);
    // The output follows the tree's order: a delete, or a delete and re-add (which moves a key to the
    // end of its folder), rebuilds it from the tree.
    if (!present) {
      if (had) reorder = true;
      continue;
    }
    if (had && moved(input[name], child)) reorder = true;
    if (!had) added++;
    if (walkable(input[name], previous, name, child)) walks.push([name, child]);
    else {
      const outcome = whole(valueType, input[name]);
      if (outcome === FAIL) return FAIL;
      fresh.set(name, outcome);
    }
  }
  // New keys go last in the tree, in its order (a key that reads as an integer goes first: rebuilt).
  let tail: string[] = [];
  if (added > 0 && !reorder) {
    const keys = Object.keys(input);
    tail = keys.slice(keys.length - added);
    if (tail.some((name) => Object.hasOwn(previous, name) || !node.children?.has(name))) reorder = true;
  }
  const inPlace = owned && !reorder;
  for (const [name, child] of walks) {
    const before = previous[name] as Record<string, unknown>;
    const childOwned = inPlace && step.owners.get(before) === previous;
    const outcome = validateAt(valueType, input[name], before, child, childOwned, [...path, name], step);
    if (outcome === FAIL) return FAIL;
    fresh.set(name, outcome);
  }
  if (!reorder) return update(previous, fresh, tail, inPlace, path, step);
  const output: Record<string, unknown> = {};
  for (const name of Object.keys(input)) {
    if (fresh.has(name)) output[name] = fresh.get(name);
    else if (Object.hasOwn(previous, name)) output[name] = previous[name];
    else return whole(schema, input);
  }
  return made(output, fresh, step);
}

/**
 * `previous` with the `fresh` values of its keys replaced and the `tail` keys (new, in the tree's order)
 * added last: written in place when it may be (the writes wait until the whole validation succeeded),
 * else a copy. Nothing in `fresh` is OMIT here: a key that goes rebuilds the object.
 */
function update(
  previous: Record<string, unknown>,
  fresh: ReadonlyMap<string, unknown>,
  tail: readonly string[],
  inPlace: boolean,
  path: readonly string[],
  step: Step,
): Outcome {
  const replaced: string[] = [];
  for (const [name, value] of fresh) {
    if (Object.hasOwn(previous, name) && previous[name] !== value) replaced.push(name);
  }
  if (replaced.length === 0 && tail.length === 0) return previous;
  if (inPlace) {
    for (const name of [...replaced, ...tail]) {
      const value = fresh.get(name);
      step.writes.push([previous, path, name, value]);
      if (isObject(value) && step.made.has(value)) step.owners.set(value, previous);
    }
    return previous;
  }
  const output: Record<string, unknown> = {};
  // A loop over the keys copies a wide (dictionary-mode) object several times faster than `{ ...from }`.
  const keys = Object.keys(previous);
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i]!;
    output[name] = fresh.has(name) ? fresh.get(name) : previous[name];
  }
  for (const name of tail) output[name] = fresh.get(name);
  return made(output, fresh, step);
}

/** Registers an object made by this validation, and the new ones in it as its own. */
function made(output: Record<string, unknown>, fresh: ReadonlyMap<string, unknown>, step: Step): Outcome {
  step.made.add(output);
  for (const value of fresh.values())
    if (isObject(value) && step.made.has(value)) step.owners.set(value, output);
  return output;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** True for `{}`-style objects (the folders of a tree, zod's outputs), false for arrays, null, dates… */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
