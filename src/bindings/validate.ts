/**
 * Checks the tree read under a config prefix against a zod 4 schema and turns every problem into a
 * {@link ValidationIssue} that names the Consul key, the schema path, what was expected and what was found.
 *
 * Also finds unknown keys: keys present in Consul that the schema does not describe. zod's default object
 * strips them silently, which hides typos (`db/hots` instead of `db/host`), so the binding reports them.
 * @module
 */
import type * as z from 'zod';
import { safeParse } from 'zod';
import type { ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import {
  type Decoder,
  decodeFailure,
  decoderFor,
  describeReceived as renderReceived,
  type WatchFormat,
} from '../watch/decode.js';
import { isFolder, locate } from '../watch/tree.js';

/** A path inside the config tree, e.g. `['db', 'port']` or `['hosts', 0]`. */
export type TreePath = ReadonlyArray<string | number>;

/** The outcome of {@link checkTree}: the parsed value when the schema accepted the tree, and every problem found. */
export interface TreeCheck<T> {
  /** True when the schema accepted the tree; `value` is then its output (defaults filled in). */
  ok: boolean;
  /** The schema's output; `undefined` unless `ok`. */
  value: T | undefined;
  /** Every problem the schema reported, each naming its Consul key. Empty when `ok`. */
  issues: ValidationIssue[];
  /** Keys found in Consul that the schema does not describe (reported whether or not `ok`). */
  unknownKeys: ValidationIssue[];
}

/**
 * Validates `tree` (the value assembled from the keys under `prefix`) with `schema`.
 *
 * @param prefix the watched prefix, ending in `/`; issue keys are `prefix` + the path joined with `/`.
 */
export function checkTree<S extends z.core.$ZodType>(
  schema: S,
  tree: unknown,
  prefix: string,
): TreeCheck<z.output<S>> {
  const context: IssueContext = { keyOf: (path) => keyForPath(prefix, tree, path), secret: false };
  const unknownKeys = findUnknownKeys(schema, tree).map((path) => unknownKeyIssue(tree, path, context));
  const failures = findDecodeFailures(tree);
  const decodeIssues = failures.map(
    ([path, failure]): ValidationIssue => ({ key: context.keyOf(path), path, message: failure.message }),
  );
  const result = safeParse(schema, tree);
  if (result.success && failures.length === 0) {
    return { ok: true, value: result.data, issues: [], unknownKeys };
  }
  // The schema's complaints about a value that did not decode add nothing to the decode error itself.
  const schemaIssues = result.success
    ? []
    : result.error.issues.filter((issue) => !failures.some(([path]) => startsWith(issue.path, path)));
  const issues = [...decodeIssues, ...toValidationIssues(schemaIssues, tree, context)];
  return { ok: false, value: undefined, issues, unknownKeys };
}

/**
 * A value that failed to decode, left in the tree in its place by {@link tolerantDecoder}. It is a class
 * instance, not a plain object, so no schema mistakes it for config.
 */
export class DecodeFailure {
  constructor(
    /** What went wrong, safe to show (no secret-looking key's content). */
    readonly message: string,
  ) {}
}

/**
 * Wraps `format` so that a value that does not decode becomes a {@link DecodeFailure} in the tree instead of
 * failing the whole read. The Watcher would otherwise refuse the tree on the first bad value, and startup
 * would report that one problem alone; this way `load()` lists decode and schema problems together.
 * Make one per binding: the Watcher's decode cache is keyed by the function.
 */
export function tolerantDecoder(format: WatchFormat): Decoder {
  const decode = decoderFor(format);
  return (value, key) => {
    try {
      return decode(value, key);
    } catch (error) {
      return new DecodeFailure(decodeFailure(format, key, error));
    }
  };
}

function findDecodeFailures(node: unknown, path: TreePath = []): Array<[TreePath, DecodeFailure]> {
  if (node instanceof DecodeFailure) return [[path, node]];
  if (!isPlainObject(node)) return [];
  return Object.entries(node).flatMap(([name, value]) => findDecodeFailures(value, [...path, name]));
}

function startsWith(path: readonly PropertyKey[], start: TreePath): boolean {
  return start.every((segment, i) => path[i] === segment);
}

/** How {@link toValidationIssues} names keys and decides redaction. */
export interface IssueContext {
  /** The Consul key holding the value at a path. */
  keyOf: (path: TreePath) => string;
  /** True when every value must be redacted (the key itself looks secret), not only those on secret paths. */
  secret: boolean;
}

/**
 * Turns zod issues about `input` (the value as read from Consul) into {@link ValidationIssue}s: each names its
 * Consul key and schema path, says what was expected, and shows what was found, redacted when secret.
 */
export function toValidationIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  context: IssueContext,
): ValidationIssue[] {
  return issues.flatMap((issue) => toIssues(issue, input, context));
}

/**
 * The Consul key that holds the value at `path`: the prefix plus the path's leading names, stopping at the
 * first key holding a value (a key whose JSON holds an object keeps the rest of the path inside its value) or
 * at the first missing name (the key to create). Uses the Watcher's tree, which tells folders from decoded
 * objects.
 */
export function keyForPath(prefix: string, tree: unknown, path: TreePath): string {
  return prefix + (isFolder(tree) ? locate(tree, path).keyPath.join('/') : '');
}

