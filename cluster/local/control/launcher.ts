import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { preserveLogs } from '../process/failed-runs.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOWN_TIMEOUT_MS, type ProfileName, UP_TIMEOUT_MS } from '../../../lib/time.ts';
import { eventually, notWithin } from '../../../lib/poll.ts';
import type { DaemonMessage } from './daemon.ts';
import { REPO_ROOT } from '../../../lib/repo.ts';
import { RUN_DIR_PREFIX, RUN_MARKER_ENV, defaultStateDir, logDir, logFile, runDirParent } from '../process/paths.ts';
import { isRunning, signalGroup } from '../process/proc-identity.ts';
import type { RuntimeConfig } from '../runtime.ts';
import { type LocalState, type ProcessRef, readState } from '../process/state.ts';
import { type SweepReport, daemonAlive, emptyReport, sweepStaleRunDirs, sweepStateDir } from '../process/sweep.ts';

const DAEMON_ENTRY = fileURLToPath(new URL('./daemon.ts', import.meta.url));

export interface UpOptions {
  stateDir?: string;
  profile?: ProfileName;
  /** Replicas at start by workload name (`percolate-db-small`, `percolate-worker-small`, `percolate-gateway`). */
  replicas?: Record<string, number>;
  /** Hears each step as it completes. */
  onProgress?: (event: { step: string; ms: number; detail?: string }) => void;
  /** Abort `up` (Ctrl-C): the daemon stops everything it started before `up` rejects. */
  signal?: AbortSignal;
  /** Bound on the whole start-up; the cluster is torn down when it passes. */
  timeoutMs?: number;
  /** Extra environment for the daemon, e.g. PERCOLATE_PROMETHEUS_BIN to use another binary. */
  env?: Record<string, string>;
  /**
   * Bind the cluster's life to this process (default: none, the cluster stays until `down`).
   * A test run passes itself: if it is killed, the daemon stops everything within a second
   * or two, and no later run attaches to what it left.
   */
  owner?: ProcessRef;
}

export interface UpResult {
  state: LocalState;
  /** A ready cluster was already running in this state dir; nothing was started. */
  alreadyRunning: boolean;
  ms: number;
  sweep: SweepReport;
}

/** `up` failed: the component that failed and where its log is (kept after the run dir is gone). */
export class UpError extends Error {
  constructor(readonly component: string, readonly log: string, message: string) {
    super(message);
    this.name = 'UpError';
  }
}

export class UpAborted extends Error {
  constructor() {
    super('up was interrupted; everything it had started has been stopped and removed');
    this.name = 'UpAborted';
  }
}

/** Waits for a process to be gone (or a zombie), up to `timeoutMs`. */
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  return eventually(`process ${pid} gone`, () => isRunning(pid), (running) => !running, { timeoutMs, intervalMs: 20 }).then(() => true, () => false);
}

/**
 * Starts the local cluster as a detached daemon and resolves once everything is ready,
 * leaving it running. First sweeps what a crashed run left behind (in this state dir, and
 * `percolate-run-*` dirs whose daemon is dead).
 */
