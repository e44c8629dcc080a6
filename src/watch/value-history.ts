/**
 * The values a prefix subscription announced, for `change` events read late. A batch may write the tree in
 * place when nobody has read the value it changes (see tree.ts), so an event whose `current` was not read
 * before the next change no longer holds its own value: reading it then rewinds the live tree through
 * the changes announced since. Each event keeps only the changes after it; the subscription keeps only the
 * latest, so an event nobody holds costs nothing.
 * @module
 */
import type { KeyChange } from './types.js';
import { type OutputUndo, undoOutput } from './validate.js';

/** One announced value's place in the chain of later changes. */
export class ValueVersion {
  /** The next announced value, set when it is; its `changes` lead from this value to it. */
  next: ValueVersion | undefined;
  readonly changes: readonly KeyChange[];
  /** The batch that made this value wrote the previous value's tree in place. */
  readonly inPlace: boolean;
  /** What the batch that made this value wrote in place in the previous schema output, if it did. */
  readonly outputUndo: OutputUndo | undefined;

  constructor(changes: readonly KeyChange[], inPlace: boolean, outputUndo: OutputUndo | undefined) {
    this.changes = changes;
    this.inPlace = inPlace;
    this.outputUndo = outputUndo;
  }

  /**
   * This value's schema output, from its own output object (`own`, what the event announced): a copy with
   * the in-place writes of the run of later changes that wrote into that object undone; undefined when the
   * next change did not write it in place (it still holds this value). The run ends at the first change
   * that copied or validated the whole tree: it and every change after it wrote another object.
   */
  outputFrom(own: Record<string, unknown>): Record<string, unknown> | undefined {
    const undos: OutputUndo[] = [];
    for (let version = this.next; version?.outputUndo !== undefined; version = version.next) {
      undos.push(version.outputUndo);
    }
    if (undos.length === 0) return undefined;
    const copy: Record<string, unknown> = {};
    for (const name of Object.keys(own)) copy[name] = own[name];
    for (let i = undos.length - 1; i >= 0; i--) undoOutput(copy, undos[i]!);
    return copy;
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
