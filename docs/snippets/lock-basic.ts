import { ConsulClient, LockLostError, lock } from 'consul-hotreload';

declare function rebuildSearchIndex(options: { signal: AbortSignal; fencingToken: number }): Promise<void>;

const consul = new ConsulClient({ address: 'http://127.0.0.1:8500' });

// Waits until no other process (Node or Go, api/lock.go) holds the key, then holds it.
const held = await lock(consul, 'locks/search-index', {
  sessionTtl: '15s',
  signal: AbortSignal.timeout(60_000),
});
held.on('lost', ({ reason }) => console.warn(`lock lost (${reason}); the work stops`));
try {
  // `signal` aborts the moment the lock is lost; `lockIndex` grows with every acquire (a fencing token).
  await rebuildSearchIndex({ signal: held.signal, fencingToken: held.lockIndex });
} catch (error) {
  // A loss aborts the signal with a LockLostError; anything else is the work's own failure.
  if (!(held.signal.reason instanceof LockLostError)) throw error;
} finally {
  await held.close(); // ?release, then the session is destroyed
  await consul.close();
}
