/**
 * Per-key values for `watch`: a decoder that never throws, so one key that does not decode does not hold
 * back the changes of the others, and the bookkeeping that reports each key against its last valid value.
 *
 * The engine refuses a whole prefix while one key fails to decode (the last good value keeps serving): right
 * for an application, wrong for a person watching who wants to see every other change. So `watch` hands the
 * engine its own decoder, which returns a {@link DecodeFailure} in place of a value that does not decode,
 * and reports those keys as `invalid` itself.
 * @module
 */
import { ConfigValidationError, type ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import type { ChangeEvent, Decoder, KeyChange, WatchedEntry } from '../watch/types.js';
import { decodeValue } from '../watch/watcher.js';

/** The formats `watch --format` accepts. */
export type WatchValueFormat = 'text' | 'json' | 'yaml';

/** A value that did not decode, in place of the value: `reason` says why, safe to print. */
export class DecodeFailure {
  readonly reason: string;

  constructor(reason: string) {
    this.reason = reason;
  }
}

const FORMAT_NAMES = { text: 'text', json: 'JSON', yaml: 'YAML' } as const;

/** What `watch` prints for the value of a secret-looking key. */
export const REDACTED = '[redacted]';

/**
 * A decoder with the meaning of the engine's `format` (text: UTF-8, `''` when empty; JSON and YAML:
 * `undefined` when empty, a leading BOM ignored), which returns a {@link DecodeFailure} instead of throwing.
 *
 * The value of a key whose name looks secret (`looksSecret`: token, password, api-key…) becomes
 * {@link REDACTED} once it has decoded, so it is in no output of `watch`; a failure then names only the
 * format, since parser messages can quote the input. As in the engine's validation report, below a prefix
 * only the part of the key under it counts: `config/auth-service/` names an application, not a secret.
 *
 * @param watched - the watched key, or prefix ending in `/`
 */
export function keyDecoder(format: WatchValueFormat, watched: string): Decoder {
  const decode = plainDecoder(format);
  const prefix = watched.endsWith('/') ? watched : '';
  return (value, key) => {
    if (!looksSecret(key.slice(prefix.length))) return decode(value, key);
    const decoded = decode(value, key);
    return decoded instanceof DecodeFailure
      ? new DecodeFailure(`not valid ${FORMAT_NAMES[format]}`)
      : REDACTED;
  };
}

/** The engine's decoder for `format`, with a {@link DecodeFailure} in place of a throw. */
function plainDecoder(format: WatchValueFormat): Decoder {
  return (value, key) => {
    const outcome = decodeValue(format, value, key);
    return outcome.ok ? outcome.value : new DecodeFailure(outcome.message);
  };
}

/**
 * `JSON.stringify` replacer for everything `watch` prints: fields with secret-looking names inside a value
 * (`{"password": …}`) are redacted like whole keys, and a key that does not decode is left out (of `current`,
 * of `previous`).
 */
export function printable(this: unknown, name: string, value: unknown): unknown {
  if (value instanceof DecodeFailure) return undefined;
  return name !== '' && !Array.isArray(this) && looksSecret(name) ? REDACTED : value;
}

/** What one answer means for a person: the valid changes, and the keys that do not decode (if any). */
export interface KeyReport {
  readonly changes: readonly KeyChange[];
  readonly invalid: ConfigValidationError | undefined;
}

/**
 * Remembers the last valid value of each key, so that a key fixed after a bad value is reported against
 * that value (`added` when it never had one), as the engine reports a whole value against the last good one.
 */
export class KeyTracker {
  readonly #key: string;
  readonly #lastValid = new Map<string, unknown>();

  /** @param key - the watched key, or prefix ending in `/` */
  constructor(key: string) {
    this.#key = key;
  }

  /** The first answer's keys; only the invalid ones are reported. */
  start(entries: ReadonlyMap<string, WatchedEntry>): ConfigValidationError | undefined {
    const issues: ValidationIssue[] = [];
    for (const [key, { value }] of entries) {
      if (value instanceof DecodeFailure) issues.push(this.#issue(key, value));
      else this.#lastValid.set(key, value);
    }
    return this.#error(issues);
  }

  /** A `change` event, split into valid changes (each against the key's last valid value) and invalid keys. */
  apply(event: ChangeEvent<unknown>): KeyReport {
    const changes: KeyChange[] = [];
    const issues: ValidationIssue[] = [];
    for (const { key, type, value } of event.changes) {
      const hadValid = this.#lastValid.has(key);
      const previous = this.#lastValid.get(key);
      if (value instanceof DecodeFailure) {
        issues.push(this.#issue(key, value));
      } else if (type === 'deleted') {
        this.#lastValid.delete(key);
        // A key that never decoded is gone: say so, with nothing to show as its value before.
        changes.push({ key, type, value: undefined, previous: hadValid ? previous : INVALID });
      } else {
        this.#lastValid.set(key, value);
        changes.push({ key, type: hadValid ? 'updated' : 'added', value, previous });
      }
    }
    return { changes, invalid: this.#error(issues) };
  }

  #issue(key: string, failure: DecodeFailure): ValidationIssue {
    const path = this.#key.endsWith('/') ? key.slice(this.#key.length).split('/') : [];
    return { key, path, message: failure.reason };
  }

  #error(issues: ValidationIssue[]): ConfigValidationError | undefined {
    return issues.length === 0 ? undefined : new ConfigValidationError('watch', this.#key, issues);
  }
}

/** The `previous` of a deleted key that never decoded. */
export const INVALID = new DecodeFailure('never decoded');
