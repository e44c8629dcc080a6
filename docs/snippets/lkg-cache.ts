import { Watcher } from 'consul-hotreload';
import { z } from 'zod';

const AppConfig = z.object({
  db: z.object({ host: z.string(), port: z.number().int().default(5432) }),
  features: z.record(z.string(), z.boolean()).default({}),
});

const watcher = new Watcher({
  address: 'http://127.0.0.1:8500',
  // Every validated config is saved here (mode 0600); it serves startup while Consul is unreachable.
  cache: { path: '/var/cache/checkout/consul-lkg.json' },
  // With no cached value, give up on Consul after 10 s instead of the default 30 s.
  startTimeout: 10_000,
});

const config = watcher.watch('config/checkout/', { format: 'json', schema: AppConfig });
config.on('state', ({ state, previous }) => {
  if (previous === 'stale' && state === 'ready') console.info('Consul is back: config is live again');
});

// Consul's value, or the cached one when Consul failed (or was silent for 10 s) first.
const { db } = await config.ready;
if (config.state === 'stale') console.warn('Consul is unreachable: started from the last-known-good config');
console.log(`connecting to ${db.host}:${db.port}`);

// Only keys that really differ from the cached config are reported when Consul answers.
config.on('change', ({ changes }) => console.log(changes.map((change) => change.key)));
