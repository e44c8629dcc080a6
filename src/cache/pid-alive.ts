/**
 * Whether a process id names a running process on this machine, to tell a crashed writer's leftovers
 * (temporary files, a lock) from a writer still at work.
 * @module
 */

/**
 * True when `pid` is a running process, or one this user may not signal (`EPERM`: it exists). Signal 0 only
 * checks; nothing is sent. A pid can be reused by a new process, so callers still date what they find.
 */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown } | null)?.code === 'EPERM';
  }
}
