import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isRunning, isSameProcess, leadsGroup, processName, processesWithEnv, processesWithEnvVar, signalGroup } from './proc-identity.ts';
import { isListening } from '../network/net-util.ts';
import { sweepCgroups } from './cgroups.ts';
import { eventually } from '../../../lib/poll.ts';
import { RUN_DIR_PREFIX, RUN_MARKER_ENV, STATE_DIR_PREFIX, TEST_RUN_DIR_PREFIX, TEST_RUN_MARKER_ENV, runDirParent } from './paths.ts';
import { type LocalState, readOwner, readState, removeState } from './state.ts';

export interface SweepReport {
  /** One line per cluster swept although its daemon still ran (its owner had died). */
  orphans: string[];
  /** Processes that were ours and still ran. */
  killed: { name: string; pid: number }[];
  removedDirs: string[];
  /** cgroups of stressed pods a dead run left (cgroups.ts). */
  removedCgroups: string[];
  /** Recorded ports still taken after the bound (something else holds them now). */
  portsStillTaken: number[];
}

/** A run dir with no owner file is either being created or abandoned; this long means abandoned. */
const ORPHAN_DIR_AGE_MS = 60_000;
/** How long a sweep waits for killed processes to go and their ports to be free. */
const SWEEP_WAIT_MS = 5_000;

export function daemonAlive(state: Pick<LocalState, 'daemon'>): boolean {
  return isSameProcess(state.daemon.pid, state.daemon.identity);
}

/** A cluster bound to a process that is gone: nobody will use it or take it down. */
export function ownerGone(state: Pick<LocalState, 'owner'>): boolean {
  return !!state.owner && !isSameProcess(state.owner.pid, state.owner.identity);
}

async function killAll(targets: { name: string; pid: number }[], report: SweepReport): Promise<void> {
  for (const t of targets) {
    if (signalGroup(t.pid, 'SIGKILL')) report.killed.push(t);
  }
  await eventually('killed processes gone', () => targets.filter((t) => isRunning(t.pid)).map((t) => t.name), (left) => left.length === 0,
    { timeoutMs: SWEEP_WAIT_MS, intervalMs: 20 }).catch(() => undefined);
}

async function waitPortsFree(ports: number[], report: SweepReport): Promise<void> {
  let taken = ports;
  await eventually('ports of a swept run free', async () => {
    taken = (await Promise.all(taken.map(async (p) => ((await isListening(p, 200)) ? p : 0)))).filter(Boolean);
    return taken;
  }, (left) => left.length === 0, { timeoutMs: SWEEP_WAIT_MS, intervalMs: 50 }).catch(() => undefined);
  report.portsStillTaken.push(...taken);
}

/**
 * Stops every process of a run whose daemon is gone: the recorded ones (pid + start time
 * must match), and any process carrying the run's marker variable, then removes the run dir.
 */
async function sweepRun(runDir: string, state: LocalState | undefined, report: SweepReport): Promise<void> {
  const targets = new Map<number, string>();
  for (const p of state?.processes ?? []) {
    if (isSameProcess(p.pid, p.identity)) targets.set(p.pid, p.name);
  }
  if (state && isSameProcess(state.daemon.pid, state.daemon.identity)) targets.set(state.daemon.pid, 'daemon');
  for (const pid of processesWithEnv(RUN_MARKER_ENV, runDir)) if (!targets.has(pid)) targets.set(pid, 'marked');
  await killAll([...targets].map(([pid, name]) => ({ pid, name })), report);
  const ports = [...(state?.ports ?? []), ...(state?.processes ?? []).flatMap((p) => p.ports)];
  await waitPortsFree(ports, report);
  try {
    rmSync(runDir, { recursive: true, force: true });
    report.removedDirs.push(runDir);
  } catch {
    // Reported by the caller's check of the directory, not fatal to the sweep.
  }
}

/**
 * Cleans up after a crashed run of this state dir. A live daemon is left alone (and
 * returned): that is a running cluster, not a leftover.
 */
export async function sweepStateDir(stateDir: string, report: SweepReport = emptyReport()): Promise<{ alive?: LocalState; report: SweepReport }> {
  const state = readState(stateDir);
  if (state && daemonAlive(state) && !ownerGone(state)) return { alive: state, report };
  if (state && daemonAlive(state)) {
    report.orphans.push(`swept the local cluster of ${state.runDir}: the run that started it (pid ${state.owner!.pid}) is gone`);
  }
  if (state) await sweepRun(state.runDir, state, report);
  removeState(stateDir);
  return { report };
}

