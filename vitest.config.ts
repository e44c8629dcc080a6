import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests open real loopback sockets; forks keep each file's sockets to its own process.
    pool: 'forks',
  },
});
