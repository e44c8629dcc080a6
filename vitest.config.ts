import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { SummaryLineReporter } from './test/helpers/summary-reporter.js';

export default defineConfig({
  resolve: {
    alias: {
      'consul-hotreload/devserver': fileURLToPath(new URL('./src/devserver/index.ts', import.meta.url)),
      'consul-hotreload/openfeature': fileURLToPath(new URL('./src/openfeature/index.ts', import.meta.url)),
      'consul-hotreload/metrics': fileURLToPath(new URL('./src/metrics/index.ts', import.meta.url)),
      'consul-hotreload': fileURLToPath(new URL('./src/index.ts', import.meta.url)),
    },
  },
  test: {
    reporters: ['default', new SummaryLineReporter()],
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/isolate-env.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests open real loopback sockets; forks keep each file's sockets to its own process.
    pool: 'forks',
  },
});
