/**
 * Which blocking query a `consul-hotreload:request:finish` message belongs to, read back from its `path`:
 * the request payload names the operation and the path, not the watched key.
 * @module
 */
import type { QueryStats } from '../watch/types.js';

type Consistency = QueryStats['consistency'];

/** The identity of a KV read: what a query row of `watcher.stats()` is keyed by. */
export interface KvReadTarget {
  key: string;
  kind: 'key' | 'prefix';
  consistency: Consistency;
}

const KV_PATH = '/v1/kv/';

/**
 * The key, kind and consistency of a `kv.get` or `kv.list` request, from its operation and path (an address
 * path prefix included); undefined for any other request.
 *
 * The client encodes each `/`-separated segment of the key (src/consul/kv.ts, `kvPath`), so the first `?`
 * starts the query string and decoding each segment gives the key back.
 */
export function kvReadTarget(operation: string, path: string): KvReadTarget | undefined {
  const kind = operation === 'kv.list' ? 'prefix' : operation === 'kv.get' ? 'key' : undefined;
  if (kind === undefined) return undefined;
  const at = path.indexOf(KV_PATH);
  if (at === -1) return undefined;
  const queryAt = path.indexOf('?', at);
  const encoded = path.slice(at + KV_PATH.length, queryAt === -1 ? undefined : queryAt);
  let key: string;
  try {
    key = encoded.split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
  const params = new URLSearchParams(queryAt === -1 ? '' : path.slice(queryAt + 1));
  const consistency: Consistency = params.has('stale')
    ? 'stale'
    : params.has('consistent')
      ? 'consistent'
      : 'default';
  return { key, kind, consistency };
}
