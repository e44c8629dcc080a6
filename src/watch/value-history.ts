/**
 * The values a prefix subscription announced, for `change` events read late. A batch may write the tree in
 * place when nobody has read the value it changes (see tree.ts), so an event whose `current` was not read
 * before the next change no longer holds its own value: reading it then rewinds the live tree through
 * the changes announced since. Each event keeps only the changes after it; the subscription keeps only the
 * latest, so an event nobody holds costs nothing.
 * @module
 */
import type { KeyChange } from './types.js';

/** One announced value's place in the chain of later changes. */
export class ValueVersion {
  /** The next announced value, set when it is; its `changes` lead from this value to it. */
  next: ValueVersion | undefined;
  readonly changes: readonly KeyChange[];
  /** The batch that made this value wrote the previous value's tree in place. */
  readonly inPlace: boolean;

  constructor(changes: readonly KeyChange[], inPlace: boolean) {
    this.changes = changes;
    this.inPlace = inPlace;
  }

  /** Every change announced after this value, oldest first; undefined when none wrote a tree in place. */
  later(): (readonly KeyChange[])[] | undefined {
    const lists: (readonly KeyChange[])[] = [];
    let inPlace = false;
    for (let version = this.next; version !== undefined; version = version.next) {
      lists.push(version.changes);
      inPlace ||= version.inPlace;
    }
    return inPlace ? lists : undefined;
  }
}
