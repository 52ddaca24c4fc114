import { defineConfig } from 'vitest/config';

// The project's own tests: unit tests and integration tests that start real
// nats-server and service processes. Two cores: at most two test files at once.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'reports/project-tests/junit.xml' },
  },
});
