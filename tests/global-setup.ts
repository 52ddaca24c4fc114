import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../lib/repo.ts';
import { TEST_RUN_DIR_PREFIX, TEST_RUN_MARKER_ENV } from '../cluster/local/process/paths.ts';
import { currentProcess } from '../cluster/local/process/proc-identity.ts';
import { sweepDeadTestRuns, sweepTestRunNow, testRunOwnerFile } from '../cluster/local/process/sweep.ts';

const REAPER = fileURLToPath(new URL('../cluster/local/process/test-run-reaper.ts', import.meta.url));

/**
 * One dir per `npm test` run holds every temp dir of it (it is the workers' TMPDIR), and
 * every process the run starts carries its marker. A run killed before its teardown (a
 * second Ctrl-C, SIGKILL, a crash) is swept by the next one, which says what it swept.
 */
export default async function setup(): Promise<() => Promise<void>> {
  // Each vitest project runs the global setup; the run's dir is made once.
  if (process.env[TEST_RUN_MARKER_ENV]) return async () => {};
  const parent = tmpdir();
  const swept = await sweepDeadTestRuns(parent);
  if (swept.killed.length || swept.removedDirs.length) {
    console.log(`[percolate] swept what earlier test runs left: ${swept.killed.length} processes, ${swept.removedDirs.length} dirs (${swept.removedDirs.join(', ')})`);
  }
  const dir = mkdtempSync(join(parent, TEST_RUN_DIR_PREFIX));
  // Searchable, not listable: pods started as the manifests' users reach their own dirs below.
  chmodSync(dir, 0o711);
  const runner = currentProcess();
  writeFileSync(testRunOwnerFile(dir), JSON.stringify(runner));
  // Interrupted mid-test (Ctrl-C), the runner exits without this teardown or its exit
  // handlers: a reaper outside it sweeps the run once the runner is gone.
  spawn(process.execPath, ['--import', 'tsx', REAPER, dir, String(runner.pid), runner.identity],
    { cwd: REPO_ROOT, env: { ...process.env }, detached: true, stdio: 'ignore' }).unref();
  process.env[TEST_RUN_MARKER_ENV] = dir;
  process.env.TMPDIR = dir;
  return async () => {
    const stopped = sweepTestRunNow(dir);
    if (stopped.length) console.warn(`[percolate] stopped processes the tests left running: ${stopped.join(', ')}`);
  };
}
