/**
 * Live typed feature flags: one Consul key each, whose `value` is always safe to read.
 *
 * A flag never throws and never holds a value of the wrong type: while its key is missing, empty or holds
 * something that does not parse, `value` is the default given in code, and an `invalid` event says why.
 * Values are plain text in Consul, so `consul kv put flags/checkout/new-flow true` is all an operator types.
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import * as z from 'zod/v4';
import {
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  errorText,
  InvalidArgumentError,
} from '../errors.js';
import { SafeEmitter } from '../events.js';
import { type Logger, resolveLogger } from '../logger.js';
import type { Subscription } from '../watch/subscription.js';
import type { Watcher } from '../watch/watcher.js';

/** The kinds of value a flag holds, and so how its text in Consul is parsed. */
export type FlagType = 'boolean' | 'string' | 'number' | 'object';

/** Any value a flag can hold: a boolean, string, number, or a JSON object or array. */
export type FlagValue = boolean | string | number | object;

/** The {@link FlagType} naming `T`: `'boolean'` for `boolean`, `'object'` for objects and arrays… */
export type FlagTypeOf<T> = T extends boolean
  ? 'boolean'
  : T extends string
    ? 'string'
    : T extends number
      ? 'number'
      : 'object';

/** `T` with literal types widened (`false` → `boolean`, `'a'` → `string`), so a flag's type follows its default. */
export type WidenFlag<T> = T extends boolean
  ? boolean
  : T extends string
    ? string
    : T extends number
      ? number
      : T;

/** Options of {@link createFlag}. */
export interface FlagOptions<T extends FlagValue> {
  /**
   * How the text in Consul is read:
   * - `'boolean'`: `true` or `false`, any letter case, surrounding whitespace ignored. Nothing else
   *   (`1`, `yes`, `on` are refused), so a typo never silently means `false`.
   * - `'number'`: a decimal number as JSON writes it (`42`, `-1.5`, `1e3`), surrounding whitespace ignored.
   *   Refused: `''`, `0x10`, `1_000`, `12px`, `NaN`, `Infinity`.
   * - `'string'`: the text exactly as stored.
   * - `'object'`: a JSON object or array.
   *
   * Must match the type of `default` (checked at compile time and at the call).
   */
  type: FlagTypeOf<T>;
  /** The value while the key is missing, empty or invalid, and before Consul first answers. */
  default: T;
  /**
   * A zod schema the parsed value must also pass (a number range, an enum of strings, an object shape).
   * A value it refuses counts as invalid. The default must pass it too.
   * @default none: any value of the right type is accepted
   */
  schema?: z.core.$ZodType<WidenFlag<T>>;
  /**
   * Where a refused value (and a watch error) is logged, object first.
   * @default no logging
   */
  logger?: Logger;
}

/**
 * Why a flag holds its current value: `'pending'` before Consul first answered, `'missing'` when the key is
 * absent or empty, `'invalid'` when its value was refused, `'stored'` when it is the value from Consul.
 */
export type FlagReason = 'pending' | 'missing' | 'invalid' | 'stored';

/** Payload of a flag's `change` event. */
export interface FlagChangeEvent<T> {
  /** The new value; `flag.value` already returns it. */
  value: T;
  /** The value before. */
  previous: T;
}

/** Events of a {@link Flag}. */
export interface FlagEvents<T> {
  /** The flag's value changed structurally (including back to the default). */
  change: (event: FlagChangeEvent<T>) => void;
  /** Consul holds a value that does not parse as the flag's type; `value` is the default until it is fixed. */
  invalid: (error: ConfigValidationError) => void;
  /** A watch error (transport, ACL, server); the flag keeps its value and the watch retries. */
  error: (error: ConsulError) => void;
}

/** The outcome of {@link parseFlagText}. */
export type ParsedFlag = { ok: true; value: unknown } | { ok: false; message: string };

