import type { FullConfig } from '@playwright/test';
import { connectLocalCluster } from '../cluster/local/target/client.ts';
import { downLocalCluster, upLocalCluster } from '../cluster/local/control/launcher.ts';
import { currentProcess } from '../cluster/local/process/proc-identity.ts';
import { PROFILE_NAMES, type ProfileName } from '../lib/time.ts';
import { setUpRemoteTarget } from '../cluster/targets.ts';

/**
 * On the local target: use the cluster `percolate test-topology up` started, or bring one
 * up for this run and take it down at the end (also after a failed run; a crashed one is
 * swept by the next `up`). Other targets are reached as they are.
 */
export default async function globalSetup(_config: FullConfig): Promise<(() => Promise<void>) | undefined> {
  const kind = process.env.PERCOLATE_TARGET ?? 'local';
  if (kind !== 'local') {
    try {
      return await setUpRemoteTarget(kind);
    } catch (err) {
      // One line and out: without its cluster no test can run, and a stack says nothing more.
      console.error(`[percolate] ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    }
  }
  try {
    const running = connectLocalCluster();
    console.log(`[percolate] using the running local cluster (${running.state.profile} profile, run dir ${running.state.runDir})`);
    return undefined;
  } catch {
    // none running: start one below
  }
  const profile = (process.env.PERCOLATE_PROFILE ?? 'fast') as ProfileName;
  if (!PROFILE_NAMES.includes(profile)) throw new Error(`PERCOLATE_PROFILE must be one of ${PROFILE_NAMES.join(', ')}, got "${profile}"`);
  console.log(`[percolate] starting a local cluster (${profile} profile) for this run…`);
  const { state, ms, sweep } = await upLocalCluster({
    profile,
    // Ours for this run only: if the run is killed, the daemon stops it, and no later run reuses it.
    owner: currentProcess(),
    onProgress: (e) => console.log(`[percolate]   ${e.step}${e.detail ? ` — ${e.detail}` : ''} (${(e.ms / 1000).toFixed(1)} s)`),
  });
  for (const line of sweep.orphans) console.log(`[percolate] ${line}`);
  console.log(`[percolate] local cluster ready in ${(ms / 1000).toFixed(1)} s; logs in ${state.runDir}/logs`);
  return async () => {
    const down = await downLocalCluster();
    console.log(`[percolate] local cluster stopped in ${(down.ms / 1000).toFixed(1)} s${down.wasRunning ? '' : ' (it was already gone)'}`);
  };
}
