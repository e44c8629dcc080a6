/**
 * The one validation mapper: runs a subscription's zod schema and turns every problem (schema issues and
 * keys the schema does not describe) into a {@link ValidationIssue} naming the Consul key, the schema path,
 * what was expected and what was found, secret-looking values redacted.
 *
 * Unknown keys are found here because zod's default object strips them silently, which hides typos
 * (`db/hots` instead of `db/host`).
 * @module
 */
import type * as zc from 'zod/v4/core';
import { safeParse } from 'zod/v4/core';
import { errorText, type ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import { describeReceived as renderReceived } from './decode.js';
import { emptyTree, isFolder as isTreeFolder, TreeWriter } from './tree.js';

export { type OutputUndo, undoOutput } from './validate-plan.js';

/** A path inside a validated value, e.g. `['db', 'port']` or `['hosts', 0]`. */
export type ValuePath = ReadonlyArray<string | number>;

/** Maps a path inside the validated value to the Consul key that holds (or should hold) it. */
export type KeyLocator = (path: ValuePath) => string;

/** How {@link validate} names keys and decides redaction. */
export interface ValidationContext {
  /** The Consul key holding the value at a path. */
  keyOf: KeyLocator;
  /** Every value is secret (the watched key itself looks secret), not only those on secret-looking paths. */
  secret: boolean;
  /** Also list the keys the schema does not describe. */
  findUnknownKeys: boolean;
  /**
   * Tells an object of the value that stands for a folder of Consul keys (whose keys are what exists in
   * Consul) from a decoded object. For a view that builds its own tree (a layered config's merge).
   * @default the watcher's prefix-tree folders
   */
  isFolder?: (node: unknown) => boolean;
}

/** A validation of a whole tree, for views that merge several subscriptions; see {@link validate}. */
export type TreeValidationContext = ValidationContext;

/** Result of {@link validate}. `unknownKeys` is filled only when asked for, whether or not `ok`. */
export type ValidationOutcome<T> =
  | { ok: true; value: T; unknownKeys: ValidationIssue[] }
  | { ok: false; issues: ValidationIssue[]; unknownKeys: ValidationIssue[] };

const UNKNOWN_KEY_MESSAGE = 'not described by the schema';

/**
 * Runs `schema` on `value` and maps each issue to its Consul key. A schema that throws, or is asynchronous,
 * yields one issue naming the watched key (the value is never applied).
 */
export function validate<S extends zc.$ZodType>(
  schema: S,
  value: unknown,
  context: ValidationContext,
): ValidationOutcome<zc.output<S>> {
  let unknownKeys: ValidationIssue[] = [];
  let result: ReturnType<typeof safeParse<S>>;
  try {
    if (context.findUnknownKeys) {
      unknownKeys = findUnknownKeys(schema, value, context.isFolder).map((path) =>
        unknownKeyIssue(value, path, context),
      );
    }
    result = safeParse(schema, value, { reportInput: true });
  } catch (error) {
    const message = `the schema threw: ${errorText(error, { firstLine: true })}`;
    return { ok: false, issues: [{ key: context.keyOf([]), path: [], message }], unknownKeys };
  }
  if (result.success) return { ok: true, value: result.data, unknownKeys };
  return { ok: false, issues: toValidationIssues(result.error.issues, value, context), unknownKeys };
}

/** Turns zod issues about `input` into {@link ValidationIssue}s, one wording for the whole library. */
function toValidationIssues(
  issues: readonly zc.$ZodIssue[],
  input: unknown,
  context: ValidationContext,
): ValidationIssue[] {
  return issues.flatMap((issue) => toIssues(issue, input, context));
}

function toIssues(issue: zc.$ZodIssue, input: unknown, context: ValidationContext): ValidationIssue[] {
  const path = issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
  if (issue.code === 'unrecognized_keys') {
    // z.strictObject reports all extra keys in one issue at the object's path; give each its own line.
    return issue.keys.map((name) => unknownKeyIssue(input, [...path, name], context));
  }
  // With `reportInput`, zod says what it looked at; a transform's own issues may not.
  const found = 'input' in issue ? issue.input : valueAtPath(input, path);
  const key = context.keyOf(path);
  const received = describeReceived(found, context.secret || isSecretPath(path));
  if (issue.code === 'invalid_type') {
    const message =
      found === undefined ? `missing; expected ${issue.expected}` : `expected ${issue.expected}`;
    return [{ key, path, message, expected: issue.expected, received }];
  }
  if (issue.code === 'invalid_union') {
    const expected = unionExpected(issue);
    const message = expected === undefined ? issue.message : `expected ${expected}`;
    return [
      { key, path, message: found === undefined ? `missing; ${message}` : message, expected, received },
    ];
  }
  return [{ key, path, message: issue.message, expected: describeExpected(issue), received }];
}

function unknownKeyIssue(input: unknown, path: ValuePath, context: ValidationContext): ValidationIssue {
  return {
    key: context.keyOf(path),
    path,
    message: UNKNOWN_KEY_MESSAGE,
    expected: 'no such key',
    received: describeReceived(valueAtPath(input, path), context.secret || isSecretPath(path)),
  };
}

/** The watcher's rendering of a found value, with `undefined` (nothing found at the path) left out. */
function describeReceived(value: unknown, secret: boolean): string | undefined {
  return value === undefined ? undefined : renderReceived(value, secret);
}

/** The value at `path` in `tree` (own properties only), or `undefined` when any step is missing. */
function valueAtPath(tree: unknown, path: ValuePath): unknown {
  let node: unknown = tree;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') node = node[segment];
    else if (isPlainObject(node) && typeof segment === 'string' && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else return undefined;
  }
  return node;
}

/**
 * True when a name on the path looks like a secret (`password`, `token`, `apiKey`…). The prefix is not
 * checked: it names the application, not a field, and `config/auth-service/` would otherwise hide every value.
 */
function isSecretPath(path: ValuePath): boolean {
  return path.some((segment) => typeof segment === 'string' && looksSecret(segment));
}

/** "number | string" from the branches of a union that failed on the value's type. */
function unionExpected(issue: zc.$ZodIssueInvalidUnion): string | undefined {
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const inner of branch) {
      if (inner.path.length === 0 && inner.code === 'invalid_type') expected.add(inner.expected);
      else if (inner.path.length === 0 && inner.code === 'invalid_value') {
        for (const value of inner.values) expected.add(JSON.stringify(value) ?? String(value));
      }
    }
  }
  return expected.size === 0 ? undefined : [...expected].join(' | ');
}

