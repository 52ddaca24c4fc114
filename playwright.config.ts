import { defineConfig } from '@playwright/test';
import type { TargetOptions } from './suites/fixtures/target.ts';
import { ConfigError, harnessConfig } from './lib/config.ts';
import { SETTLE_MS } from './lib/time.ts';

/**
 * The T1–T6 plan as Playwright projects, one per category:
 *   npx playwright test --project=t3-routing
 * Target: PERCOLATE_TARGET (local | k3s | kube, default local). Time profile:
 * PERCOLATE_PROFILE (fast | realistic, default fast). Both are read by lib/config.ts (a bad
 * value stops the run, naming the valid ones) and passed on from here: to the workers as
 * the `target` and `profile` options, to global setup and the reports as `metadata`.
 * Tags: @pr, @nightly, @weekly.
 */
const CATEGORIES = ['t1-isolation', 't2-scaling', 't3-routing', 't4-security', 't5-performance', 't6-chaos'] as const;
const { target, profile, reportCheck } = (() => {
  try {
    return harnessConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // One line per bad value and out: nothing can run on a target or profile that does not exist.
    for (const problem of err.message.split('\n')) console.error(`[percolate] ${problem}`);
    process.exit(2);
  }
})();
// A test waits at most for the slowest change its profile allows, several times over.
const testTimeoutMs = profile === 'fast' ? 5 * 60_000 : 60 * 60_000;

export default defineConfig<TargetOptions>({
  testDir: 'suites',
  testMatch: '**/*.spec.ts',
  globalSetup: './suites/global-setup.ts',
  // One cluster under test: specs that scale it or break it must not overlap.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: testTimeoutMs,
  expect: { timeout: SETTLE_MS },
  outputDir: 'reports/test-results',
  reporter: [
    ['list'],
    ['html', { outputFolder: 'reports/html', open: 'never' }],
    ['junit', { outputFile: 'reports/junit.xml' }],
    ['json', { outputFile: 'reports/results.json' }],
    // After json: builds reports/run.html from its file, and checks the page in Chromium.
    ['./report/reporter.ts', { resultsFile: 'reports/results.json', outputFile: 'reports/run.html', check: reportCheck }],
  ],
  metadata: { target, profile },
  use: { target, profile },
  projects: CATEGORIES.map((name) => ({ name, testDir: `suites/${name}` })),
});
