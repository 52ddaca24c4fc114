import type { FullConfig } from '@playwright/test';
import { currentProcess } from '../cluster/local/process/proc-identity.ts';
import { setUpRunTarget } from '../cluster/targets.ts';
import { runChoiceOf } from '../lib/config.ts';

/**
 * The run's one cluster, on the target and profile of the config's metadata (from
 * lib/config.ts): on `local`, the cluster `percolate test-topology up` started, or one
 * brought up for this run (owned by the runner: if the run is killed, the daemon stops it)
 * and taken down at the end, also after a failed run. Other targets: see setUpRunTarget.
 */
export default async function globalSetup(config: FullConfig): Promise<(() => Promise<void>) | undefined> {
  const run = runChoiceOf(config.metadata);
  try {
    return await setUpRunTarget({ ...run, owner: currentProcess() });
  } catch (err) {
    if (run.target === 'local') throw err;
    // One line and out: without its cluster no test can run, and a stack says nothing more.
    console.error(`[percolate] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
