/**
 * Validation of a layered config's merged tree: runs the schema once on the merged tree and words every
 * problem exactly as the engine does (src/watch/validate.ts): `expected number`, `missing; expected string`,
 * `not described by the schema`, the value found, secret-looking values redacted. Each issue names the Consul
 * key that wins at its path, given by the merged tree.
 *
 * Interim copy. The engine validates only what one subscription holds, and its mapper is not on its face,
 * which views may not pass (test/unit/architecture.test.ts). Once the face exposes it (a `validateTree`
 * re-exported by src/watch/watcher.ts, as `validateWatchOptions` is), this file goes and layered.ts calls
 * that. Until then test/unit/config/layered-validate.test.ts holds both to the same output.
 * @module
 */
import type * as zc from 'zod/v4/core';
import { safeParse } from 'zod/v4/core';
import type { ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import { isPlainObject, type TreePath } from './layered-tree.js';

/** How {@link validateMerged} names keys and tells folders from values. */
export interface MergedValidationContext {
  /** The Consul key that wins (or would win) at a path. */
  keyOf: (path: TreePath) => string;
  /** True for an object of the tree that stands for a folder of keys (its keys are what exists in Consul). */
  isFolder: (node: unknown) => boolean;
  /** Also list the keys the schema does not describe. */
  findUnknownKeys: boolean;
}

/** Result of {@link validateMerged}. `unknownKeys` is filled only when asked for, whether or not `ok`. */
export type MergedValidation<T> =
  | { ok: true; value: T; unknownKeys: ValidationIssue[] }
  | { ok: false; issues: ValidationIssue[]; unknownKeys: ValidationIssue[] };

const UNKNOWN_KEY_MESSAGE = 'not described by the schema';
const RECEIVED_MAX = 80;

/** Runs `schema` on the merged `tree`; a schema that throws yields one issue naming the winning root key. */
export function validateMerged<S extends zc.$ZodType>(
  schema: S,
  tree: unknown,
  context: MergedValidationContext,
): MergedValidation<zc.output<S>> {
  let unknownKeys: ValidationIssue[] = [];
  let result: ReturnType<typeof safeParse<S>>;
  try {
    if (context.findUnknownKeys) {
      const found: TreePath[] = [];
      walk(schema, tree, [], found, context);
      unknownKeys = found.map((path) => unknownKeyIssue(tree, path, context));
    }
    result = safeParse(schema, tree, { reportInput: true });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const message = `the schema threw: ${detail.split('\n')[0]}`;
    return { ok: false, issues: [{ key: context.keyOf([]), path: [], message }], unknownKeys };
  }
  if (result.success) return { ok: true, value: result.data, unknownKeys };
  const issues = result.error.issues.flatMap((issue) => toIssues(issue, tree, context));
  return { ok: false, issues, unknownKeys };
}

function toIssues(issue: zc.$ZodIssue, input: unknown, context: MergedValidationContext): ValidationIssue[] {
  const path = issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((name) => unknownKeyIssue(input, [...path, name], context));
  }
  const found = 'input' in issue ? issue.input : valueAtPath(input, path);
  const key = context.keyOf(path);
  const received = describeReceived(found, isSecretPath(path));
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

function unknownKeyIssue(input: unknown, path: TreePath, context: MergedValidationContext): ValidationIssue {
  return {
    key: context.keyOf(path),
    path,
    message: UNKNOWN_KEY_MESSAGE,
    expected: 'no such key',
    received: describeReceived(valueAtPath(input, path), isSecretPath(path)),
  };
}

/** The engine's rendering of a found value; `undefined` (nothing at the path) is left out. */
function describeReceived(value: unknown, secret: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (secret) return '[redacted]';
  let text: string;
  if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'symbol' || typeof value === 'function') text = String(value);
  else {
    try {
      text = JSON.stringify(value, redactSecretFields) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > RECEIVED_MAX ? `${text.slice(0, RECEIVED_MAX - 1)}…` : text;
}

function redactSecretFields(this: unknown, name: string, value: unknown): unknown {
  return name !== '' && !Array.isArray(this) && looksSecret(name) ? '[redacted]' : value;
}

function valueAtPath(tree: unknown, path: TreePath): unknown {
  let node: unknown = tree;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') node = node[segment];
    else if (isPlainObject(node) && typeof segment === 'string' && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else return undefined;
  }
  return node;
}

/** A name on the path looks like a secret; layer prefixes name applications, not fields, and are not checked. */
function isSecretPath(path: TreePath): boolean {
  return path.some((segment) => typeof segment === 'string' && looksSecret(segment));
}

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
 * Collects the paths the schema does not describe, walking zod 4 object shapes as the engine does: objects
 * with a catchall and records describe every key, wrappers are looked through (a pipe by its input), a key
 * is unknown to a union or intersection only when no member describes it, anything else describes all.
 */
function walk(
  schema: zc.$ZodType,
  node: unknown,
  path: TreePath,
  found: TreePath[],
  context: MergedValidationContext,
): void {
  const def = (unwrap(schema) as zc.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'object': {
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node)) {
        const field = Object.hasOwn(def.shape, name) ? def.shape[name] : undefined;
        if (field !== undefined) walk(field, value, [...path, name], found, context);
        else if (def.catchall !== undefined) walk(def.catchall, value, [...path, name], found, context);
        else keyPaths(value, [...path, name], found, context);
      }
      return;
    }
    case 'record':
      if (!isPlainObject(node)) return;
      for (const [name, value] of Object.entries(node)) {
        walk(def.valueType, value, [...path, name], found, context);
      }
      return;
    case 'array':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        walk(def.element, item, [...path, index], found, context);
      });
      return;
    case 'tuple':
      if (!Array.isArray(node)) return;
      node.forEach((item, index) => {
        const itemSchema = def.items[index] ?? def.rest;
        if (itemSchema !== null && itemSchema !== undefined) {
          walk(itemSchema, item, [...path, index], found, context);
        }
      });
      return;
    case 'union':
      found.push(...commonPaths(def.options.map((option) => walkAt(option, node, path, context))));
      return;
    case 'intersection':
      found.push(
        ...commonPaths([walkAt(def.left, node, path, context), walkAt(def.right, node, path, context)]),
      );
      return;
    default:
      return;
  }
}

/** The paths of the keys at or below `path`: a folder stands for the keys inside it. Iterative. */
function keyPaths(node: unknown, path: TreePath, found: TreePath[], context: MergedValidationContext): void {
  const stack: Array<[unknown, TreePath]> = [[node, path]];
  while (stack.length > 0) {
    const [current, at] = stack.pop()!;
    if (!context.isFolder(current) || !isPlainObject(current)) {
      found.push(at);
      continue;
    }
    const children = Object.entries(current);
    for (let i = children.length - 1; i >= 0; i--) {
      const [name, value] = children[i]!;
      stack.push([value, [...at, name]]);
    }
  }
}

function walkAt(
  schema: zc.$ZodType,
  node: unknown,
  path: TreePath,
  context: MergedValidationContext,
): TreePath[] {
  const found: TreePath[] = [];
  walk(schema, node, path, found, context);
  return found;
}

function commonPaths(lists: TreePath[][]): TreePath[] {
  const [first = [], ...rest] = lists;
  const id = (path: TreePath) => JSON.stringify(path);
  const others = rest.map((list) => new Set(list.map(id)));
  return first.filter((path) => others.every((set) => set.has(id(path))));
}

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
