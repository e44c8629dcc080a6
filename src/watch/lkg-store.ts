/**
 * The Watcher's side of the last-known-good cache: one {@link LkgFile} per watcher, read once at startup and
 * written behind the subscriptions' backs.
 *
 * Writes are fire-and-forget: a subscription hands over a function that builds its snapshot, and the store
 * builds and writes it later, off the path that applied the change. While a write is on disk, newer
 * snapshots of a key replace older ones, so a key that changes all the time costs one snapshot build per
 * file write, not one per change. A failed write is logged and published on `watch:error`; the running
 * config is not affected.
 * @module
 */
import { LkgFile, type LkgSnapshot, type SavedLkgSnapshot } from '../cache/lkg-file.js';
import { watchErrorChannel } from '../diagnostics.js';
import type { Logger } from '../logger.js';

/** Builds the snapshot to write; called once, when the write starts. */
export type SnapshotBuilder = () => LkgSnapshot;

/** Reads and writes the snapshots of one watcher's subscriptions. */
export class LkgStore {
  readonly #file: LkgFile;
  readonly #logger: Required<Logger>;
  /** The file as read once (or again after a write), shared by every subscription that asks meanwhile. */
  #read: Promise<ReadonlyMap<string, SavedLkgSnapshot> | undefined> | undefined;
  /** Snapshots waiting to be written, newest per key. */
  readonly #dirty = new Map<string, SnapshotBuilder>();
  #flushing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** @param path - the cache file; see {@link LkgFile} */
  constructor(path: string, logger: Required<Logger>) {
    this.#file = new LkgFile({ path, logger });
    this.#logger = logger;
  }

  /** Absolute path of the cache file. */
  get path(): string {
    return this.#file.path;
  }

  /**
   * The snapshot saved for `key`, or undefined (with one warning) when the file is missing, unusable or has
   * no snapshot for it. Never rejects.
   */
  async load(key: string): Promise<SavedLkgSnapshot | undefined> {
    // LkgFile warns once per read for a missing or damaged file: one read serves a whole startup.
    this.#read ??= this.#file.readAll();
    const snapshots = await this.#read;
    if (snapshots === undefined) return undefined;
    const snapshot = snapshots.get(key);
    if (snapshot === undefined) {
      this.#logger.warn(
        { path: this.#file.path, key, reason: 'key-not-cached' },
        'last-known-good cache not used: the file holds no snapshot for this key',
      );
    }
    return snapshot;
  }

  /** Queues the snapshot of `key` for writing, replacing one still queued. Never throws. */
  save(key: string, build: SnapshotBuilder): void {
    if (this.#closing !== undefined) return;
    this.#dirty.set(key, build);
    // The next load sees this write rather than what the file held before it.
    this.#read = undefined;
    this.#flushing ??= this.#flush();
  }

  /** Writes what is queued, then closes the file. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#flushing !== undefined) await this.#flushing;
      await this.#file.close();
    })();
    return this.#closing;
  }

  async #flush(): Promise<void> {
    // Let the answer being applied finish first: every subscription it changes joins this batch.
    await Promise.resolve();
    while (this.#dirty.size > 0) {
      const batch = [...this.#dirty];
      this.#dirty.clear();
      // LkgFile writes snapshots queued in one tick as one file: one rename for the whole batch.
      await Promise.all(batch.map(([key, build]) => this.#write(key, build)));
    }
    this.#flushing = undefined;
  }

  async #write(key: string, build: SnapshotBuilder): Promise<void> {
    try {
      await this.#file.write(build());
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.#logger.warn(
        { path: this.#file.path, key, err: error },
        `last-known-good cache: could not save ${key}: ${detail}`,
      );
      if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key, error });
    }
  }
}