function describeExpected(issue: zc.$ZodIssue): string | undefined {
  switch (issue.code) {
    case 'too_small':
      return bound(issue.origin, issue.exact ? '=' : issue.inclusive ? '>=' : '>', issue.minimum);
    case 'too_big':
      return bound(issue.origin, issue.exact ? '=' : issue.inclusive ? '<=' : '<', issue.maximum);
    case 'invalid_format':
      return issue.pattern === undefined ? issue.format : `${issue.format} matching ${issue.pattern}`;
    case 'invalid_value':
      return issue.values.map((value) => JSON.stringify(value) ?? String(value)).join(' | ');
    case 'not_multiple_of':
      return `a multiple of ${issue.divisor}`;
    case 'custom': {
      // A custom check (a flag's type, a refine) may say what it wanted in `params.expected`.
      const expected = issue.params?.expected;
      return typeof expected === 'string' ? expected : undefined;
    }
    default:
      return undefined;
  }
}

function bound(origin: string, comparison: string, limit: number | bigint): string {
  const measured = origin === 'string' || origin === 'array' || origin === 'set' || origin === 'file';
  return measured ? `${origin} with length ${comparison} ${limit}` : `${origin} ${comparison} ${limit}`;
}

/**
 * Paths of the values in `tree` that `schema` does not describe, walking zod 4 object shapes. A folder the
 * schema does not describe is reported as the keys inside it, since those are what exists in Consul.
 *
 * An object with a catchall (`z.looseObject`, `.catchall()`, `z.strictObject`) describes every key: extra
 * keys are allowed, validated by the catchall, or rejected by zod itself. Records describe every key.
 * Wrappers (optional, default, nullable, pipe input, lazy…) are looked through. A key is unknown to a union or
 * intersection only when no member describes it. Transforms, `z.any()` and the like describe everything.
 * Only own properties of a shape count, so a key named `constructor` or `toString` is unknown, not a crash.
 */
export function findUnknownKeys(
  schema: zc.$ZodType,
  tree: unknown,
  isFolder: (node: unknown) => boolean = isTreeFolder,
): ValuePath[] {
  const found: ValuePath[] = [];
  walk(schema, tree, [], found, isFolder);
  return found;
}

/**
 * The unknown keys at or below `paths` of `tree`, as {@link findUnknownKeys} would list them for the whole
 * tree: whether a key is unknown depends only on the nodes along its own path (a union asks each member
 * about that path), so a tree holding just those paths gives exactly them. Undefined when a path ends at a
 * folder (a key that is also a folder: the whole tree must be walked).
 */
export function findUnknownKeysAt(
  schema: zc.$ZodType,
  tree: Record<string, unknown>,
  paths: ReadonlyArray<readonly string[]>,
): ValuePath[] | undefined {
  const writer = new TreeWriter(emptyTree());
  for (const path of paths) {
    let node: unknown = tree;
    for (const segment of path) {
      node = isTreeFolder(node) && Object.hasOwn(node, segment) ? node[segment] : undefined;
      if (node === undefined) break;
    }
    if (node === undefined) continue;
    if (isTreeFolder(node)) return undefined;
    writer.set(path, node);
  }
  return findUnknownKeys(schema, writer.root);
}

