import { LocalClusterBuilder } from './local/target/builder.ts';
import { connectLocalCluster } from './local/target/client.ts';
import { PROFILE_NAMES, type ProfileName } from '../lib/time.ts';
import type { ClusterTarget } from './target.ts';

export const TARGET_KINDS = ['local', 'k3s', 'kube'] as const;

function profileOf(env: NodeJS.ProcessEnv): ProfileName {
  const profile = (env.PERCOLATE_PROFILE ?? 'fast') as ProfileName;
  if (!PROFILE_NAMES.includes(profile)) throw new Error(`PERCOLATE_PROFILE must be one of ${PROFILE_NAMES.join(', ')}, got "${profile}"`);
  return profile;
}

/**
 * The target a run uses, from the environment: PERCOLATE_TARGET = `local` (default) |
 * `k3s` | `kube`. On `local`, a cluster started with `percolate test-topology up` is used
 * as it is (and left running); without one, a cluster is started for the run (profile from
 * PERCOLATE_PROFILE) and stopped by the target's close(). On `k3s`, the cluster the run's
 * global setup started, or one of its own. On `kube`, the cluster of KUBECONFIG.
 * The k3s and kube modules load only when chosen: a local run never imports them.
 */
export async function openTarget(env: NodeJS.ProcessEnv = process.env): Promise<ClusterTarget> {
  const kind = env.PERCOLATE_TARGET ?? 'local';
  if (kind === 'local') {
    try {
      return connectLocalCluster();
    } catch {
      return new LocalClusterBuilder().withProfile(profileOf(env)).start();
    }
  }
  if (kind === 'k3s') {
    const [{ readK3sState }, { kubeTargetFromConfig }] = await Promise.all([import('./k3s/state.ts'), import('./kube/open.ts')]);
    const running = readK3sState();
    if (running) return kubeTargetFromConfig(running.kubeconfig, running.endpoints, 'k3s');
    const { startK3s } = await import('./k3s/start.ts');
    const started = await startK3s({ profile: profileOf(env) });
    return kubeTargetFromConfig(started.kubeconfig, started.endpoints, 'k3s', started.stop);
  }
  if (kind === 'kube') {
    const { openKubeTarget } = await import('./kube/open.ts');
    return openKubeTarget(env);
  }
  throw new Error(`PERCOLATE_TARGET must be one of ${TARGET_KINDS.join(', ')}, got "${kind}"`);
}

/**
 * Global setup for the targets that are not local: refuses within seconds, in one line,
 * when the target cannot be had (no container runtime for k3s, no reachable cluster for
 * kube); on k3s, starts the one cluster of the run and returns its teardown.
 */
export async function setUpRemoteTarget(kind: string, env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = console.log): Promise<(() => Promise<void>) | undefined> {
  if (kind === 'kube') {
    const { endpointsFromEnv, preflightKube } = await import('./kube/open.ts');
    const { version, warnings } = await preflightKube(env);
    endpointsFromEnv(env);
    log(`[percolate] kube target: cluster ${version} reachable`);
    for (const w of warnings) log(`[percolate]   ${w}`);
    return undefined;
  }
  if (kind === 'k3s') {
    // The runtime check first and alone: a refusal must not wait for the k3s modules to load.
    const { assertContainerRuntime } = await import('./k3s/runtime.ts');
    await assertContainerRuntime(env);
    const [{ startK3s }, { writeK3sState, removeK3sState }] = await Promise.all([import('./k3s/start.ts'), import('./k3s/state.ts')]);
    log('[percolate] starting k3s in a container (images, operators, manifests)…');
    const started = await startK3s({ profile: profileOf(env), log: (line) => log(`[percolate]   ${line}`) });
    writeK3sState({ pid: process.pid, kubeconfig: started.kubeconfig, endpoints: started.endpoints });
    return async () => {
      removeK3sState();
      await started.stop();
      log('[percolate] k3s container stopped and removed');
    };
  }
  throw new Error(`PERCOLATE_TARGET must be one of ${TARGET_KINDS.join(', ')}, got "${kind}"`);
}