/** What a flag's schema gives for a missing or empty key: the flag then serves its default. */
const MISSING: unique symbol = Symbol('consul-hotreload.flag.missing');

/** Strict decimal number syntax, as JSON writes numbers (plus an optional `+` and a bare fraction `.5`). */
const DECIMAL_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const EXPECTED: Readonly<Record<FlagType, string>> = {
  boolean: 'true or false',
  number: 'a decimal number',
  string: 'a string',
  object: 'a JSON object or array',
};

/**
 * A live feature flag read from one Consul key. Read `value` whenever the flag matters (it is always of the
 * flag's type), or listen to `change`. A view over `watcher.watch(key, …)` with a schema that parses the
 * flag's text: refused values are reported by the engine, with the same wording as any config.
 */
export class Flag<T> extends SafeEmitter<FlagEvents<T>> {
  /** The Consul key. */
  readonly key: string;
  /** How the key's text is parsed. */
  readonly type: FlagType;
  /** The value used while the key is missing, empty or invalid. */
  readonly default: T;
  /**
   * Resolves once Consul has answered for the first time (or the flag was closed, or the first read failed:
   * the flag then keeps its default and keeps trying). Never rejects, so it is safe to leave unawaited.
   */
  readonly ready: Promise<void>;
  readonly #logger: Required<Logger>;
  readonly #subscription: Subscription<unknown>;
  readonly #closeController = new AbortController();
  #value: T;
  #reason: FlagReason = 'pending';
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Use {@link createFlag}. */
  constructor(watcher: Watcher, key: string, options: FlagOptions<FlagValue>) {
    const logger = resolveLogger(options.logger);
    super((event, error) =>
      logger.error({ key, event, err: error }, `flag ${key}: a '${event}' listener threw`),
    );
    checkFlagArguments(key, options);
    this.key = key;
    this.type = options.type;
    this.default = options.default as T;
    this.#value = this.default;
    this.#logger = logger;
    this.#subscription = watcher.watch(key, {
      format: 'text',
      schema: flagSchema(options.type, options.schema),
      signal: this.#closeController.signal,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.#subscription.on('change', (event) => this.#apply(event.current));
    // The watcher has already logged these; pass them on.
    this.#subscription.on('invalid', (error) => {
      this.#set(this.default, 'invalid');
      this.emit('invalid', error);
    });
    this.#subscription.on('error', (error) => this.emit('error', error));
    this.ready = this.#subscription.ready.then(
      (value) => this.#apply(value),
      (error: unknown) => {
        // An invalid first value was announced by `invalid` already; otherwise (start timeout, 403…) the
        // watch keeps trying and a later value arrives as `change`.
        if (this.#closed || error instanceof ConfigValidationError) return;
        const reason = errorText(error);
        this.#logger.warn(
          { key: this.key },
          `flag ${this.key}: serving the default until Consul answers (${reason})`,
        );
      },
    );
  }

  /** The flag's value: what Consul holds when it parses, otherwise the default. Never throws. */
  get value(): T {
    return this.#value;
  }

  /** Why the flag holds its current value. */
  get reason(): FlagReason {
    return this.#reason;
  }

  /** Stops watching the key; `value` keeps its last value. Idempotent: a second call returns the same promise. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link Flag.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#closeController.abort(
      new ClosedError(`flag ${this.key}: closed`, { operation: 'flag.close', key: this.key }),
    );
    this.removeAllListeners();
    await this.#subscription.close();
  }

  #apply(parsed: unknown): void {
    if (this.#closed) return;
    if (parsed === MISSING) this.#set(this.default, 'missing');
    else this.#set(parsed as T, 'stored');
  }

  #set(value: T, reason: FlagReason): void {
    this.#reason = reason;
    const previous = this.#value;
    if (isDeepStrictEqual(previous, value)) return;
    this.#value = value;
    this.emit('change', { value, previous });
  }
}

/**
 * The schema a flag's subscription validates with: the key's text parsed as `type`, then the user's schema.
 * A missing or empty key (Consul's `"Value": null` or `''`) gives {@link MISSING}, like an unset flag.
 */