function walk(
  schema: zc.$ZodType,
  node: unknown,
  path: ValuePath,
  found: ValuePath[],
  isFolder: (node: unknown) => boolean,
): void {
  const def = (unwrap(schema) as zc.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'object': {
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node)) {
        const field = Object.hasOwn(def.shape, name) ? def.shape[name] : undefined;
        if (field !== undefined) walk(field, value, [...path, name], found, isFolder);
        else if (def.catchall !== undefined) walk(def.catchall, value, [...path, name], found, isFolder);
        else keyPaths(value, [...path, name], found, isFolder);
      }
      return;
    }
    case 'record':
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node))
        walk(def.valueType, value, [...path, name], found, isFolder);
      return;
    case 'array':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        walk(def.element, item, [...path, index], found, isFolder);
      });
      return;
    case 'tuple':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        const itemSchema = def.items[index] ?? def.rest;
        if (itemSchema !== null && itemSchema !== undefined)
          walk(itemSchema, item, [...path, index], found, isFolder);
      });
      return;
    case 'union':
      found.push(...commonPaths(def.options.map((option) => findUnknownAt(option, node, path, isFolder))));
      return;
    case 'intersection':
      found.push(
        ...commonPaths([
          findUnknownAt(def.left, node, path, isFolder),
          findUnknownAt(def.right, node, path, isFolder),
        ]),
      );
      return;
    default:
      return;
  }
}

/**
 * The paths of the keys at or below `path`: a folder of the Watcher's tree stands for the keys inside it.
 * Iterative, so a key 10,000 folders deep is listed, not a stack overflow.
 */
function keyPaths(
  node: unknown,
  path: ValuePath,
  found: ValuePath[],
  isFolder: (node: unknown) => boolean,
): void {
  const stack: Array<[unknown, ValuePath]> = [[node, path]];
  while (stack.length > 0) {
    const [current, at] = stack.pop()!;
    if (!isFolder(current)) {
      found.push(at);
      continue;
    }
    // Reversed onto the stack, so keys come out in the folder's order.
    const children = Object.entries(current as Record<string, unknown>);
    for (let i = children.length - 1; i >= 0; i--) {
      const [name, value] = children[i]!;
      stack.push([value, [...at, name]]);
    }
  }
}

function findUnknownAt(
  schema: zc.$ZodType,
  node: unknown,
  path: ValuePath,
  isFolder: (node: unknown) => boolean,
): ValuePath[] {
  const found: ValuePath[] = [];
  walk(schema, node, path, found, isFolder);
  return found;
}

/** The paths present in every list (order of the first list). */
function commonPaths(lists: ValuePath[][]): ValuePath[] {
  const [first = [], ...rest] = lists;
  const id = (path: ValuePath) => JSON.stringify(path);
  const others = rest.map((list) => new Set(list.map(id)));
  return first.filter((path) => others.every((set) => set.has(id(path))));
}

/** Looks through schemas that wrap another without changing which keys it describes. */
function unwrap(schema: zc.$ZodType): zc.$ZodType {
  let current = schema as zc.$ZodTypes;
  for (let depth = 0; depth < 64; depth++) {
    const def = current._zod.def;
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
      case 'success':
        current = def.innerType as zc.$ZodTypes;
        break;
      case 'pipe':
        // What is stored in Consul is the pipe's input; its output may be a transformed shape.
        current = def.in as zc.$ZodTypes;
        break;
      case 'lazy':
        current = def.getter() as zc.$ZodTypes;
        break;
      default:
        return current;
    }
  }
  return current;
}

/** True for `{}`-style objects (the folders of a tree), false for arrays, null, dates, buffers… */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Types whose output never is a folder of their input as it was: they refuse an object or build a new one. */
const OWN_OUTPUT = new Set([
  'string',
  'number',
  'boolean',
  'bigint',
  'null',
  'undefined',
  'void',
  'never',
  'nan',
  'symbol',
  'literal',
  'enum',
  'date',
  'template_literal',
  'array',
  'tuple',
  'set',
  'map',
  'file',
]);

/**
 * Whether `schema`'s output may hold a folder of the tree it validates by reference (`z.unknown()`, a
 * custom type, a transform…), which then must never be written in place. Conservative: anything not known
 * to build its own output counts.
 */
export function mayKeepFolders(schema: zc.$ZodType, depth = 0): boolean {
  if (depth > 32) return true;
  const def = (schema as zc.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'object':
      if (def.catchall !== undefined && mayKeepFolders(def.catchall, depth + 1)) return true;
      return Object.values(def.shape).some((field) => mayKeepFolders(field, depth + 1));
    case 'record':
      return mayKeepFolders(def.valueType, depth + 1);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
      return mayKeepFolders(def.innerType, depth + 1);
    default:
      return !OWN_OUTPUT.has(def.type);
  }
}
