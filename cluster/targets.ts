/**
 * Choosing a target, and attaching to its cluster or starting one; everything that reaches
 * a cluster comes through here:
 *
 * - `attachTarget`: the running cluster, never a new one (the CLI's commands: a person
 *   driving a cluster by hand expects the one they started, and `--state-dir` must name it).
 * - `openTarget`: attach, or start a cluster for this process (the suite's workers, the
 *   load tool); `setUpRunTarget` is its form for the suite's global setup.
 * - `attachOrStartLocal`: the one attach-or-start of the local cluster, under both of those
 *   and `percolate test-topology up`.
 *
 * Which target and profile come from lib/config.ts (PERCOLATE_TARGET, PERCOLATE_PROFILE)
 * unless given. The k3s and kube modules load only when chosen: a local run never imports them.
 */
import { type HarnessConfig, type TargetKind, harnessConfig } from '../lib/config.ts';
import type { ProfileName } from '../lib/time.ts';
import { type UpOptions, upLocalCluster } from './local/control/launcher.ts';
import { currentProcess } from './local/process/proc-identity.ts';
import type { ProcessRef } from './local/process/state.ts';
import type { SweepReport } from './local/process/sweep.ts';
import { LocalClusterTarget, attachLocalCluster } from './local/target/client.ts';
import { type ClusterTarget, NoClusterError } from './target.ts';

/** A target, and what a cluster started on it gets. */
export interface TargetChoice {
  target: TargetKind;
  /** The time profile a cluster started here gets (one already running keeps its own). */
  profile: ProfileName;
  /** Local only: the state dir of the cluster (default lib/config.ts's `localStateDir`). */
  stateDir?: string;
  /** The kube target's namespace and endpoints (default lib/config.ts's). */
  kube?: HarnessConfig['kube'];
}

/** The running cluster of the target; a NoClusterError, saying how to start one, when there is none. */
export async function attachTarget(choice: TargetChoice = harnessConfig()): Promise<ClusterTarget> {
  switch (choice.target) {
    case 'local':
      return attachLocalCluster(choice.stateDir);
    case 'k3s': {
      const [{ readK3sState }, { kubeTargetFromConfig }] = await Promise.all([import('./k3s/state.ts'), import('./kube/open.ts')]);
      const running = readK3sState();
      if (!running) throw new NoClusterError('no k3s cluster is running: a suite run on k3s starts one for itself (`PERCOLATE_TARGET=k3s npm run suite`)');
      return kubeTargetFromConfig(running.kubeconfig, running.endpoints, 'k3s');
    }
    case 'kube': {
      const { openKubeTarget } = await import('./kube/open.ts');
      return openKubeTarget(choice.kube ?? harnessConfig().kube);
    }
  }
}

/**
 * The cluster a run uses: the running one (`attachTarget`), else one started for this
 * process and stopped by the target's close(): on `local` bound to this process (if it
 * dies, the daemon stops the cluster and no later run attaches to it), on `k3s` a
 * container of its own. `kube` is always attached to.
 */
export async function openTarget(choice: TargetChoice = harnessConfig()): Promise<ClusterTarget> {
  if (choice.target === 'local') {
    return (await attachOrStartLocal({ profile: choice.profile, owner: currentProcess(), ...(choice.stateDir ? { stateDir: choice.stateDir } : {}) })).target;
  }
  try {
    return await attachTarget(choice);
  } catch (err) {
    if (!(err instanceof NoClusterError) || choice.target !== 'k3s') throw err;
  }
  const [{ startK3s }, { kubeTargetFromConfig }] = await Promise.all([import('./k3s/start.ts'), import('./kube/open.ts')]);
  const started = await startK3s({ profile: choice.profile });
  return kubeTargetFromConfig(started.kubeconfig, started.endpoints, 'k3s', started.stop);
}

export interface LocalStartOptions extends Pick<UpOptions, 'replicas' | 'signal' | 'timeoutMs' | 'onProgress'> {
  profile: ProfileName;
  stateDir?: string;
  /**
   * Whose cluster a started one is: when that process is gone the daemon stops it, and
   * closing the target stops it. `null`: nobody's (`percolate test-topology up`), it stays until `down`.
   */
  owner: ProcessRef | null;
  /** Told once, before a start (not when attaching). */
  onStarting?: () => void;
}

