import { Watcher } from 'consul-hotreload';
import { z } from 'zod';

const AppConfig = z.object({
  db: z.object({ host: z.string(), port: z.number().int().default(5432) }),
  features: z.object({ newCheckout: z.boolean().default(false) }).prefault({}),
});

// CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN… fill in what the options leave out.
const watcher = new Watcher({ roots: ['config/'] });
// A trailing '/' watches a prefix: config/app/db/host becomes { db: { host } }.
const sub = watcher.watch('config/app/', { format: 'json', schema: AppConfig });

const config = await sub.ready; // the first complete, validated value, typed from the schema
console.log(`db at ${config.db.host}:${config.db.port}`);

sub.on('change', ({ changes, current }) => {
  for (const { key, type } of changes) console.log(`${type} ${key}`);
  console.log('now serving', current);
});
// A value that does not decode or validate: the message names each Consul key; the old value keeps serving.
sub.on('invalid', (error) => console.warn(error.message));
// Transport or server trouble: non-fatal, the watch retries with backoff.
sub.on('error', (error) => console.warn(error.code, error.message));
sub.on('state', ({ state }) => console.log(`config is ${state}`)); // 'ready' | 'stale' | …

// On shutdown: aborts the blocking queries; no socket or timer is left behind.
await watcher.close();
