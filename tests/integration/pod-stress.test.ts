import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupSupport, sweepCgroups } from '../../cluster/local/process/cgroups.ts';
import { hostEnv, spawnChild } from '../../cluster/local/process/child.ts';
import { ChildRegistry } from '../../cluster/local/process/child-registry.ts';
import { PodStress } from '../../cluster/local/process/pod-stress.ts';
import { eventually, pollBound } from '../../lib/poll.ts';
import { scratchDir } from '../helpers/processes.ts';

const support = cgroupSupport();
const reason = support.ok ? '' : `cgroups cannot be made here: ${support.reason}`;

/** Total CPU time (ms) of a process, from /proc/<pid>/stat (utime + stime, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

// A StressChaos on a local pod, with real cgroups: the pod's process and the stress workers
// share one cgroup limited as the pod's manifest says, and nothing of it outlives the stress.
describe.skipIf(!support.ok)(`pod stress in a cgroup of its own${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const scratch = scratchDir('pod-stress');
  const registry = new ChildRegistry();
  const runDir = join(scratch.dir, 'percolate-run-stress');
  let pod: ReturnType<typeof spawnChild>;

  beforeAll(() => {
    // The pod's container: a process that stays (its CPU use is not what is measured).
    pod = registry.track(spawnChild('stressed-pod', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], hostEnv(), join(scratch.dir, 'pod.log')));
  });
  afterAll(async () => {
    await registry.stopAll(1_000);
    scratch.cleanup();
  });

  it('confines two CPU workers at 100 % to the pod\'s limit (200m: 0.2 s of CPU per second between them), and stop leaves nothing behind', async () => {
    const stress = PodStress.start({
      pod: { name: 'percolate-db-small-9', child: pod }, limits: { cpuMillis: 200, memoryBytes: 256 * 1024 * 1024 },
      plan: { cpu: { workers: 2, load: 100 } }, runDir, env: hostEnv(), registry,
    });
    const dirs = [...stress.cgroup.dirs];
    try {
      await expect.poll(() => stress.cgroup.pids().sort(), pollBound('the pod and both workers in the cgroup', 10_000))
        .toEqual([pod.pid, ...stress.workers.map((w) => w.pid)].sort());
      // Two busy workers unconfined would use 2 s of CPU per second; confined, 0.2.
      const start = stress.workers.reduce((t, w) => t + cpuMs(w.pid), 0);
      const startedAt = Date.now();
      await eventually('the cgroup throttled for 20 periods', async () => stress.cgroup.throttling().throttledPeriods, (n) => n >= 20, { timeoutMs: 10_000 });
      await eventually('1 s of wall time', async () => Date.now() - startedAt, (ms) => ms >= 1_000, { timeoutMs: 5_000 });
      const used = stress.workers.reduce((t, w) => t + cpuMs(w.pid), 0) - start;
      const wallMs = Date.now() - startedAt;
      expect(used / wallMs, `CPU used by the workers per wall second (limit 0.2; ${used} ms in ${wallMs} ms)`).toBeLessThan(0.3);
    } finally {
      await stress.stop();
    }
    for (const d of dirs) expect(existsSync(d), `${d} removed`).toBe(false);
    expect(stress.workers.every((w) => !w.running)).toBe(true);
    expect(pod.running, 'the pod itself is left running, back in the root cgroup').toBe(true);
    const own = readFileSync(`/proc/${pod.pid}/cgroup`, 'utf8');
    expect(own).not.toContain('percolate-');
  });

  it('a memory worker holds its size in the pod\'s cgroup; the kernel keeps the cgroup under its limit', async () => {
    const stress = PodStress.start({
      pod: { name: 'percolate-db-small-8', child: pod }, limits: { memoryBytes: 96 * 1024 * 1024 },
      plan: { memory: { workers: 1, bytes: 64 * 1024 * 1024, oomScoreAdj: 1000 } }, runDir, env: hostEnv(), registry,
    });
    try {
      const usage = () => {
        const dir = stress.cgroup.dirs.at(-1)!;
        return Number(readFileSync(join(dir, existsSync(join(dir, 'memory.usage_in_bytes')) ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8'));
      };
      await eventually('the cgroup charged with the 64 MB the worker holds', async () => usage(), (bytes) => bytes >= 64 * 1024 * 1024, { timeoutMs: 10_000 });
      expect(usage()).toBeLessThanOrEqual(96 * 1024 * 1024);
      expect(readFileSync(`/proc/${stress.workers[0]!.pid}/oom_score_adj`, 'utf8').trim()).toBe('1000');
    } finally {
      await stress.stop();
    }
  });

  it('the sweep removes an empty cgroup a dead run left, and leaves one with processes', async () => {
    const live = PodStress.start({ pod: { name: 'percolate-db-small-7', child: pod }, limits: {}, plan: {}, runDir, env: hostEnv(), registry });
    // A dead run's: its processes are gone, the cgroup is empty.
    const left = PodStress.start({ pod: { name: 'percolate-db-small-6' }, limits: {}, plan: {}, runDir, env: hostEnv(), registry });
    try {
      await expect.poll(() => live.cgroup.pids(), pollBound('the pod in its cgroup', 5_000)).toEqual([pod.pid]);
      const ours = (name: string) => name === live.cgroupName || name === left.cgroupName;
      expect(sweepCgroups(({ name, pids }) => ours(name) && pids.length === 0)).toEqual([left.cgroupName]);
      for (const d of left.cgroup.dirs) expect(existsSync(d)).toBe(false);
      for (const d of live.cgroup.dirs) expect(existsSync(d)).toBe(true);
    } finally {
      await live.stop();
      await left.stop();
    }
  });
});