/** Removes `percolate-run-*` dirs (and their processes) whose daemon is dead, whichever state dir made them. */
export async function sweepStaleRunDirs(report: SweepReport = emptyReport(), parent = runDirParent()): Promise<SweepReport> {
  let entries: string[];
  try {
    entries = readdirSync(parent).filter((e) => e.startsWith(RUN_DIR_PREFIX));
  } catch {
    return report;
  }
  for (const entry of entries) {
    const runDir = join(parent, entry);
    const owner = readOwner(runDir);
    if (owner) {
      const state = readState(owner.stateDir);
      if (isSameProcess(owner.daemonPid, owner.identity)) {
        if (state?.runDir !== runDir || !ownerGone(state)) continue;
        report.orphans.push(`swept the local cluster of ${runDir}: the run that started it (pid ${state.owner!.pid}) is gone`);
      }
      await sweepRun(runDir, state?.runDir === runDir ? state : undefined, report);
      if (state?.runDir === runDir) removeState(owner.stateDir);
      // A builder's temp state dir dies with its run.
      if (basename(owner.stateDir).startsWith(STATE_DIR_PREFIX) && dirname(owner.stateDir) === parent) rmSync(owner.stateDir, { recursive: true, force: true });
      continue;
    }
    try {
      if (Date.now() - statSync(runDir).mtimeMs < ORPHAN_DIR_AGE_MS) continue;
    } catch {
      continue;
    }
    await sweepRun(runDir, undefined, report);
  }
  await sweepOrphans(RUN_MARKER_ENV, RUN_DIR_PREFIX, report);
  // A stressed pod's cgroup outlives a run that died: its processes are gone now (swept
  // above), and a live run's cgroup is never empty for long (made, then joined at once).
  report.removedCgroups.push(...sweepCgroups(({ pids, ageMs }) => pids.length === 0 && ageMs > ORPHAN_DIR_AGE_MS));
  return report;
}

/**
 * Processes that carry `marker` naming a `<prefix>*` dir that no longer exists (under
 * `parent`, when given): a live run keeps its dir until its last process is gone, so these
 * were left behind by something that died.
 */
async function sweepOrphans(marker: string, prefix: string, report: SweepReport, parent?: string): Promise<void> {
  const orphans = [...processesWithEnvVar(marker)]
    .filter(([, dir]) => basename(dir).startsWith(prefix) && (parent === undefined || dirname(dir) === parent) && !existsSync(dir))
    .map(([pid, dir]) => ({ pid, name: `orphan of ${dir}` }));
  if (orphans.length) await killAll(orphans, report);
}

/** Whose a test run's dir is: the `npm test` process that made it (`<dir>/owner.json`). */
export const testRunOwnerFile = (dir: string): string => join(dir, 'owner.json');

function testRunOwnerAlive(dir: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(testRunOwnerFile(dir), 'utf8')) as { pid: number; identity: string };
    return isSameProcess(owner.pid, owner.identity);
  } catch {
    // No owner yet: a run still creating its dir, unless it has been like that too long.
    try {
      return Date.now() - statSync(dir).mtimeMs < ORPHAN_DIR_AGE_MS;
    } catch {
      return false;
    }
  }
}

/**
 * Ends a dead test run's processes (every one carrying its marker: services, NATS, a local
 * cluster's daemon and pods, the runner's own workers) and removes its dir, the temp dirs
 * of every test in it included.
 */
export async function sweepDeadTestRun(dir: string, report: SweepReport = emptyReport()): Promise<SweepReport> {
  const pids = processesWithEnv(TEST_RUN_MARKER_ENV, dir);
  await killAll(pids.map((pid) => ({ pid, name: `${processName(pid)} of ${basename(dir)}` })), report);
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    report.removedDirs.push(dir);
  }
  return report;
}

/**
 * The same for a run's own end (its global teardown), while the runner and its helpers
 * still live: SIGKILL to every group the harness spawned (the runner's own helpers carry
 * the marker too but lead no group), then the dir goes. Returns what it stopped.
 */
export function sweepTestRunNow(dir: string): string[] {
  const stopped = processesWithEnv(TEST_RUN_MARKER_ENV, dir).filter(leadsGroup)
    .filter((pid) => signalGroup(pid, 'SIGKILL')).map((pid) => `${processName(pid)} (pid ${pid})`);
  rmSync(dir, { recursive: true, force: true });
  return stopped;
}

/**
 * What test runs that died (Ctrl-C twice, SIGKILL, a crash) left: their dirs and every
 * process still carrying their marker. A run whose owner lives is left alone.
 */
export async function sweepDeadTestRuns(parent: string, report: SweepReport = emptyReport()): Promise<SweepReport> {
  let entries: string[] = [];
  try {
    entries = readdirSync(parent).filter((e) => e.startsWith(TEST_RUN_DIR_PREFIX));
  } catch {
    // No parent: nothing was left.
  }
  for (const entry of entries) {
    const dir = join(parent, entry);
    if (!testRunOwnerAlive(dir)) await sweepDeadTestRun(dir, report);
  }
  await sweepOrphans(TEST_RUN_MARKER_ENV, TEST_RUN_DIR_PREFIX, report, parent);
  return report;
}

export function emptyReport(): SweepReport {
  return { orphans: [], killed: [], removedDirs: [], removedCgroups: [], portsStillTaken: [] };
}
