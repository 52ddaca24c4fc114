import { connectLocalCluster } from '../../cluster/local/target/client.ts';
import { defaultStateDir } from '../../cluster/local/process/paths.ts';
import type { ClusterTarget } from '../../cluster/target.ts';
import { openTarget } from '../../cluster/targets.ts';

/** No cluster to talk to: the message says how to start one. Exit code 3, as `status`. */
export class NoClusterError extends Error {
  override name = 'NoClusterError';
}

/**
 * The cluster the traffic commands drive. Off `local` this is `openTarget()` as the suite
 * uses it. On `local` it attaches to the cluster of the state dir only: `openTarget()`
 * would start a throw-away cluster of its own when none runs, which a person driving
 * traffic by hand would not expect (and which `--state-dir` must be able to name).
 */
export async function openCliTarget(stateDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ClusterTarget> {
  const kind = env.PERCOLATE_TARGET ?? 'local';
  if (kind !== 'local') return openTarget(env);
  const dir = stateDir ?? defaultStateDir(env);
  try {
    return connectLocalCluster(dir);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new NoClusterError(reason.includes('test-topology up') ? reason : `${reason}; start one with \`npx percolate test-topology up\``);
  }
}
