/**
 * The `unknownKeys` policy applied to a validation outcome: `'error'` makes keys the schema does not describe
 * validation issues, `'warn'` logs each such key once per appearance, `'ignore'` says nothing.
 * @module
 */
import type { ValidationIssue } from '../errors.js';
import type { Logger } from '../logger.js';
import type { UnknownKeysMode } from './types.js';
import type { ValidationOutcome } from './validate.js';

/** One subscription's (or view's) unknown-key policy, remembering which keys it has already warned of. */
export class UnknownKeysPolicy {
  readonly #mode: UnknownKeysMode;
  readonly #logger: Required<Logger>;
  /** The watched prefix (or a view's name), for the warning. */
  readonly #owner: string;
  /** Unknown keys already logged, so `'warn'` logs a key once per appearance, not on every change. */
  #warned = new Set<string>();

  constructor(mode: UnknownKeysMode, logger: Required<Logger>, owner: string) {
    this.#mode = mode;
    this.#logger = logger;
    this.#owner = owner;
  }

  /** Whether validation must look for unknown keys at all. */
  get active(): boolean {
    return this.#mode !== 'ignore';
  }

  /** The outcome with the policy applied; warnings are logged only for a value that is accepted. */
  apply<T>(outcome: ValidationOutcome<T>): { ok: true; value: T } | { ok: false; issues: ValidationIssue[] } {
    const { unknownKeys } = outcome;
    if (this.#mode === 'error' && unknownKeys.length > 0) {
      return { ok: false, issues: outcome.ok ? unknownKeys : [...outcome.issues, ...unknownKeys] };
    }
    if (!outcome.ok) return outcome;
    if (this.#mode === 'warn') this.#warn(unknownKeys);
    return outcome;
  }

  #warn(unknownKeys: readonly ValidationIssue[]): void {
    const present = new Set<string>();
    for (const issue of unknownKeys) {
      present.add(issue.key);
      if (this.#warned.has(issue.key)) continue;
      this.#logger.warn(
        { key: issue.key, path: issue.path.join('.'), received: issue.received },
        `unknown config key ${issue.key}: not described by the schema of ${this.#owner}`,
      );
    }
    // Forget keys that went away, so a key that comes back is reported again.
    this.#warned = present;
  }
}
