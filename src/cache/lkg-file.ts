/**
 * The last-known-good (LKG) cache file: every validated snapshot of a watched key or prefix is persisted, so
 * an app can start with its last good config while Consul is down.
 *
 * One file holds the snapshots of every root an app watches, keyed by the watched key or prefix. Writes are
 * atomic (temporary file in the same folder, fsync, rename, folder fsync) and serialized; a later write of a
 * key supersedes one still queued. Reads verify a sha256 checksum and the shape, and return `undefined` with
 * one warning rather than partial data.
 *
 * This module is a leaf: it knows nothing of Consul requests or watching.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ClosedError, InvalidArgumentError, ValueTooLargeError } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import {
  canonicalJson,
  LKG_FORMAT_VERSION,
  type LkgRejectReason,
  type LkgSnapshot,
  parseLkgFile,
  type Rejection,
  type SavedLkgSnapshot,
  type Snapshots,
  serializeLkgFile,
  snapshotInputSchema,
} from './lkg-format.js';
import { acquireLkgLock, type ReleaseLkgLock } from './lkg-lock.js';
import { isPidAlive } from './pid-alive.js';

/** Options of {@link LkgFile}. */
export interface LkgFileOptions {
  /**
   * Path of the cache file. Its folder is created (mode 0700) on the first write if missing. Temporary
   * files are written beside it, so the folder must be writable.
   */
  path: string;
  /**
   * Receives a warning (`{ path, reason }`) for each read that returns `undefined`. Values are never logged.
   * @default no logging
   */
  logger?: Logger | undefined;
  /**
   * Clock in milliseconds since the epoch: stamps `savedAt`, and dates leftover temporary files.
   * @default Date.now
   */
  now?: (() => number) | undefined;
  /**
   * Size cap of the cache file, in bytes. A bigger file is not read (reason `too-large`), so a runaway file
   * cannot exhaust memory at startup; a write that would make the file bigger is refused for the snapshots
   * that do not fit, largest first, each rejecting with `ValueTooLargeError`. Must be a positive integer.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number | undefined;
}

/**
 * Internal test seam, not exported from the package index: lets a test pause a write between the fsync of
 * the temporary file and its rename (to kill the process there, or to queue writes behind it).
 */
export interface LkgFileHooks {
  /** Called once the temporary file is complete and synced, just before it is renamed over `path`. */
  beforeRename?: (info: { path: string; tempPath: string }) => void | Promise<void>;
  /** Called each time the writers' lock is found held by a live writer, before waiting for it. */
  onLockBusy?: () => void;
}

/** {@link LkgFileOptions} plus the internal {@link LkgFileHooks}; for tests only. */
export interface LkgFileTestOptions extends LkgFileOptions {
  hooks?: LkgFileHooks | undefined;
}

const LKG_FILE_DEFAULTS = {
  now: (): number => Date.now(),
  maxBytes: 64 * 1024 * 1024,
} as const;

/**
 * A temporary file older than this is a crash leftover, not a write in progress: a write lasts milliseconds.
 * A younger one is removed only when the process its name carries is gone, since another process sharing
 * the file may be writing right now.
 */
const STALE_TEMP_MS = 60_000;

/**
 * A writers' lock older than this is taken over even when its owner seems alive: one read-merge-rename lasts
 * milliseconds, so such an owner hangs (or was paused) and would block every writer of the file.
 */
const STALE_LOCK_MS = 30_000;

const OPERATION_WRITE = 'cache.write';

const REJECT_MESSAGES: Record<LkgRejectReason, string> = {
  missing: 'the file does not exist',
  unreadable: 'the file cannot be read',
  'invalid-json': 'the file is not valid JSON (truncated or corrupted)',
  'unsupported-version': `the file was not written in format version ${LKG_FORMAT_VERSION}`,
  'checksum-mismatch': 'the checksum does not match the content (corrupted)',
  'invalid-shape': 'the content does not have the expected shape',
  'too-large': 'the file is larger than maxBytes',
};

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

interface QueuedWrite {
  snapshot: LkgSnapshot;
  waiters: Set<Waiter>;
}

/**
 * The last-known-good cache file of one app.
 *
 * ```ts
 * const cache = new LkgFile({ path: '/var/cache/my-app/consul.json', logger });
 * await cache.write({ key: 'config/app/', index: 42, entries });
 * const snapshot = (await cache.readAll())?.get('config/app/'); // SavedLkgSnapshot | undefined
 * ```
 *
 * Each file write re-reads the file and replaces only the keys written, so keys written by an earlier run or
 * by another process sharing the path are kept. Writers take a lock file (`.<name>.lock` beside the file)
 * around their read-merge-rename, so two processes never interleave them, and a snapshot never replaces a
 * newer one of the same key that another writer saved (see {@link LkgFile.write}).
 */
export class LkgFile {
  /** Absolute path of the cache file. */
  readonly path: string;
  readonly #folder: string;
  readonly #tempName: RegExp;
  readonly #lockPath: string;
  readonly #logger: Required<Logger>;
  readonly #now: () => number;
  readonly #maxBytes: number;
  readonly #hooks: LkgFileHooks;
  /** Snapshots of a failed file write, retried by the next one unless a newer snapshot of the key is queued. */
  readonly #retry = new Map<string, LkgSnapshot>();
  /**
   * Per key, the last index this writer knows of: the one it last wrote, or, before that, the one the file
   * held when this writer first read it. An index below it means Consul's index went backwards.
   */
  readonly #knownIndex = new Map<string, number>();
  #firstLoadSeen = false;
  readonly #queue = new Map<string, QueuedWrite>();
  #flushing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: LkgFileOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new InvalidArgumentError('cache: options.path must be a non-empty file path', {
        operation: 'cache',
      });
    }
    this.path = resolve(options.path);
    this.#folder = dirname(this.path);
    this.#lockPath = join(this.#folder, `.${basename(this.path)}.lock`);
    this.#tempName = new RegExp(`^\\.${escapeRegExp(basename(this.path))}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`);
    this.#logger = resolveLogger(options.logger);
    this.#now = options.now ?? LKG_FILE_DEFAULTS.now;
    const maxBytes = options.maxBytes ?? LKG_FILE_DEFAULTS.maxBytes;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new InvalidArgumentError(
        `cache: options.maxBytes must be a positive integer (bytes), got ${String(options.maxBytes)}`,
        { operation: 'cache' },
      );
    }
    this.#maxBytes = maxBytes;
    this.#hooks = (options as LkgFileTestOptions).hooks ?? {};
  }

  /**
   * Persists `snapshot` as the last-known-good state of `snapshot.key`, replacing the previous one.
   *
   * Writes are serialized: while one is under way, later snapshots queue, and a newer snapshot of a key
   * replaces a queued one (both promises resolve once the newer one is on disk).
   *
   * The snapshot is skipped (the write still resolves) when the file holds a snapshot of the same key with a
   * higher index that another writer saved, unless this writer's own index of the key went backwards (Consul's
   * did: a snapshot restore or a rebuilt cluster), in which case the new state wins.
   * @returns resolves once the file holding the snapshot (or a newer one of the same key) is renamed into place.
   * @throws {InvalidArgumentError} (as a rejection) when the snapshot has the wrong shape; nothing is queued.
   * @throws {ClosedError} after {@link LkgFile.close}.
   * Errors from the file system (`ENOSPC`, `EACCES`…) reject as they are; the temporary file is removed.
   */
  write(snapshot: LkgSnapshot): Promise<void> {
    const key = typeof snapshot?.key === 'string' ? snapshot.key : undefined;
    if (this.#closing !== undefined) {
      return Promise.reject(
        new ClosedError(`${OPERATION_WRITE} ${key ?? ''}: the cache file was closed`, {
          operation: OPERATION_WRITE,
          key,
        }),
      );
    }
    const parsed = snapshotInputSchema.safeParse(snapshot);
    if (!parsed.success) {
      const problems = parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '(snapshot)'}: ${issue.message}`,
      );
      return Promise.reject(
        new InvalidArgumentError(
          `${OPERATION_WRITE} ${key ?? ''}: invalid snapshot: ${problems.join('; ')}`,
          {
            operation: OPERATION_WRITE,
            key,
          },
        ),
      );
    }
    return new Promise<void>((resolvePromise, rejectPromise) => {
      this.#enqueue(parsed.data).waiters.add({ resolve: () => resolvePromise(), reject: rejectPromise });
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * Reads every snapshot in the file, by watched key. Never throws.
   * @returns the snapshots, or `undefined` (with one warning) when the file cannot be used.
   */
  async readAll(): Promise<ReadonlyMap<string, SavedLkgSnapshot> | undefined> {
    const loaded = await this.#load();
    if (loaded instanceof Map) return loaded;
    this.#warnRejected(loaded);
    return undefined;
  }

  /**
   * Waits for queued writes to land (their failures are reported to their own callers), then refuses new
   * writes with {@link ClosedError}. Idempotent: a second call returns the same promise. Never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#flushing !== undefined) await this.#flushing;
    })();
    return this.#closing;
  }

  /** Same as {@link LkgFile.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #enqueue(snapshot: LkgSnapshot): QueuedWrite {
    const queued = this.#queue.get(snapshot.key);
    if (queued === undefined) {
      const fresh: QueuedWrite = { snapshot, waiters: new Set() };
      this.#queue.set(snapshot.key, fresh);
      return fresh;
    }
    queued.snapshot = snapshot;
    return queued;
  }

  /** Writes batches until the queue is empty. Never rejects: each batch settles its own waiters. */
  async #flush(): Promise<void> {
    do {
      await this.#writeBatch();
      // The check and the reset happen in one synchronous step, so a write() queued after the last batch
      // either is seen here or finds #flushing unset and starts a new flush.
    } while (this.#queue.size > 0);
    this.#flushing = undefined;
  }

  async #writeBatch(): Promise<void> {
    let batch: QueuedWrite[] = [];
    let outcome: { error: unknown } | undefined;
    let refused = new Map<string, ValueTooLargeError>();
    let release: ReleaseLkgLock | undefined;
    try {
      await mkdir(this.#folder, { recursive: true, mode: 0o700 });
      release = await acquireLkgLock({
        lockPath: this.#lockPath,
        now: this.#now,
        staleMs: STALE_LOCK_MS,
        onBusy: this.#hooks.onLockBusy,
      });
      await this.#removeLeftovers();
      // Taken after the awaits above, so writes queued meanwhile share this file write.
      batch = this.#takeQueue();
      const incoming = new Map(this.#retry);
      for (const { snapshot } of batch) incoming.set(snapshot.key, snapshot);
      if (incoming.size > 0) refused = await this.#mergeAndWrite(incoming);
      this.#retry.clear();
    } catch (error) {
      outcome = { error };
      // Kept for the next write: they are the newest validated state.
      if (batch.length === 0) batch = this.#takeQueue();
      for (const { snapshot } of batch) this.#retry.set(snapshot.key, snapshot);
    } finally {
      // Released before the waiters hear back, so a resolved write leaves no lock file behind.
      await release?.();
    }
    for (const { snapshot, waiters } of batch) {
      const error = outcome === undefined ? refused.get(snapshot.key) : outcome.error;
      for (const waiter of waiters) {
        if (error === undefined) waiter.resolve();
        else waiter.reject(error);
      }
    }
  }

  /**
   * Under the lock: re-reads the file, applies the merge rule of {@link LkgFile.write}, writes the result.
   * @returns the snapshots refused because the file would exceed `maxBytes`, by key, with their error.
   */
  async #mergeAndWrite(incoming: ReadonlyMap<string, LkgSnapshot>): Promise<Map<string, ValueTooLargeError>> {
    const onDisk = await this.#readForMerge();
    const snapshots = new Map(onDisk);
    const savedAt = new Date(this.#now()).toISOString();
    const written: SavedLkgSnapshot[] = [];
    for (const snapshot of incoming.values()) {
      if (this.#isSuperseded(snapshot, onDisk.get(snapshot.key))) continue;
      const saved = { ...snapshot, savedAt };
      snapshots.set(snapshot.key, saved);
      written.push(saved);
    }
    const refused = this.#refuseOversized(written, snapshots, onDisk);
    if (refused.size < written.length) await this.#writeAtomically(serializeLkgFile(snapshots));
    for (const { key, index } of written) if (!refused.has(key)) this.#knownIndex.set(key, index);
    return refused;
  }

  /**
   * While the file would exceed `maxBytes`, takes back the written snapshots, largest first (the disk's
   * version of the key stays), so one oversized key cannot stop the others from being saved.
   */
  #refuseOversized(
    written: readonly SavedLkgSnapshot[],
    snapshots: Snapshots,
    onDisk: Snapshots,
  ): Map<string, ValueTooLargeError> {
    const refused = new Map<string, ValueTooLargeError>();
    let size = Buffer.byteLength(serializeLkgFile(snapshots), 'utf8');
    if (size <= this.#maxBytes) return refused;
    const bySize = written
      .map((snapshot) => ({ snapshot, bytes: Buffer.byteLength(canonicalJson(snapshot), 'utf8') }))
      .sort((a, b) => b.bytes - a.bytes);
    for (const { snapshot, bytes } of bySize) {
      const previous = onDisk.get(snapshot.key);
      if (previous === undefined) snapshots.delete(snapshot.key);
      else snapshots.set(snapshot.key, previous);
      refused.set(
        snapshot.key,
        new ValueTooLargeError(
          `${OPERATION_WRITE} ${snapshot.key}: not saved: the cache file would be ${size} bytes, over ` +
            `maxBytes (${this.#maxBytes}); this snapshot is ${bytes} bytes (raise maxBytes or watch less)`,
          { operation: OPERATION_WRITE, key: snapshot.key },
        ),
      );
      size = Buffer.byteLength(serializeLkgFile(snapshots), 'utf8');
      if (size <= this.#maxBytes) break;
    }
    return refused;
  }

  /** True when another writer saved a newer state of the key than `snapshot` (the rule of {@link write}). */
  #isSuperseded(snapshot: LkgSnapshot, onDisk: SavedLkgSnapshot | undefined): boolean {
    if (onDisk === undefined || onDisk.index <= snapshot.index) return false;
    const known = this.#knownIndex.get(snapshot.key);
    // This writer's index of the key went backwards, so Consul's did (snapshot restore, rebuilt cluster): a
    // higher index on disk belongs to the old history and must not pin it.
    return known === undefined || snapshot.index >= known;
  }

  #takeQueue(): QueuedWrite[] {
    const batch = [...this.#queue.values()];
    this.#queue.clear();
    return batch;
  }

  /** The file's snapshots, or none (with a warning, unless there is no file) when it cannot be used. */
  async #readForMerge(): Promise<Snapshots> {
    const loaded = await this.#load();
    if (loaded instanceof Map) return loaded;
    if (loaded.reason !== 'missing') {
      this.#logger.warn(
        { path: this.path, ...rejectionDetails(loaded) },
        `last-known-good cache replaced: ${REJECT_MESSAGES[loaded.reason]}`,
      );
    }
    return new Map();
  }

  async #writeAtomically(text: string): Promise<void> {
    // Same folder as the target, so rename() is atomic; a unique name, so two writers never share one.
    const tempPath = join(
      this.#folder,
      `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
    );
    // 'wx' fails rather than follow or reuse an existing file; the mode is set at creation, so the secret
    // content is never readable by others, not even for a moment.
    const handle = await open(tempPath, 'wx', 0o600);
    let renamed = false;
    try {
      try {
        await handle.writeFile(text, 'utf8');
        // Data on disk before the rename: otherwise a power loss can leave the new name on empty content.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.#hooks.beforeRename?.({ path: this.path, tempPath });
      await rename(tempPath, this.path);
      renamed = true;
    } finally {
      if (!renamed) await unlink(tempPath).catch(() => {});
    }
    await this.#syncFolder();
  }

  /** Makes the rename itself durable. Windows cannot open a folder for fsync; some file systems refuse it. */
  async #syncFolder(): Promise<void> {
    if (process.platform === 'win32') return;
    try {
      const handle = await open(this.#folder, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      this.#logger.debug(
        { path: this.path, code: errorCode(error) },
        'cache folder fsync not supported here',
      );
    }
  }

  /**
   * Removes temporary files of this path left by a crashed writer, before each file write (a writer sharing
   * the file may have been killed since the last one); failures are only logged.
   */
  async #removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#folder);
    } catch {
      return;
    }
    for (const name of names) {
      const writerPid = this.#tempName.exec(name)?.[1];
      if (writerPid === undefined) continue;
      const tempPath = join(this.#folder, name);
      try {
        const { mtimeMs } = await stat(tempPath);
        if (this.#now() - mtimeMs < STALE_TEMP_MS && isPidAlive(Number(writerPid))) continue;
        await unlink(tempPath);
        this.#logger.debug({ path: this.path, tempPath }, 'removed a leftover temporary cache file');
      } catch (error) {
        this.#logger.debug(
          { path: this.path, tempPath, code: errorCode(error) },
          'could not remove a leftover temporary cache file',
        );
      }
    }
  }

  async #load(): Promise<Snapshots | Rejection> {
    const loaded = await this.#loadFile();
    if (!this.#firstLoadSeen) {
      this.#firstLoadSeen = true;
      if (loaded instanceof Map) for (const [key, { index }] of loaded) this.#knownIndex.set(key, index);
    }
    return loaded;
  }

  async #loadFile(): Promise<Snapshots | Rejection> {
    let text: string;
    try {
      const handle = await open(this.path, 'r');
      try {
        // The size is checked on the open file, before reading: a runaway file never reaches memory.
        const { size } = await handle.stat();
        if (size > this.#maxBytes) return { reason: 'too-large', size, maxBytes: this.#maxBytes };
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      const code = errorCode(error);
      return code === 'ENOENT' ? { reason: 'missing' } : { reason: 'unreadable', code };
    }
    return parseLkgFile(text);
  }

  #warnRejected(rejection: Rejection): void {
    this.#logger.warn(
      { path: this.path, ...rejectionDetails(rejection) },
      `last-known-good cache not used: ${REJECT_MESSAGES[rejection.reason]}`,
    );
  }
}

/** The warning fields of a rejection: its reason, then the details it has. */
function rejectionDetails(rejection: Rejection): Record<string, unknown> {
  const { reason, ...details } = rejection;
  const defined = Object.entries(details).filter(([, value]) => value !== undefined);
  return { reason, ...Object.fromEntries(defined) };
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
