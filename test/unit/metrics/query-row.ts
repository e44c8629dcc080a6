/** A `watcher.stats()` query row for the metrics tests: every counter 0 unless given. */
import type { QueryStats } from '../../../src/watch/types.js';

export function queryRow(key: string, counts: Partial<QueryStats> = {}): QueryStats {
  return {
    key,
    kind: key.endsWith('/') ? 'prefix' : 'key',
    consistency: 'default',
    subscriptions: 1,
    requests: 0,
    errors: 0,
    changes: 0,
    spurious: 0,
    indexResets: 0,
    bytes: 0,
    lastIndex: 0,
    lastContact: undefined,
    lastSuccessAt: undefined,
    state: 'ready',
    ...counts,
  };
}
