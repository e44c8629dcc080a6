/**
 * The `onChange(select, listener)` registry of a config view: listeners for a part of the config, called
 * only when that part changed structurally, each isolated from the others.
 *
 * Used by every config view through config-view.ts.
 * @module
 */
import { isDeepStrictEqual } from 'node:util';

/** A listener for part of the config: the newly selected value and the one before it. */
export type ConfigListener<R> = (value: R, previous: R) => void;

/** Structural equality that never throws: a value too deep to compare counts as changed. */
export function sameValue(a: unknown, b: unknown): boolean {
  try {
    return isDeepStrictEqual(a, b);
  } catch {
    return false;
  }
}

interface Entry<T> {
  select: (config: T) => unknown;
  listener: ConfigListener<unknown>;
}

/** Selector listeners over a config of type `T`. */
export class ChangeListeners<T> {
  readonly #entries = new Set<Entry<T>>();
  readonly #onThrow: (error: unknown) => void;

  /** @param onThrow - hears what a selector or listener threw (the owner logs it); must not throw */
  constructor(onThrow: (error: unknown) => void) {
    this.#onThrow = onThrow;
  }

  /** Adds a listener; returns the function that removes it. */
  add<R>(select: (config: T) => R, listener: ConfigListener<R>): () => void {
    const entry: Entry<T> = { select, listener: listener as ConfigListener<unknown> };
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  /** Runs every selector on both configs and calls the listeners whose part differs structurally. */
  notify(previous: T, current: T): void {
    for (const { select, listener } of [...this.#entries]) {
      try {
        const before = select(previous);
        const after = select(current);
        if (!sameValue(before, after)) listener(after, before);
      } catch (error) {
        this.#onThrow(error);
      }
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
