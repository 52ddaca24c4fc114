import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pollBound } from '../../lib/poll.ts';
import { UpError, downLocalCluster, upLocalCluster } from '../../cluster/local/control/launcher.ts';
import { isListening } from '../../cluster/local/network/net-util.ts';
import { RUN_MARKER_ENV } from '../../cluster/local/process/paths.ts';
import { DB_SMALL, GATEWAY, WORKER_SMALL } from '../../lib/names.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { isRunning, processIdentity, processesWithEnv } from '../../cluster/local/process/proc-identity.ts';
import { type LocalState, readState } from '../../cluster/local/process/state.ts';
import { sweepStaleRunDirs } from '../../cluster/local/process/sweep.ts';

/** Pids and ports a run holds, from its state file. */
function holdings(state: LocalState): { pids: number[]; ports: number[] } {
  return {
    pids: [state.daemon.pid, ...state.processes.map((p) => p.pid)],
    ports: [...state.ports, ...state.processes.flatMap((p) => p.ports)],
  };
}

async function assertNothingLeft(runDir: string, pids: number[], ports: number[]): Promise<void> {
  expect(pids.filter(isRunning), 'processes still running').toEqual([]);
  expect(processesWithEnv(RUN_MARKER_ENV, runDir), 'processes carrying the run marker').toEqual([]);
  const listening = (await Promise.all(ports.map(async (p) => ((await isListening(p, 300)) ? p : 0)))).filter(Boolean);
  expect(listening, 'ports still listening').toEqual([]);
  expect(existsSync(runDir), `run dir ${runDir}`).toBe(false);
}

