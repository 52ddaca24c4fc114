import { LocalClusterBuilder } from './local/builder.ts';
import { connectLocalCluster } from './local/client.ts';
import { PROFILE_NAMES, type ProfileName } from '../reference-services/shared/profile.ts';
import type { ClusterTarget } from './target.ts';

/**
 * The target a run uses, from the environment: PERCOLATE_TARGET = `local` (default) |
 * `k3s` | `kube`. On `local`, a cluster started with `percolate test-topology up` is used
 * as it is (and left running); without one, a cluster is started for the run (profile from
 * PERCOLATE_PROFILE) and stopped by the target's close().
 */
export async function openTarget(env: NodeJS.ProcessEnv = process.env): Promise<ClusterTarget> {
  const kind = env.PERCOLATE_TARGET ?? 'local';
  if (kind === 'local') {
    try {
      return connectLocalCluster();
    } catch {
      const profile = (env.PERCOLATE_PROFILE ?? 'fast') as ProfileName;
      if (!PROFILE_NAMES.includes(profile)) throw new Error(`PERCOLATE_PROFILE must be one of ${PROFILE_NAMES.join(', ')}, got "${profile}"`);
      return new LocalClusterBuilder().withProfile(profile).start();
    }
  }
  throw new Error(`PERCOLATE_TARGET=${kind}: only the local target exists so far (k3s and kube come with later issues)`);
}
