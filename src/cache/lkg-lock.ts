/**
 * The writers' lock of one cache file: a lock file beside it, created exclusively, so writers in several
 * processes never interleave their read-merge-rename. A lock whose owner is gone is taken over.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { isPidAlive } from './pid-alive.js';

/** Options of {@link acquireLkgLock}. */
export interface LkgLockOptions {
  /** The lock file. Its folder must exist. */
  lockPath: string;
  /** Clock in milliseconds since the epoch, to date a lock. */
  now: () => number;
  /** A lock older than this is taken over even if its owner seems alive (a hung or paused writer). */
  staleMs: number;
  /** Test seam: called each time the lock is found held by a live writer, before waiting. */
  onBusy?: (() => void) | undefined;
}

/** Releases a lock taken by {@link acquireLkgLock}; never rejects. */
export type ReleaseLkgLock = () => Promise<void>;

interface LockFile {
  text: string;
  mtimeMs: number;
}

/** Waits between attempts start here and double up to the maximum: a write holds the lock for milliseconds. */
const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 50;

/**
 * Takes the lock, waiting while a live writer holds it. The lock file holds `{ pid, host, token }`; it is
 * taken over when its owner runs on this host and is gone, or when it is older than `staleMs` (an owner on
 * another host, or one that crashed before writing its pid).
 * @throws file system errors other than `EEXIST` (`EACCES`, `ENOENT` for a missing folder…)
 */
export async function acquireLkgLock(options: LkgLockOptions): Promise<ReleaseLkgLock> {
  const { lockPath } = options;
  const text = JSON.stringify({ pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') });
  let waitMs = FIRST_WAIT_MS;
  for (;;) {
    if (await createExclusive(lockPath, text)) return () => releaseIfOurs(lockPath, text);
    if (await breakIfStale(options)) continue;
    options.onBusy?.();
    await delay(waitMs);
    waitMs = Math.min(waitMs * 2, MAX_WAIT_MS);
  }
}

/** Creates `path` holding `text` with mode 0600, or returns false when it exists. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(text, 'utf8');
  } finally {
    await handle.close();
  }
  return true;
}

async function readLock(path: string): Promise<LockFile | undefined> {
  try {
    const [text, { mtimeMs }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function isStale(lock: LockFile, { now, staleMs }: LkgLockOptions): boolean {
  if (now() - lock.mtimeMs > staleMs) return true;
  const owner = parseOwner(lock.text);
  // A pid means nothing on another host (a container sharing the folder): there, only age counts.
  return owner !== undefined && owner.host === hostname() && !isPidAlive(owner.pid);
}

/**
 * Removes a stale lock; true when the caller should try to take it again at once. Two writers may find the
 * same stale lock: the removal happens under a second lock (`<lock>.break`), after checking the lock is
 * still the one judged stale, so one writer never removes the fresh lock another has just taken.
 */
async function breakIfStale(options: LkgLockOptions): Promise<boolean> {
  const judged = await readLock(options.lockPath);
  if (judged === undefined) return true;
  if (!isStale(judged, options)) return false;
  const breakPath = `${options.lockPath}.break`;
  if (!(await createExclusive(breakPath, judged.text))) {
    // Only a writer that crashed within these few lines leaves it; age alone can tell.
    const breaker = await readLock(breakPath);
    if (breaker !== undefined && options.now() - breaker.mtimeMs > options.staleMs) {
      await unlink(breakPath).catch(() => {});
    }
    return false;
  }
  try {
    const again = await readLock(options.lockPath);
    if (again !== undefined && again.text === judged.text && again.mtimeMs === judged.mtimeMs) {
      await unlink(options.lockPath).catch(() => {});
    }
  } finally {
    await unlink(breakPath).catch(() => {});
  }
  return true;
}

/** Removes the lock unless another writer took it over (this one was judged stale meanwhile). */
async function releaseIfOurs(lockPath: string, text: string): Promise<void> {
  try {
    if ((await readFile(lockPath, 'utf8')) === text) await unlink(lockPath);
  } catch {
    // Gone already, or unreadable: nothing of ours to remove.
  }
}

function parseOwner(text: string): { pid: number; host: string } | undefined {
  try {
    const owner = JSON.parse(text) as { pid?: unknown; host?: unknown };
    return typeof owner.pid === 'number' && typeof owner.host === 'string'
      ? { pid: owner.pid, host: owner.host }
      : undefined;
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
