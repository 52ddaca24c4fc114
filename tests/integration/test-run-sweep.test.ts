import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollBound } from '../../lib/poll.ts';
import { TEST_RUN_MARKER_ENV } from '../../cluster/local/process/paths.ts';
import { currentProcess, isRunning, processIdentity } from '../../cluster/local/process/proc-identity.ts';
import { sweepDeadTestRuns, sweepTestRunNow, testRunOwnerFile } from '../../cluster/local/process/sweep.ts';

// What `npm test`'s global setup relies on to leave nothing behind a killed run.
describe('sweeping what a killed test run left', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const parentDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'sweep-parent-'));
    dirs.push(d);
    return d;
  };
  const runDir = (parent: string, name: string, owner: { pid: number; identity: string } | undefined) => {
    const dir = join(parent, `percolate-tests-${name}`);
    mkdirSync(join(dir, 'percolate-nats-x'), { recursive: true });
    if (owner) writeFileSync(testRunOwnerFile(dir), JSON.stringify(owner));
    return dir;
  };
  const marked = (dir: string, detached = true) => {
    const c = spawn('sleep', ['60'], { env: { ...process.env, [TEST_RUN_MARKER_ENV]: dir }, detached, stdio: 'ignore' });
    children.push(c);
    return c.pid!;
  };
  const deadOwner = async () => {
    const c = spawn('sleep', ['60'], { stdio: 'ignore' });
    const owner = { pid: c.pid!, identity: processIdentity(c.pid!)! };
    c.kill('SIGKILL');
    await once(c, 'exit');
    return owner;
  };
  const gone = (pid: number, what: string) => expect.poll(() => isRunning(pid), pollBound(`${what} (pid ${pid}) gone`, 5_000)).toBe(false);

  it('ends the processes and removes the dir of a run whose owner died; a live run and its processes stay', async () => {
    const parent = parentDir();
    const dead = runDir(parent, 'dead', await deadOwner());
    const live = runDir(parent, 'live', currentProcess());
    const deadService = marked(dead);
    const deadHelper = marked(dead, false);
    const liveService = marked(live);
    const orphan = marked(join(parent, 'percolate-tests-removed'));

    const report = await sweepDeadTestRuns(parent);

    await gone(deadService, 'a service of the dead run');
    await gone(deadHelper, 'a runner helper of the dead run');
    await gone(orphan, 'a process whose run dir is gone');
    expect(existsSync(dead), 'the dead run\'s dir').toBe(false);
    expect(report.removedDirs).toEqual([dead]);
    expect(isRunning(liveService), 'the live run\'s service').toBe(true);
    expect(existsSync(live), 'the live run\'s dir').toBe(true);
  });

  it('a dir without an owner is left while it may still be in the making', async () => {
    const parent = parentDir();
    const fresh = runDir(parent, 'fresh', undefined);
    const service = marked(fresh);
    await sweepDeadTestRuns(parent);
    expect(isRunning(service)).toBe(true);
    expect(existsSync(fresh)).toBe(true);
  });

  it('a run\'s own teardown stops what the harness spawned (group leaders), not the runner\'s helpers', async () => {
    const parent = parentDir();
    const own = runDir(parent, 'own', currentProcess());
    const service = marked(own);
    const helper = marked(own, false);
    const stopped = sweepTestRunNow(own);
    await gone(service, 'a spawned service');
    expect(isRunning(helper), 'a runner helper').toBe(true);
    expect(stopped).toEqual([`sleep (pid ${service})`]);
    expect(existsSync(own)).toBe(false);
  });
});