function flagSchema(type: FlagType, schema: z.core.$ZodType | undefined): z.ZodType<unknown> {
  return z.unknown().transform((raw, ctx) => {
    if (raw === undefined || raw === '') return MISSING;
    const text = typeof raw === 'string' ? raw : String(raw);
    const parsed = parseFlagText(type, text);
    if (!parsed.ok) {
      ctx.addIssue({
        code: 'custom',
        message: parsed.message,
        params: { expected: EXPECTED[type] },
        input: text,
      });
      return z.NEVER;
    }
    if (schema === undefined) return parsed.value;
    const result = z.safeParse(schema, parsed.value, { reportInput: true });
    if (result.success) return result.data;
    for (const issue of result.error.issues) ctx.addIssue({ ...issue } as z.core.$ZodRawIssue);
    return z.NEVER;
  });
}

/**
 * Creates a live flag on `key`, read through `watcher`. Flags under one of the watcher's `roots` share the
 * root's single query.
 *
 * @example
 * const newCheckout = createFlag(watcher, 'flags/checkout/new-flow', { type: 'boolean', default: false });
 * if (newCheckout.value) renderNewCheckout();
 */
export function createFlag<T extends FlagValue>(
  watcher: Watcher,
  key: string,
  options: FlagOptions<T>,
): Flag<WidenFlag<T>> {
  return new Flag<WidenFlag<T>>(watcher, key, options as FlagOptions<FlagValue>);
}

/** Parses a flag's text as `type`. Exported for tests and for the docs' table of accepted spellings. */
export function parseFlagText(type: FlagType, text: string): ParsedFlag {
  const refuse = (message: string): ParsedFlag => ({ ok: false, message });
  switch (type) {
    case 'string':
      return { ok: true, value: text };
    case 'boolean': {
      const word = text.trim().toLowerCase();
      if (word === 'true') return { ok: true, value: true };
      if (word === 'false') return { ok: true, value: false };
      return refuse(`expected ${EXPECTED.boolean}`);
    }
    case 'number': {
      const trimmed = text.trim();
      const value = Number(trimmed);
      if (DECIMAL_NUMBER.test(trimmed) && Number.isFinite(value)) return { ok: true, value };
      return refuse(`expected ${EXPECTED.number}`);
    }
    case 'object': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        return refuse(`not valid JSON (${(error as Error).message}); expected ${EXPECTED.object}`);
      }
      if (typeof value === 'object' && value !== null) return { ok: true, value };
      return refuse(`expected ${EXPECTED.object}`);
    }
  }
}

function checkFlagArguments(key: string, options: FlagOptions<FlagValue>): void {
  const fail = (message: string) =>
    new InvalidArgumentError(`flag ${key}: ${message}`, { operation: 'flag', key });
  if (typeof key !== 'string' || key === '' || key.endsWith('/') || key.startsWith('/')) {
    throw new InvalidArgumentError(
      `flag: key must be a non-empty Consul key without a leading or trailing '/', got ${JSON.stringify(key)}`,
      { operation: 'flag' },
    );
  }
  const { type, default: fallback } = options;
  if (!Object.hasOwn(EXPECTED, type))
    throw fail(`type must be 'boolean', 'string', 'number' or 'object', got ${String(type)}`);
  const matches =
    type === 'object'
      ? typeof fallback === 'object' && fallback !== null
      : type === 'number'
        ? typeof fallback === 'number' && Number.isFinite(fallback)
        : typeof fallback === type;
  if (!matches)
    throw fail(`default must be ${EXPECTED[type]} for a ${type} flag, got ${JSON.stringify(fallback)}`);
  if (options.schema !== undefined && !z.safeParse(options.schema, fallback).success) {
    throw fail(`default ${JSON.stringify(fallback)} does not pass the flag's schema`);
  }
}