describe('local cluster lifecycle', () => {
  const stateDirs: string[] = [];
  const children: ChildProcess[] = [];
  const newStateDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'percolate-lifecycle-'));
    stateDirs.push(dir);
    return dir;
  };
  // Lean clusters: one database pod, nothing else, so each test stays within a few seconds.
  const lean = { [DB_SMALL]: 1, [WORKER_SMALL]: 0, [GATEWAY]: 0 };

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const dir of stateDirs) await downLocalCluster({ stateDir: dir });
  });
  afterAll(() => { for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true }); });

  it('the next up after a crashed run (daemon group SIGKILLed) sweeps every leftover', async () => {
    const stateDir = newStateDir();
    const first = await upLocalCluster({ stateDir, replicas: lean });
    const crashed = holdings(first.state);
    process.kill(-first.state.daemon.pid, 'SIGKILL');
    await expect.poll(() => isRunning(first.state.daemon.pid), pollBound('daemon dead', 5_000)).toBe(false);
    // The crash left the cluster's processes running: there is something to sweep.
    expect(crashed.pids.slice(1).filter(isRunning).length).toBeGreaterThanOrEqual(4);

    const second = await upLocalCluster({ stateDir, replicas: lean });
    expect(second.alreadyRunning).toBe(false);
    expect(second.sweep.killed.length).toBeGreaterThanOrEqual(4);
    await assertNothingLeft(first.state.runDir, crashed.pids, crashed.ports.filter((p) => !holdings(second.state).ports.includes(p)));
    expect(second.state.runDir).not.toBe(first.state.runDir);

    const current = holdings(second.state);
    await downLocalCluster({ stateDir });
    await assertNothingLeft(second.state.runDir, current.pids, current.ports);
    expect(readState(stateDir)).toBeUndefined();
  });

  it('a sweep stops processes whose run dir is gone, and leaves live runs alone', async () => {
    const orphanDir = join(tmpdir(), 'percolate-run-gone-for-good');
    const liveDir = mkdtempSync(join(tmpdir(), 'percolate-run-'));
    writeFileSync(join(liveDir, 'owner.json'), JSON.stringify({ daemonPid: process.pid, identity: processIdentity(process.pid), stateDir: liveDir }));
    const start = (dir: string) => {
      const c = spawn('sleep', ['60'], { env: { ...process.env, [RUN_MARKER_ENV]: dir }, detached: true, stdio: 'ignore' });
      children.push(c);
      return c;
    };
    const orphan = start(orphanDir);
    const live = start(liveDir);
    try {
      const report = await sweepStaleRunDirs();
      expect(report.killed.map((k) => k.pid)).toContain(orphan.pid);
      await expect.poll(() => isRunning(orphan.pid!), pollBound('orphan gone', 5_000)).toBe(false);
      expect(isRunning(live.pid!)).toBe(true);
      expect(existsSync(liveDir)).toBe(true);
    } finally {
      live.kill('SIGKILL');
      rmSync(liveDir, { recursive: true, force: true });
    }
  });

  it('a component that fails to start is named with its log, and nothing is left behind', async () => {
    const stateDir = newStateDir();
    let runDir = '';
    const failure = upLocalCluster({
      stateDir, replicas: lean, env: { PERCOLATE_PROMETHEUS_BIN: '/bin/false' },
      onProgress: (e) => { runDir ||= /run dir (\S+)/.exec(e.detail ?? '')?.[1] ?? ''; },
    });
    const err = await failure.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UpError);
    const { component, log, message } = err as UpError;
    expect(component).toBe('prometheus');
    expect(message).toMatch(/prometheus failed: exited with code 1/);
    // The run dir is gone; its logs were kept under the state dir.
    expect(log).toBe(join(stateDir, 'failed-runs', basename(dirname(dirname(log))), 'logs', 'prometheus.log'));
    expect(existsSync(log)).toBe(true);
    expect(readFileSync(join(dirname(log), 'daemon.log'), 'utf8')).toMatch(/start-up failed/);
    expect(runDir).toMatch(/percolate-run-/);
    expect(existsSync(runDir)).toBe(false);
    expect(processesWithEnv(RUN_MARKER_ENV, runDir)).toEqual([]);
    expect(readState(stateDir)).toBeUndefined();
  });

  it('Ctrl-C during `percolate test-topology up` stops and removes everything it had started', async () => {
    const stateDir = newStateDir();
    const cli = spawn(process.execPath, [join(REPO_ROOT, 'bin/percolate.mjs'), 'test-topology', 'up', '--db-replicas', '1', '--workers', '0', '--gateways', '0'], {
      cwd: REPO_ROOT, env: { ...process.env, PERCOLATE_LOCAL_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(cli);
    let stderr = '';
    cli.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = once(cli, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    // Interrupt once real processes run: nats-server and Prometheus are up, pods may be starting.
    await expect.poll(() => /✓ (nats|prometheus).*\n[\s\S]*✓ (nats|prometheus)/.test(stderr), { ...pollBound('nats and prometheus started', 20_000), interval: 20 }).toBe(true);
    const runDir = /run dir (\S+)/.exec(stderr)![1]!;
    const state = readState(stateDir)!;
    const started = holdings(state);
    expect(started.pids.filter(isRunning).length).toBeGreaterThanOrEqual(3);
    cli.kill('SIGINT');

    const [code] = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    await assertNothingLeft(runDir, [...started.pids, ...holdings(readState(stateDir) ?? state).pids], started.ports);
    expect(readState(stateDir)).toBeUndefined();
  });

  it('a run that is SIGKILLed takes its cluster with it, and the next run neither reuses nor trips over it', async () => {
    const stateDir = newStateDir();
    // A test run that starts a cluster for itself, bound to its own life (as the suite's global setup does).
    const script = `(async () => {
      const { upLocalCluster } = await import(${JSON.stringify(join(REPO_ROOT, 'cluster/local/control/launcher.ts'))});
      const { currentProcess } = await import(${JSON.stringify(join(REPO_ROOT, 'cluster/local/process/proc-identity.ts'))});
      await upLocalCluster({ stateDir: ${JSON.stringify(stateDir)}, replicas: ${JSON.stringify(lean)}, owner: currentProcess() });
      console.log('READY');
      setInterval(() => {}, 1000);
    })().catch((err) => { console.error(err); process.exit(1); });`;
    const run = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(run);
    let out = '';
    run.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    run.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    await expect.poll(() => out.includes('READY'), { ...pollBound('cluster up', 90_000), interval: 50 }).toBe(true);
    const state = readState(stateDir)!;
    expect(state.owner?.pid).toBe(run.pid);
    const held = holdings(state);
    run.kill('SIGKILL');

    // The daemon notices its owner is gone and stops everything, without anyone calling down.
    await expect.poll(() => isRunning(state.daemon.pid), pollBound('daemon of the dead run gone', 15_000)).toBe(false);
    await assertNothingLeft(state.runDir, held.pids, held.ports);

    // A new run starts its own cluster: nothing to attach to, nothing left to sweep.
    const next = await upLocalCluster({ stateDir, replicas: lean });
    expect(next.alreadyRunning).toBe(false);
    expect(next.state.runDir).not.toBe(state.runDir);
  });

  it('a cluster whose owner died is swept by the next up, never attached to', async () => {
    const stateDir = newStateDir();
    // An owner that is already gone by the time the cluster is ready: the daemon would stop
    // it within a second; the next up must not take it for a running cluster meanwhile.
    const short = spawn('sleep', ['0.2']);
    children.push(short);
    const owner = { pid: short.pid!, identity: processIdentity(short.pid!) ?? '' };
    await once(short, 'exit');
    const first = await upLocalCluster({ stateDir, replicas: lean, owner }).catch(() => undefined);
    // Either the daemon already stopped itself during start-up, or the next up sweeps it with a line.
    const second = await upLocalCluster({ stateDir, replicas: lean });
    expect(second.alreadyRunning).toBe(false);
    if (first) {
      expect(second.state.runDir).not.toBe(first.state.runDir);
      expect(isRunning(first.state.daemon.pid)).toBe(false);
    }
  });
});
