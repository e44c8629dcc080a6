import { ConfigValidationError, defineConfig } from 'consul-hotreload';
import { z } from 'zod';

// The schema is the one source of truth: the config's type, its defaults and its validation.
const AppConfig = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().min(1).max(65535).default(5432),
    password: z.string().min(12),
    pool: z.object({ min: z.number().int().default(1), max: z.number().int().default(10) }).prefault({}),
  }),
  http: z.object({ requestsPerMinute: z.number().int().positive().default(600) }).prefault({}),
});

const config = defineConfig({
  prefix: 'config/checkout/', // config/checkout/db/host, config/checkout/db/port…
  schema: AppConfig,
  format: 'json', // each key holds JSON: 5432, "db.internal", true
  unknownKeys: 'error', // a typo such as db/hots fails startup instead of being ignored
  watcher: { address: 'http://127.0.0.1:8500' },
});

try {
  // Fail startup when Consul has not answered within 10 s.
  const { db } = await config.load({ signal: AbortSignal.timeout(10_000) });
  console.log(`connecting to ${db.host}:${db.port} with a pool of ${db.pool.min}-${db.pool.max}`);
} catch (error) {
  if (error instanceof ConfigValidationError) {
    console.error(error.message); // every problem at once, one line each
    process.exit(1);
  }
  throw error;
}
