import { defineConfig } from '@playwright/test';
import type { TargetOptions } from './suites/fixtures/target.ts';
import { SETTLE_MS, loadProfile } from './lib/time.ts';

/**
 * The T1–T6 plan as Playwright projects, one per category:
 *   npx playwright test --project=t3-routing
 * Target: PERCOLATE_TARGET (local | k3s | kube, default local). Time profile:
 * PERCOLATE_PROFILE (fast | realistic, default fast). Tags: @pr, @nightly, @weekly.
 */
const CATEGORIES = ['t1-isolation', 't2-scaling', 't3-routing', 't4-security', 't5-performance', 't6-chaos'] as const;
const profile = loadProfile(process.env.PERCOLATE_PROFILE ?? 'fast');
// A test waits at most for the slowest change its profile allows, several times over.
const testTimeoutMs = profile.name === 'fast' ? 5 * 60_000 : 60 * 60_000;

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
    ['./report/reporter.ts', { resultsFile: 'reports/results.json', outputFile: 'reports/run.html' }],
  ],
  use: {
    targetKind: (process.env.PERCOLATE_TARGET ?? 'local') as TargetOptions['targetKind'],
  },
  projects: CATEGORIES.map((name) => ({ name, testDir: `suites/${name}` })),
});
