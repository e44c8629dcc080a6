import { ConfigValidationError, defineLayeredConfig, Watcher } from 'consul-hotreload';
import { z } from 'zod';

const AppConfig = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().default(5432),
    pool: z.object({ max: z.number().int().positive().default(10) }).prefault({}),
  }),
  http: z.object({ timeoutMs: z.number().int().positive().default(1000) }).prefault({}),
});

// `roots` serves every layer below config/ with one blocking query instead of one per layer.
const watcher = new Watcher({ address: 'http://127.0.0.1:8500', roots: ['config/'] });

// Spring Cloud Consul's layout, lowest precedence first:
// config/application/ < config/application,prod/ < config/checkout/ < config/checkout,prod/
const config = defineLayeredConfig({
  layers: { app: 'checkout', profiles: ['prod'] },
  schema: AppConfig,
  watcher,
});

try {
  const { db } = await config.load({ signal: AbortSignal.timeout(10_000) });
  console.log(`db at ${db.host}:${db.port}`); // config/checkout,prod/db/host wins over config/checkout/db/host
} catch (error) {
  if (error instanceof ConfigValidationError) {
    console.error(error.message); // every problem of every layer, each naming the key that wins
    process.exit(1);
  }
  throw error;
}

// Each change names the Consul key that supplies the value now, and the one that did before if it moved:
// deleting config/checkout,prod/db/host uncovers config/checkout/db/host.
config.on('change', ({ changes }) => {
  for (const { path, key, previousKey } of changes) {
    console.log(`${path.join('.')}: ${previousKey ?? key} -> ${key ?? '(gone)'}`);
  }
});
config.onChange(
  (c) => c.db.pool.max,
  (max) => console.log(`pool max is now ${max}`),
);
config.on('invalid', (error) => console.warn(error.message)); // refused: the last good config keeps serving

// On shutdown:
await config.close(); // stops the four layer watches; a watcher you passed in stays open
await watcher.close();
