/**
 * The Watcher's side of the last-known-good cache: one {@link LkgFile} per watcher, read once at startup and
 * written behind the subscriptions' backs; converts between KV entries and the file's snapshots.
 *
 * Writes are fire-and-forget: a subscription hands over a function that builds its snapshot, and the store
 * builds and writes it later, off the path that applied the change. While a write is on disk, newer
 * snapshots of a key replace older ones, so a key that changes all the time costs one snapshot build per
 * file write, not one per change. A failed write is logged and published on `watch:error`; the running
 * config is not affected.
 * @module
 */
import { KVEntry } from '../consul/kv-entry.js';
import { watchErrorChannel } from '../diagnostics.js';
import { errorText } from '../errors.js';
import type { Logger } from '../logger.js';
import { LkgFile, type LkgFileOptions } from './lkg-file.js';
import type { LkgEntry, LkgSnapshot } from './lkg-format.js';

/** What the store reads of a KV entry to save it; `KVEntry` has it all. */
export interface CacheableEntry {
  readonly key: string;
  readonly modifyIndex: number;
  readonly flags: number;
  /** The value as Consul sent it (base64 or null). */
  readonly rawValue: string | null;
}

/** A saved snapshot as the watcher reads it: KV entries, as if Consul had sent them at `index`. */
export interface RestoredSnapshot {
  readonly index: number;
  /** When it was saved, ISO 8601 UTC. */
  readonly savedAt: string;
  readonly entries: readonly KVEntry[];
}

/** Lists the entries to save; called once, when the write starts. */
export type EntriesBuilder = () => Iterable<CacheableEntry>;

interface Pending {
  readonly index: number;
  readonly build: EntriesBuilder;
}

/** A cached entry as the decode pipeline reads a Consul one. */
function toKvEntry(cached: LkgEntry): KVEntry {
  return new KVEntry({
    key: cached.key,
    flags: cached.flags,
    createIndex: 0,
    modifyIndex: cached.modifyIndex,
    lockIndex: 0,
    session: undefined,
    value: cached.value,
  });
}

function toSnapshot(key: string, { index, build }: Pending): LkgSnapshot {
  const entries: LkgEntry[] = [];
  for (const entry of build()) {
    entries.push({
      key: entry.key,
      modifyIndex: entry.modifyIndex,
      flags: entry.flags,
      value: entry.rawValue,
    });
  }
  return { key, index, entries };
}

/** Options of {@link LkgStore} beyond the path and logger; passed on to {@link LkgFile}. */
export type LkgStoreOptions = Pick<LkgFileOptions, 'maxBytes'>;

/** Reads and writes the snapshots of one watcher's subscriptions. */
export class LkgStore {
  readonly #file: LkgFile;
  readonly #logger: Required<Logger>;
  /** The file as read once (or again after a write), shared by every subscription that asks meanwhile. */
  #read: ReturnType<LkgFile['readAll']> | undefined;
  /** Snapshots waiting to be written, newest per key. */
  readonly #dirty = new Map<string, Pending>();
  #flushing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** @param path - the cache file; see {@link LkgFile} */
  constructor(path: string, logger: Required<Logger>, options: LkgStoreOptions = {}) {
    this.#file = new LkgFile({ path, logger, maxBytes: options.maxBytes });
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
  async load(key: string): Promise<RestoredSnapshot | undefined> {
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
      return undefined;
    }
    return { index: snapshot.index, savedAt: snapshot.savedAt, entries: snapshot.entries.map(toKvEntry) };
  }

  /**
   * Queues the snapshot of `key` (the entries `build` lists, read at `index`) for writing, replacing one
   * still queued. `build` runs later, when the write starts: what it reads must not change meanwhile.
   * Never throws.
   */
  save(key: string, index: number, build: EntriesBuilder): void {
    if (this.#closing !== undefined) return;
    this.#dirty.set(key, { index, build });
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
      await Promise.all(batch.map(([key, pending]) => this.#write(key, pending)));
    }
    this.#flushing = undefined;
  }

  async #write(key: string, pending: Pending): Promise<void> {
    try {
      await this.#file.write(toSnapshot(key, pending));
    } catch (error) {
      const detail = errorText(error);
      this.#logger.warn(
        { path: this.#file.path, key, err: error },
        `last-known-good cache: could not save ${key}: ${detail}`,
      );
      if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key, error });
    }
  }
}
