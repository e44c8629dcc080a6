import { defineConfig, Watcher } from 'consul-hotreload';
import { z } from 'zod';

declare const pool: { resize(min: number, max: number): void };
declare const limiter: { setRate(perMinute: number): void };

const AppConfig = z.object({
  db: z.object({
    pool: z.object({ min: z.number().int().default(1), max: z.number().int().default(10) }).prefault({}),
  }),
  http: z.object({ requestsPerMinute: z.number().int().positive().default(600) }).prefault({}),
  features: z.record(z.string(), z.boolean()).default({}),
});

// One watcher can serve every config and flag of the process; `roots` makes it one blocking query.
const watcher = new Watcher({ address: 'http://127.0.0.1:8500', roots: ['config/checkout/'] });
const config = defineConfig({ prefix: 'config/checkout/', schema: AppConfig, watcher });
await config.load();

// Runs only when db.pool really changes: not when features.* or http.* change, not on a rewrite of the
// same values.
const stopPool = config.onChange(
  (c) => c.db.pool,
  (next, previous) => {
    console.log(`pool ${previous.min}-${previous.max} -> ${next.min}-${next.max}`);
    pool.resize(next.min, next.max);
  },
);
config.onChange(
  (c) => c.http.requestsPerMinute,
  (perMinute) => limiter.setRate(perMinute),
);

// A change that fails validation is refused: get() keeps returning the last good config.
config.on('invalid', (error) => console.warn(error.message));

const current = config.get(); // typed: { db: { pool: { min: number; max: number } }; … }
console.log(current.features);

// On shutdown:
stopPool();
await config.close(); // stops this config's watch; a watcher you passed in stays open
await watcher.close();
