/**
 * Startup validation: a service refuses to start on a bad config and says, in one error, everything that is
 * wrong with it: each Consul key, the path in the schema, what was expected and what was found (secret
 * values redacted).
 *
 * Run: node --import tsx examples/startup-validation/main.ts
 * It seeds an embedded dev Consul with a broken config, prints the error to stderr and exits with code 1.
 */
import { ConfigValidationError, defineConfig } from 'consul-hotreload';
import { startDevServer } from 'consul-hotreload/devserver';
import { z } from 'zod';

const BillingConfig = z.object({
  db: z.object({
    host: z.string(),
    port: z.number().int().min(1).max(65535),
    password: z.string().min(12),
    pool: z.object({ max: z.number().int().positive().default(10) }).prefault({}),
  }),
  http: z.object({ timeoutMs: z.number().int().positive().default(5_000) }).prefault({}),
  stripe: z.object({ apiKey: z.string() }),
  features: z.record(z.string(), z.boolean()).default({}),
});

// Each key holds JSON, as `consul kv put config/billing/db/port 5432` would store it. Six mistakes:
const dev = await startDevServer({
  port: 0,
  seed: {
    'config/billing/db/host': '"db.internal"',
    'config/billing/db/port': '"5432x"', // a string, not a number
    'config/billing/db/password': '"hunter2"', // too short (and never printed)
    'config/billing/db/pool/max': '{ten}', // not JSON at all
    'config/billing/http/timeoutMs': '-5', // not positive
    'config/billing/featurs/new-invoice': 'true', // typo: featurs/ is not in the schema
    // config/billing/stripe/apiKey is missing
  },
});

const config = defineConfig({
  prefix: 'config/billing/',
  schema: BillingConfig,
  format: 'json',
  unknownKeys: 'error',
  watcher: { address: dev.address },
});

console.log('loading config/billing/ from the dev Consul');
try {
  const loaded = await config.load({ signal: AbortSignal.timeout(10_000) });
  console.log(`config is valid: db ${loaded.db.host}:${loaded.db.port}`);
} catch (error) {
  if (!(error instanceof ConfigValidationError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
} finally {
  // Close everything instead of calling process.exit(): the process ends because nothing is left open.
  await config.close();
  await dev.close();
}
