/**
 * Live typed feature flags: one Consul key each, whose `value` is always safe to read.
 *
 * A flag never throws and never holds a value of the wrong type: while its key is missing, empty or holds
 * something that does not parse, `value` is the default given in code, and an `invalid` event says why.
 * Values are plain text in Consul, so `consul kv put flags/checkout/new-flow true` is all an operator types.
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type * as z from 'zod';
import { safeParse } from 'zod';
import {
  ClosedError,
  ConfigValidationError,
  type ConsulError,
  InvalidArgumentError,
  type ValidationIssue,
} from '../errors.js';
import { type Logger, looksSecret, resolveLogger } from '../logger.js';
import type { WatchSource, WatchSubscription } from './config.js';
import { deepEqual } from './equal.js';
import { describeReceived, toValidationIssues } from './validate.js';

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

/** Options of {@link createFlag} and `watcher.flag()`. */
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

type Parsed = { ok: true; value: unknown } | { ok: false; issues: ValidationIssue[] };

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
 * flag's type), or listen to `change`.
 */
export class Flag<T> extends EventEmitter<FlagEvents<T>> {
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
  readonly #schema: z.core.$ZodType | undefined;
  readonly #logger: Required<Logger>;
  readonly #subscription: WatchSubscription;
  readonly #closeController = new AbortController();
  #value: T;
  #reason: FlagReason = 'pending';
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Use {@link createFlag} or `watcher.flag()`. */
  constructor(source: WatchSource, key: string, options: FlagOptions<FlagValue>) {
    super();
    checkFlagArguments(key, options);
    this.key = key;
    this.type = options.type;
    this.default = options.default as T;
    this.#value = this.default;
    this.#schema = options.schema;
    this.#logger = resolveLogger(options.logger);
    this.#subscription = source.watch(key, { format: 'text', signal: this.#closeController.signal });
    this.#subscription.on('change', (event) => this.#apply(event.current));
    // The watcher has already logged these; pass them on.
    this.#subscription.on('invalid', (error) =>
      this.#safely('invalid listener', () => this.emit('invalid', error)),
    );
    this.#subscription.on('error', (error) =>
      this.#safely('error listener', () => this.emit('error', error)),
    );
    this.ready = this.#subscription.ready.then(
      () => this.#apply(this.#subscription.current),
      (error: unknown) => {
        // No first value (start timeout, 403…): the watch keeps trying and a later value arrives as `change`.
        if (this.#closed) return;
        const reason = error instanceof Error ? error.message : String(error);
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

  #apply(raw: unknown): void {
    if (this.#closed) return;
    // An empty value arrives as null (Consul's "Value": null) or ''; both mean "unset", like a missing key.
    if (raw === undefined || raw === null || raw === '') {
      this.#set(this.default, 'missing');
      return;
    }
    const parsed = this.#parse(raw);
    if (parsed.ok) {
      this.#set(parsed.value as T, 'stored');
      return;
    }
    this.#set(this.default, 'invalid');
    this.#refuse(new ConfigValidationError('flag', this.key, parsed.issues));
  }

  #parse(raw: unknown): Parsed {
    const parsed = parseFlagText(this.type, this.key, typeof raw === 'string' ? raw : String(raw));
    if (!parsed.ok || this.#schema === undefined) return parsed;
    const result = safeParse(this.#schema, parsed.value);
    if (result.success) return { ok: true, value: result.data };
    const secret = looksSecret(this.key);
    return {
      ok: false,
      issues: toValidationIssues(result.error.issues, parsed.value, { keyOf: () => this.key, secret }),
    };
  }

  #set(value: T, reason: FlagReason): void {
    this.#reason = reason;
    const previous = this.#value;
    if (deepEqual(previous, value)) return;
    this.#value = value;
    this.#safely('change listener', () => this.emit('change', { value, previous }));
  }

  #refuse(error: ConfigValidationError): void {
    this.#logger.warn({ key: this.key }, error.message);
    this.#safely('invalid listener', () => this.emit('invalid', error));
  }

  #safely(what: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#logger.error({ key: this.key, err: error }, `flag ${this.key}: ${what} threw`);
    }
  }
}

/**
 * Creates a live flag on `key`, read through `source` (a Watcher). `watcher.flag(key, options)` is the same
 * call.
 *
 * @example
 * const newCheckout = createFlag(watcher, 'flags/checkout/new-flow', { type: 'boolean', default: false });
 * if (newCheckout.value) renderNewCheckout();
 */
export function createFlag<T extends FlagValue>(
  source: WatchSource,
  key: string,
  options: FlagOptions<T>,
): Flag<WidenFlag<T>> {
  return new Flag<WidenFlag<T>>(source, key, options as FlagOptions<FlagValue>);
}

/**
 * Parses a flag's text as `type`. Exported for tests and for the docs' table of accepted spellings.
 * The `received` of a refused value is redacted when the key looks secret.
 */
export function parseFlagText(type: FlagType, key: string, text: string): Parsed {
  const refuse = (message: string): Parsed => ({
    ok: false,
    issues: [
      {
        key,
        path: [],
        message,
        expected: EXPECTED[type],
        received: describeReceived(text, looksSecret(key)),
      },
    ],
  });
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
  if (options.schema !== undefined && !safeParse(options.schema, fallback).success) {
    throw fail(`default ${JSON.stringify(fallback)} does not pass the flag's schema`);
  }
}
