import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/repo.ts';

/**
 * The CLI's one convention, without a cluster: every command's bad arguments exit 2 with the
 * reason and the usage line, no cluster exits 3 saying how to start one, a bad PERCOLATE_*
 * value exits 2 naming the valid ones. (With a cluster: tests/integration/cli-traffic.test.ts.)
 */

interface CliRun { code: number | null; stdout: string; stderr: string }

const empty = mkdtempSync(join(tmpdir(), 'percolate-cli-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/percolate.mjs'), ...args], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PERCOLATE_TARGET: 'local', PERCOLATE_LOCAL_STATE_DIR: empty, ...env },
  });
  const run: CliRun = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => { run.stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { run.stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => { run.code = code; resolve(run); }));
}

describe('percolate: exit codes and messages', () => {
  it('bad arguments of any command exit 2 with the reason and the usage line', async () => {
    const [scale, pause, since, token, unknown, group] = await Promise.all([
      cli(['test-topology', 'scale', 'db', 'abc']),
      cli(['test-topology', 'autoscaling', 'pause', 'db', '500']),
      cli(['test-topology', 'autoscaling', 'events', '--since', 'yesterday']),
      cli(['test-topology', 'token', 'Not_A_Tenant']),
      cli(['test-topology', 'bogus']),
      cli(['test-topology']),
    ]);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toMatch(/replicas must be an integer from 0 to 100/);
    expect(scale.stderr).toMatch(/usage: percolate test-topology scale \[options\] <workload> <replicas>/);
    expect(pause.code).toBe(2);
    expect(pause.stderr).toMatch(/replicas must be an integer from 0 to 100/);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since takes a duration \(30s, 5m, 1h\) or a time in ms since the epoch/);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/tenant id must match/);
    expect(token.stderr).toMatch(/usage: percolate test-topology token/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'bogus'/);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/Usage: percolate test-topology/);
  });

  it('no cluster exits 3, for every command that needs one, saying how to start one', async () => {
    const runs = await Promise.all([
      cli(['test-topology', 'status']),
      cli(['test-topology', 'scale', 'db', '1']),
      cli(['test-topology', 'chaos', 'list']),
      cli(['test-topology', 'issuer', 'keys']),
      cli(['test-topology', 'verify-affinity', 'tenant-001']),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`percolate: no local cluster is running (state dir ${empty}): start one with \`npx percolate test-topology up\``);
    }
    const json = await cli(['test-topology', 'status', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({ running: false, stateDir: empty });
  });

  it('a bad PERCOLATE_* value exits 2 naming the valid ones; help exits 0; down with nothing running exits 0', async () => {
    const [bad, help, down] = await Promise.all([
      cli(['test-topology', 'status'], { PERCOLATE_TARGET: 'minikube', PERCOLATE_PROFILE: 'slow' }),
      cli(['test-topology', 'simulate-tenant', '--help']),
      cli(['test-topology', 'down']),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('percolate: PERCOLATE_TARGET must be one of local, k3s, kube, got "minikube"\npercolate: PERCOLATE_PROFILE must be one of fast, realistic, got "slow"\n');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--rate <n>/);
    expect(down.code).toBe(0);
    expect(down.stderr).toMatch(/nothing was running/);
  });
});