export interface LocalCluster {
  /** Closing it stops the cluster only if it was started here for an owner. */
  target: LocalClusterTarget;
  /** Started here (false: attached to a running one). */
  started: boolean;
  /** Start-up time; 0 when attached. */
  ms: number;
  /** What the start swept first (clusters of runs that are gone, leftovers of crashed ones). */
  sweep: SweepReport | undefined;
}

/**
 * The one attach-or-start of the local cluster (`percolate test-topology up`, the suite's
 * global setup and workers): attach (`attachLocalCluster`: a cluster whose owner is gone is
 * refused, and swept by the start), else start one bound to `owner`. A cluster that is
 * still starting is refused by the start (UpError), not waited for.
 */
export async function attachOrStartLocal(options: LocalStartOptions): Promise<LocalCluster> {
  try {
    return { target: attachLocalCluster(options.stateDir), started: false, ms: 0, sweep: undefined };
  } catch (err) {
    if (!(err instanceof NoClusterError)) throw err;
  }
  const { owner, onStarting, ...up } = options;
  const stateDir = options.stateDir ?? harnessConfig().localStateDir;
  onStarting?.();
  const result = await upLocalCluster({ ...up, stateDir, ...(owner ? { owner } : {}) });
  // Another process may have started one in between: then it is theirs, attached to.
  const started = !result.alreadyRunning;
  return { target: new LocalClusterTarget(result.state, stateDir, started && owner !== null), started, ms: result.ms, sweep: result.sweep };
}

/**
 * Global setup: the run's one cluster, set up before any worker opens it, and its
 * teardown. `local`: attach, or start one owned by this run (`owner`: the runner process)
 * and stop it at the end. `k3s`: refuse within seconds without a container runtime, else
 * start one container and record it for the workers. `kube`: a preflight that refuses
 * within seconds when the cluster does not answer or lacks the operators the suite needs.
 */
export async function setUpRunTarget(choice: TargetChoice & { owner: ProcessRef }, log: (line: string) => void = console.log): Promise<(() => Promise<void>) | undefined> {
  if (choice.target === 'local') {
    const local = await attachOrStartLocal({
      profile: choice.profile, owner: choice.owner, ...(choice.stateDir ? { stateDir: choice.stateDir } : {}),
      onStarting: () => log(`[percolate] starting a local cluster (${choice.profile} profile) for this run…`),
      onProgress: (e) => log(`[percolate]   ${e.step}${e.detail ? ` — ${e.detail}` : ''} (${(e.ms / 1000).toFixed(1)} s)`),
    });
    const { state } = local.target;
    if (!local.started) {
      log(`[percolate] using the running local cluster (${state.profile} profile, run dir ${state.runDir})`);
      if (state.profile !== choice.profile) log(`[percolate]   warning: the run's profile is ${choice.profile}: its bounds are not the cluster's (\`percolate test-topology down\` first to run on ${choice.profile})`);
      return undefined;
    }
    for (const line of local.sweep?.orphans ?? []) log(`[percolate] ${line}`);
    log(`[percolate] local cluster (${choice.profile} profile) ready in ${(local.ms / 1000).toFixed(1)} s; logs in ${state.runDir}/logs`);
    return async () => {
      const t0 = performance.now();
      await local.target.close();
      log(`[percolate] local cluster stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    };
  }
  if (choice.target === 'kube') {
    const { kubeEndpoints, preflightKube } = await import('./kube/open.ts');
    kubeEndpoints(choice.kube ?? harnessConfig().kube);
    const { version, warnings } = await preflightKube();
    log(`[percolate] kube target: cluster ${version} reachable`);
    for (const w of warnings) log(`[percolate]   ${w}`);
    return undefined;
  }
  // The runtime check first and alone: a refusal must not wait for the k3s modules to load.
  const { assertContainerRuntime } = await import('./k3s/runtime.ts');
  await assertContainerRuntime();
  const [{ startK3s }, { writeK3sState, removeK3sState }] = await Promise.all([import('./k3s/start.ts'), import('./k3s/state.ts')]);
  log('[percolate] starting k3s in a container (images, operators, manifests)…');
  const started = await startK3s({ profile: choice.profile, log: (line) => log(`[percolate]   ${line}`) });
  writeK3sState({ pid: choice.owner.pid, kubeconfig: started.kubeconfig, endpoints: started.endpoints });
  return async () => {
    removeK3sState();
    await started.stop();
    log('[percolate] k3s container stopped and removed');
  };
}