/** The value at `path` in `tree`, or `undefined` when any step is missing. */
export function valueAtPath(tree: unknown, path: TreePath): unknown {
  let node: unknown = tree;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') node = node[segment];
    else if (isPlainObject(node) && typeof segment === 'string') node = node[segment];
    else return undefined;
  }
  return node;
}

/**
 * Whether the value at `path` must not be shown: true when a name on the path looks like a secret
 * (`password`, `token`, `apiKey`… see `looksSecret`). The prefix is not checked: it names the application,
 * not a field, and `config/auth-service/` would otherwise hide every value.
 */
export function isSecretPath(path: TreePath): boolean {
  return path.some((segment) => typeof segment === 'string' && looksSecret(segment));
}

/**
 * {@link renderReceived} of the watcher, with `undefined` (nothing found at the path) left out of the issue.
 */
export function describeReceived(value: unknown, secret: boolean): string | undefined {
  return value === undefined ? undefined : renderReceived(value, secret);
}

function toIssues(issue: z.core.$ZodIssue, input: unknown, context: IssueContext): ValidationIssue[] {
  const path = issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
  if (issue.code === 'unrecognized_keys') {
    // z.strictObject reports all extra keys in one issue at the object's path; give each its own line.
    return issue.keys.map((name) => unknownKeyIssue(input, [...path, name], context));
  }
  const found = valueAtPath(input, path);
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

function unknownKeyIssue(input: unknown, path: TreePath, context: IssueContext): ValidationIssue {
  return {
    key: context.keyOf(path),
    path,
    message: 'not described by the schema',
    expected: 'no such key',
    received: describeReceived(valueAtPath(input, path), context.secret || isSecretPath(path)),
  };
}

/** "number | string" from the branches of a union that failed on the value's type. */
function unionExpected(issue: z.core.$ZodIssueInvalidUnion): string | undefined {
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

function describeExpected(issue: z.core.$ZodIssue): string | undefined {
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
    default:
      return undefined;
  }
}

function bound(origin: string, comparison: string, limit: number | bigint): string {
  const measured = origin === 'string' || origin === 'array' || origin === 'set' || origin === 'file';
  return measured ? `${origin} with length ${comparison} ${limit}` : `${origin} ${comparison} ${limit}`;
}

/**
 * Paths of the values in `tree` that `schema` does not describe, walking zod 4 object shapes. A folder
 * the schema does not describe is reported as the keys inside it, since those are what exists in Consul.
 *
 * An object with a catchall (`z.looseObject`, `.catchall()`, `z.strictObject`) describes every key: extra
 * keys are allowed, validated by the catchall, or rejected by zod itself. Records describe every key.
 * Wrappers (optional, default, nullable, pipe input, lazy…) are looked through. A key is unknown to a union or
 * intersection only when no member describes it. Transforms, `z.any()` and the like describe everything.
 */
export function findUnknownKeys(schema: z.core.$ZodType, tree: unknown): TreePath[] {
  const found: TreePath[] = [];
  walk(schema, tree, [], found);
  return found;
}

function walk(schema: z.core.$ZodType, node: unknown, path: TreePath, found: TreePath[]): void {
  const def = (unwrap(schema) as z.core.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'object': {
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node)) {
        const field = def.shape[name];
        if (field !== undefined) walk(field, value, [...path, name], found);
        else if (def.catchall !== undefined) walk(def.catchall, value, [...path, name], found);
        else found.push(...keyPaths(value, [...path, name]));
      }
      return;
    }
    case 'record':
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node)) walk(def.valueType, value, [...path, name], found);
      return;
    case 'array':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        walk(def.element, item, [...path, index], found);
      });
      return;
    case 'tuple':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        const itemSchema = def.items[index] ?? def.rest;
        if (itemSchema !== null && itemSchema !== undefined) walk(itemSchema, item, [...path, index], found);
      });
      return;
    case 'union':
      found.push(...commonPaths(def.options.map((option) => findUnknownAt(option, node, path))));
      return;
    case 'intersection':
      found.push(...commonPaths([findUnknownAt(def.left, node, path), findUnknownAt(def.right, node, path)]));
      return;
    default:
      return;
  }
}

/** The paths of the keys at or below `path`: a folder of the Watcher's tree stands for the keys inside it. */
function keyPaths(node: unknown, path: TreePath): TreePath[] {
  if (!isFolder(node)) return [path];
  return Object.entries(node).flatMap(([name, value]) => keyPaths(value, [...path, name]));
}

function findUnknownAt(schema: z.core.$ZodType, node: unknown, path: TreePath): TreePath[] {
  const found: TreePath[] = [];
  walk(schema, node, path, found);
  return found;
}

/** The paths present in every list (order of the first list). */
function commonPaths(lists: TreePath[][]): TreePath[] {
  const [first = [], ...rest] = lists;
  const id = (path: TreePath) => JSON.stringify(path);
  const others = rest.map((list) => new Set(list.map(id)));
  return first.filter((path) => others.every((set) => set.has(id(path))));
}

/** Looks through schemas that wrap another without changing which keys it describes. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema as z.core.$ZodTypes;
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
        current = def.innerType as z.core.$ZodTypes;
        break;
      case 'pipe':
        // What is stored in Consul is the pipe's input; its output may be a transformed shape.
        current = def.in as z.core.$ZodTypes;
        break;
      case 'lazy':
        current = def.getter() as z.core.$ZodTypes;
        break;
      default:
        return current;
    }
  }
  return current;
}

/** True for `{}`-style objects (the folders of a tree), false for arrays, null, dates, buffers… */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
