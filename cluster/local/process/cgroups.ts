import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Control groups for the local target: what a container's resource limits are on a node.
 * The runtime puts a pod in a cgroup of its own, limited as its manifest's
 * `resources.limits` say, when a StressChaos stresses it — so the stressors compete with the
 * pod for the pod's CPU and memory, as stress-ng in the container's cgroup does on a
 * cluster, and not with every other pod of the machine. cgroup v1 (cpu + memory
 * hierarchies) and v2 (unified) both work; either needs write access to the hierarchy (root,
 * or a delegated subtree).
 */

export const CGROUP_ROOT = '/sys/fs/cgroup';
/** Every cgroup the runtime makes is named `<prefix><run>-<pod>`, so a sweep finds them. */
export const CGROUP_PREFIX = 'percolate-';

export type CgroupSupport = { ok: true; version: 1 | 2 } | { ok: false; reason: string };

export interface CgroupLimits {
  /** CPU limit in millicores (500 = half a core), as CFS quota per 100 ms period. */
  cpuMillis?: number;
  memoryBytes?: number;
}

const CFS_PERIOD_US = 100_000;

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether this process can make cgroups with CPU and memory limits, and which version; why not, when it cannot. */
export function cgroupSupport(root = CGROUP_ROOT): CgroupSupport {
  if (existsSync(join(root, 'cgroup.controllers'))) {
    const controllers = readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/);
    const missing = ['cpu', 'memory'].filter((c) => !controllers.includes(c));
    if (missing.length) return { ok: false, reason: `cgroup v2 at ${root} lacks the ${missing.join(' and ')} controller(s)` };
    if (!writable(root)) return { ok: false, reason: `cgroup v2 at ${root} is not writable by this user (run as root, or delegate a subtree)` };
    return { ok: true, version: 2 };
  }
  const v1 = [join(root, 'cpu'), join(root, 'memory')];
  if (existsSync(join(v1[0]!, 'cpu.cfs_quota_us')) && existsSync(join(v1[1]!, 'memory.limit_in_bytes'))) {
    const locked = v1.filter((d) => !writable(d));
    if (locked.length) return { ok: false, reason: `cgroup v1 hierarchies ${locked.join(', ')} are not writable by this user (run as root)` };
    return { ok: true, version: 1 };
  }
  return { ok: false, reason: `no cgroup hierarchy with cpu and memory controllers at ${root}` };
}

/** The directories of one named cgroup: one per v1 hierarchy, or one in the unified tree. */
function dirsOf(version: 1 | 2, root: string, name: string): string[] {
  return version === 2 ? [join(root, name)] : [join(root, 'cpu', name), join(root, 'memory', name)];
}

/** A cgroup of the runtime's, with limits; processes join it and leave it (back to the root group) before it goes. */
export class LimitedCgroup {
  private constructor(readonly name: string, private readonly version: 1 | 2, private readonly root: string, readonly dirs: string[]) {}

  static create(name: string, limits: CgroupLimits, root = CGROUP_ROOT): LimitedCgroup {
    const support = cgroupSupport(root);
    if (!support.ok) throw new Error(support.reason);
    if (!name.startsWith(CGROUP_PREFIX) || /[/\s]/.test(name)) throw new Error(`cgroup name "${name}" must start with ${CGROUP_PREFIX} and hold no "/" or space`);
    const dirs = dirsOf(support.version, root, name);
    for (const d of dirs) mkdirSync(d, { recursive: true });
    const group = new LimitedCgroup(name, support.version, root, dirs);
    try {
      group.setLimits(limits);
    } catch (err) {
      group.remove();
      throw err;
    }
    return group;
  }

  private setLimits(limits: CgroupLimits): void {
    const quota = limits.cpuMillis === undefined ? undefined : Math.max(1_000, Math.round((limits.cpuMillis * CFS_PERIOD_US) / 1000));
    if (this.version === 2) {
      // The root's children get the controllers from its subtree_control.
      const control = join(this.root, 'cgroup.subtree_control');
      const enabled = readFileSync(control, 'utf8');
      for (const c of ['cpu', 'memory']) if (!enabled.split(/\s+/).includes(c)) writeFileSync(control, `+${c}`);
      const dir = this.dirs[0]!;
      writeFileSync(join(dir, 'cpu.max'), quota === undefined ? `max ${CFS_PERIOD_US}` : `${quota} ${CFS_PERIOD_US}`);
      writeFileSync(join(dir, 'memory.max'), limits.memoryBytes === undefined ? 'max' : String(limits.memoryBytes));
      return;
    }
    const [cpu, memory] = this.dirs as [string, string];
    writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
    writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(quota ?? -1));
    writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes ?? -1));
    // A pod that joins brings the memory it holds (v2 does not move it; v1 can): the limit is then on all of it.
    try {
      writeFileSync(join(memory, 'memory.move_charge_at_immigrate'), '3');
    } catch {
      // Kernels without it: only what the pod allocates from now on counts.
    }
  }

  /** Moves a process (all its threads) into the group. */
  add(pid: number): void {
    for (const d of this.dirs) writeFileSync(join(d, 'cgroup.procs'), String(pid));
  }

  /** Processes in the group now. */
  pids(): number[] {
    return procsOf(this.dirs[0]!);
  }

  /** How often and how long the group was held back by its CPU limit (cpu.stat). */
  throttling(): { periods: number; throttledPeriods: number; throttledMs: number } {
    const stat = Object.fromEntries(readFileSync(join(this.dirs[0]!, 'cpu.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]));
    const throttledMs = this.version === 2 ? Number(stat.throttled_usec ?? 0) / 1000 : Number(stat.throttled_time ?? 0) / 1e6;
    return { periods: Number(stat.nr_periods ?? 0), throttledPeriods: Number(stat.nr_throttled ?? 0), throttledMs };
  }

  /** Moves every process still in the group back to the root group, then removes the group. */
  remove(): void {
    removeCgroupDirs(this.version, this.root, this.dirs);
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function removeCgroupDirs(version: 1 | 2, root: string, dirs: string[]): void {
  const parents = version === 2 ? [root] : [join(root, 'cpu'), join(root, 'memory')];
  dirs.forEach((dir, i) => {
    if (!existsSync(dir)) return;
    for (const pid of procsOf(dir)) {
      try {
        writeFileSync(join(parents[i]!, 'cgroup.procs'), String(pid));
      } catch {
        // Gone meanwhile.
      }
    }
    // A cgroup is removed with rmdir (its files are the kernel's, not to be deleted).
    rmdirSync(dir);
  });
}

/**
 * Removes the runtime's cgroups that `isStale` picks (their processes go back to the root
 * group first); returns their names. Nothing when cgroups are not ours to write.
 */
export function sweepCgroups(isStale: (group: { name: string; pids: number[]; ageMs: number }) => boolean, root = CGROUP_ROOT): string[] {
  const support = cgroupSupport(root);
  if (!support.ok) return [];
  const top = support.version === 2 ? root : join(root, 'cpu');
  const removed: string[] = [];
  for (const name of readdirSync(top).filter((n) => n.startsWith(CGROUP_PREFIX))) {
    const dirs = dirsOf(support.version, root, name);
    let ageMs: number;
    try {
      ageMs = Date.now() - statSync(dirs[0]!).ctimeMs;
    } catch {
      continue;
    }
    if (!isStale({ name, pids: procsOf(dirs[0]!), ageMs })) continue;
    try {
      removeCgroupDirs(support.version, root, dirs);
      removed.push(name);
    } catch {
      // A process still starting in it: the next sweep takes it.
    }
  }
  return removed;
}
