/**
 * What incremental validation (validate-incremental.ts) may walk of a schema, worked out once per schema,
 * and the undo log of the outputs it writes in place.
 * @module
 */
import type * as zc from 'zod/v4/core';

/** One property of an object shape (or its catchall), with zod's optionality markers. */
export interface Prop {
  readonly schema: zc.$ZodType;
  /** `_zod.optin`: whether the property may be absent from the input, and whether it supplies a value. */
  readonly optin: 'optional' | 'defaulted' | undefined;
  /** `_zod.optout`: whether the output may lack it. */
  readonly optout: 'optional' | undefined;
}

/** How a schema is walked. */
export type Plan =
  /** Validated as a whole value wherever anything under it changed. */
  | { readonly kind: 'whole' }
  /** Hands a folder to `inner` as it is; `defaulted`: stands in a value when the input is absent. */
  | { readonly kind: 'wrap'; readonly inner: zc.$ZodType; readonly defaulted: boolean }
  | {
      readonly kind: 'object';
      /** The shape's keys in order (the output's order), `__proto__` left out as zod does. */
      readonly keys: readonly string[];
      readonly props: ReadonlyMap<string, Prop>;
      /** What other keys are run through; undefined: stripped. */
      readonly catchall: Prop | undefined;
      /** The catchall is `z.never()`: another key is an issue. */
      readonly strict: boolean;
    }
  | { readonly kind: 'record'; readonly value: zc.$ZodType };

const WHOLE: Plan = { kind: 'whole' };
const plans = new WeakMap<zc.$ZodType, Plan>();

/** The plan of `schema`, cached. */
export function planOf(schema: zc.$ZodType): Plan {
  let plan = plans.get(schema);
  if (plan === undefined) {
    plan = makePlan(schema);
    plans.set(schema, plan);
  }
  return plan;
}

function makePlan(schema: zc.$ZodType): Plan {
  // A check on the node itself (`.refine`, `.superRefine`, `.check`) sees the whole value.
  if (hasChecks(schema)) return WHOLE;
  const def = (schema as zc.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'nonoptional':
      // Each runs its inner schema on anything that is neither undefined nor null, and keeps its output.
      return { kind: 'wrap', inner: def.innerType, defaulted: false };
    case 'default':
    case 'prefault':
      return { kind: 'wrap', inner: def.innerType, defaulted: true };
    case 'object': {
      const shape = def.shape;
      if (Object.getOwnPropertySymbols(shape).length > 0) return WHOLE;
      const keys = Object.keys(shape).filter((name) => name !== '__proto__');
      const props = new Map<string, Prop>();
      for (const name of Object.keys(shape)) props.set(name, propOf(shape[name]!));
      const catchall = def.catchall === undefined ? undefined : propOf(def.catchall);
      const strict = def.catchall !== undefined && (def.catchall as zc.$ZodTypes)._zod.def.type === 'never';
      return { kind: 'object', keys, props, catchall, strict };
    }
    case 'record':
      // A key schema other than a bare z.string() may refuse or change a key: only whole validation sees it.
      return isPlainString(def.keyType) ? { kind: 'record', value: def.valueType } : WHOLE;
    default:
      return WHOLE;
  }
}

function propOf(schema: zc.$ZodType): Prop {
  const { optin, optout } = schema._zod;
  return { schema, optin, optout };
}

function hasChecks(schema: zc.$ZodType): boolean {
  return ((schema as zc.$ZodTypes)._zod.def.checks?.length ?? 0) > 0;
}

/**
 * A bare `z.string()` (an error message allowed): it accepts every key as it is. Anything else, a check, a
 * format (`z.email()`, `z.uuid()`: a string type with no `checks`), coercion, a literal or an enum, may refuse
 * or change a key, which only whole validation sees.
 */
function isPlainString(schema: zc.$ZodType): boolean {
  const def = (schema as zc.$ZodTypes)._zod.def as unknown as Record<string, unknown>;
  if (def.type !== 'string' || schema._zod.values !== undefined) return false;
  if (schema._zod.traits.has('$ZodStringFormat')) return false;
  return Object.keys(def).every(
    (name) => name === 'type' || name === 'error' || (name === 'checks' && hasChecks(schema) === false),
  );
}

/**
 * What an output written in place held before, in the order written: at `path` below the output's top,
 * `name` held `value` (`had`: it was there at all).
 */
export type OutputUndo = ReadonlyArray<
  readonly [name: string, had: boolean, value: unknown, path: readonly string[]]
>;

/** One in-place write, waiting until the whole validation succeeded: at `path` (`target`), `name` → value. */
export type OutputWrite = readonly [
  target: Record<string, unknown>,
  path: readonly string[],
  name: string,
  value: unknown,
];

/**
 * Puts an output written in place back as it was. Only `output` itself is written: an object below it
 * that a write changed is copied first (once per call), since an earlier value may share it; `inPlace`
 * writes those objects back instead, for an output that nothing else shares (a refused change's).
 * Only replaced values and added keys are ever written in place, so every key goes back to its place.
 */
export function undoOutput(output: Record<string, unknown>, undo: OutputUndo, inPlace = false): void {
  const copies = inPlace ? undefined : new WeakSet<object>();
  for (let i = undo.length - 1; i >= 0; i--) {
    const [name, had, value, path] = undo[i]!;
    let target = output;
    for (const segment of path) {
      let next = target[segment] as Record<string, unknown>;
      if (copies !== undefined && !copies.has(next)) {
        const copy: Record<string, unknown> = {};
        for (const key of Object.keys(next)) copy[key] = next[key];
        copies.add(copy);
        target[segment] = copy;
        next = copy;
      }
      target = next;
    }
    if (had) target[name] = value;
    else delete target[name];
  }
}
