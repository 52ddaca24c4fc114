import { defineConfig } from 'vitest/config';

// The project's own tests: unit tests and integration tests that start real
// nats-server and service processes. Two cores: at most two test files at once, and a
// test file that starts a whole local cluster (NATS ×3, Prometheus, HAProxy, pods) runs
// alone, after the rest: two clusters at once overload the machine, and a test of timing
// bounds would then measure the overload.
const WHOLE_CLUSTER = ['tests/integration/local-cluster*.test.ts', 'tests/integration/cli-traffic.test.ts', 'tests/fuzz/load-balancer.fuzz.test.ts'];

export default defineConfig({
  test: {
    // Sweeps what a killed run left, and gives this run one temp dir and a process marker.
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'reports/project-tests/junit.xml' },
    projects: [
      {
        extends: true,
        test: { name: 'processes', include: ['tests/**/*.test.ts'], exclude: WHOLE_CLUSTER, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'local-cluster', include: WHOLE_CLUSTER, poolOptions: { forks: { singleFork: true } }, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
