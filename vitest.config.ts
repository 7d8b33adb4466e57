import { defineConfig } from 'vitest/config';

// Integration tests start their own nats-server and PostgreSQL database per file,
// so files can run in parallel; two workers match the 2-core machines.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
