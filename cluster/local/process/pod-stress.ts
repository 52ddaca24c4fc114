import { basename, join } from 'node:path';
import { REPO_ROOT } from '../../../lib/repo.ts';
import { type Child, spawnChild } from './child.ts';
import type { ChildRegistry } from './child-registry.ts';
import { CGROUP_PREFIX, type CgroupLimits, LimitedCgroup } from './cgroups.ts';
import { logFile } from './paths.ts';

/** What one StressChaos does to one pod: stress-ng's workers, as the local target runs them. */
export interface StressPlan {
  cpu?: { workers: number; load: number };
  memory?: { workers: number; bytes: number; oomScoreAdj?: number };
}

/** The pod as the stress needs it: its container's process now (a restart gives a new one). */
export interface StressedPod {
  readonly name: string;
  readonly child?: { pid: number; running: boolean } | undefined;
}

/** The cgroup name of a pod stressed in a run: the sweep tells a dead run's by the run dir's name. */
export const stressCgroupName = (runDir: string, pod: string) => `${CGROUP_PREFIX}${basename(runDir)}-${pod}`;

/** How often a restarted container is put back in its pod's cgroup. */
const REJOIN_INTERVAL_MS = 250;

/**
 * A StressChaos on one pod: the pod's container in a cgroup limited as its manifest says,
 * and the stress workers in the same cgroup, so they take from the pod's own limits. `stop`
 * ends the workers and takes the pod out of the cgroup again.
 */
export class PodStress {
  private readonly timer: NodeJS.Timeout;
  private stopped: Promise<void> | undefined;

  private constructor(readonly pod: StressedPod, readonly cgroup: LimitedCgroup, readonly workers: Child[]) {
    this.timer = setInterval(() => this.rejoin(), REJOIN_INTERVAL_MS);
    this.timer.unref();
  }

  static start(o: { pod: StressedPod; limits: CgroupLimits; plan: StressPlan; runDir: string; env: NodeJS.ProcessEnv; registry: ChildRegistry; cgroupRoot?: string }): PodStress {
    const cgroup = LimitedCgroup.create(stressCgroupName(o.runDir, o.pod.name), o.limits, o.cgroupRoot);
    const workers: Child[] = [];
    try {
      if (o.pod.child?.running) cgroup.add(o.pod.child.pid);
      // Each worker enters the cgroup before node starts (a shell writes its own pid, then
      // execs): a worker's start-up costs CPU too, and it must be the pod's, as stress-ng
      // started by Chaos Mesh's daemon runs in the container's cgroup from its first instruction.
      const joinAndExec = 'for f in $STRESS_CGROUP_PROCS; do echo $$ > "$f" || exit 1; done; exec "$@"';
      const env = { ...o.env, STRESS_CGROUP_PROCS: cgroup.dirs.map((d) => join(d, 'cgroup.procs')).join(' ') };
      const spawnWorker = (i: number, args: string[]) => {
        const name = `${o.pod.name}-stress-${i}`;
        workers.push(o.registry.track(spawnChild(name, '/bin/sh', ['-c', joinAndExec, 'stress-worker', process.execPath, '--import', 'tsx', join(REPO_ROOT, 'cluster/local/process/stressor.ts'), ...args], env, logFile(o.runDir, name))));
      };
      let i = 0;
      for (let w = 0; w < (o.plan.cpu?.workers ?? 0); w += 1) spawnWorker(i++, ['--cpu-load', String(o.plan.cpu!.load)]);
      for (let w = 0; w < (o.plan.memory?.workers ?? 0); w += 1) spawnWorker(i++, ['--memory-bytes', String(o.plan.memory!.bytes), ...(o.plan.memory!.oomScoreAdj === undefined ? [] : ['--oom-score-adj', String(o.plan.memory!.oomScoreAdj)])]);
    } catch (err) {
      for (const w of workers) void w.stop(0);
      cgroup.remove();
      throw err;
    }
    return new PodStress(o.pod, cgroup, workers);
  }

  get cgroupName(): string { return this.cgroup.name; }

  /** The container restarted in place (container-kill, a crash): the new process goes where the old one was. */
  private rejoin(): void {
    const child = this.pod.child;
    if (!child?.running) return;
    try {
      if (!this.cgroup.pids().includes(child.pid)) this.cgroup.add(child.pid);
    } catch {
      // It exited meanwhile; the next tick sees its successor.
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.timer);
      await Promise.all(this.workers.map((w) => w.stop(0)));
      this.cgroup.remove();
    })();
    return this.stopped;
  }
}