export async function upLocalCluster(options: UpOptions = {}): Promise<UpResult> {
  const t0 = performance.now();
  const stateDir = options.stateDir ?? defaultStateDir();
  const progress = options.onProgress ?? (() => {});
  const { alive, report } = await sweepStateDir(stateDir);
  if (alive) {
    if (alive.phase === 'ready') return { state: alive, alreadyRunning: true, ms: Math.round(performance.now() - t0), sweep: report };
    throw new UpError('daemon', alive.daemon.log, `a cluster in ${stateDir} is ${alive.phase} (daemon pid ${alive.daemon.pid}); wait for it or run \`percolate test-topology down\``);
  }
  await sweepStaleRunDirs(report);
  progress({
    step: 'sweep leftovers', ms: Math.round(performance.now() - t0),
    detail: report.killed.length || report.removedDirs.length || report.removedCgroups.length
      ? `stopped ${report.killed.length} processes, removed ${report.removedDirs.length} run dirs${report.removedCgroups.length ? ` and ${report.removedCgroups.length} cgroups` : ''}` : 'nothing left behind',
  });

  const runDir = mkdtempSync(join(runDirParent(), RUN_DIR_PREFIX));
  mkdirSync(logDir(runDir), { recursive: true });
  const daemonLog = logFile(runDir, 'daemon');
  const config: RuntimeConfig = {
    runDir, stateDir, profile: options.profile ?? 'fast', replicas: options.replicas ?? {}, ...(options.owner ? { owner: options.owner } : {}),
  };
  const fd = openSync(daemonLog, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', DAEMON_ENTRY], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env: { ...process.env, ...options.env, [RUN_MARKER_ENV]: runDir, PERCOLATE_DAEMON_CONFIG: JSON.stringify(config) },
  });
  closeSync(fd);
  const pid = child.pid!;
  progress({ step: 'daemon started', ms: Math.round(performance.now() - t0), detail: `pid ${pid}, run dir ${runDir}` });

  /**
   * Stops a daemon that is still starting, and anything it left, before `up` rejects. With
   * `keepLogs` the run's logs are copied under the state dir first; returns where they went.
   */
  const teardown = async (keepLogs: boolean): Promise<string | undefined> => {
    signalGroup(pid, 'SIGTERM');
    if (!(await waitGone(pid, 20_000))) signalGroup(pid, 'SIGKILL');
    const kept = keepLogs ? preserveLogs(runDir, stateDir) : undefined;
    await sweepStateDir(stateDir);
    await sweepStaleRunDirs(emptyReport());
    rmSync(runDir, { recursive: true, force: true });
    return kept;
  };

  return new Promise<UpResult>((resolve, reject) => {
    let settled = false;
    /** What the daemon said went wrong, before it exited. */
    let reported: UpError | undefined;
    const timeoutMs = options.timeoutMs ?? UP_TIMEOUT_MS;
    const timer = setTimeout(() => void fail((kept) => new UpError('daemon', kept ? join(kept, 'daemon.log') : daemonLog, notWithin('ready', timeoutMs)), 'keep-logs'),
      timeoutMs);
    const onAbort = () => void fail(() => new UpAborted(), 'discard-logs');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      child.removeAllListeners();
      if (child.connected) child.disconnect();
      child.unref();
    };
    /** `tearDown`: the daemon may still run (or died without cleaning up); make sure nothing is left. */
    const fail = async (error: (keptLog?: string) => Error, tearDown: 'keep-logs' | 'discard-logs' | 'none') => {
      if (settled) return;
      done();
      let kept: string | undefined;
      if (tearDown !== 'none') kept = await teardown(tearDown === 'keep-logs');
      else await sweepStaleRunDirs(emptyReport()).catch(() => undefined);
      reject(error(kept));
    };
    if (options.signal?.aborted) { onAbort(); return; }
    child.on('message', (msg: DaemonMessage) => {
      if (msg.type === 'progress') progress({ step: msg.step, ms: msg.ms, ...(msg.detail ? { detail: msg.detail } : {}) });
      // The daemon tears everything down itself, then exits: the 'exit' handler rejects.
      else if (msg.type === 'failed') reported = new UpError(msg.component, msg.log, msg.message);
      else if (msg.type === 'ready') {
        const state = readState(stateDir);
        if (!state) { void fail(() => new UpError('daemon', daemonLog, 'reported ready but wrote no state file'), 'keep-logs'); return; }
        done();
        resolve({ state, alreadyRunning: false, ms: Math.round(performance.now() - t0), sweep: report });
      }
    });
    child.on('exit', (code, signal) => {
      if (reported) { const r = reported; void fail(() => r, 'none'); return; }
      void fail((kept) => new UpError('daemon', kept ? join(kept, 'daemon.log') : daemonLog,
        `the daemon exited during start-up (${signal ?? `code ${code}`})`), 'keep-logs');
    });
  });
}

export interface DownResult {
  wasRunning: boolean;
  ms: number;
  sweep: SweepReport;
}

/**
 * Stops the cluster of a state dir and leaves nothing behind: asks the daemon to shut down
 * (it stops pods, HAProxy, Prometheus, NATS and removes the run dir), escalates to signals
 * if it does not answer, then sweeps whatever is left.
 */
export async function downLocalCluster(options: { stateDir?: string; timeoutMs?: number } = {}): Promise<DownResult> {
  const t0 = performance.now();
  const stateDir = options.stateDir ?? defaultStateDir();
  const state = readState(stateDir);
  let wasRunning = false;
  if (state && daemonAlive(state)) {
    wasRunning = true;
    const pid = state.daemon.pid;
    let asked = false;
    if (state.control) {
      try {
        const res = await fetch(`${state.control.url}/shutdown`, {
          method: 'POST', headers: { authorization: `Bearer ${state.control.token}` }, signal: AbortSignal.timeout(2_000),
        });
        asked = res.status === 202;
      } catch {
        asked = false;
      }
    }
    if (!asked) signalGroup(pid, 'SIGTERM');
    if (!(await waitGone(pid, options.timeoutMs ?? DOWN_TIMEOUT_MS))) signalGroup(pid, 'SIGKILL');
  }
  const { report } = await sweepStateDir(stateDir);
  await sweepStaleRunDirs(report);
  return { wasRunning, ms: Math.round(performance.now() - t0), sweep: report };
}
