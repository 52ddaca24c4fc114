import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notWithin, pollBound } from '../../lib/poll.ts';
import { UP_TIMEOUT_MS, runtimeSettings } from '../../lib/time.ts';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { REPO_ROOT } from '../../lib/repo.ts';

/**
 * Seed 000's traffic commands, run as a person runs them: the real CLI in its own process
 * against a local cluster found through --state-dir. One lean cluster for the file: two
 * database pods (so there is a replica), one worker, one gateway.
 */

const DB = DB_SMALL;
const TENANT = 'tenant-001';

interface CliRun { code: number | null; stdout: string; stderr: string }

const settings = runtimeSettings('fast');
/** One CLI command run to its end. */
const CLI_RUN_MS = 60_000;

describe('percolate test-topology traffic commands', () => {
  let cluster: LocalClusterTarget;
  const children = new Set<ChildProcess>();

  /** Starts the CLI; `done` resolves when it exits (killed after `timeoutMs`, which fails the run). */
  function start(args: string[], timeoutMs = CLI_RUN_MS, stateDir = cluster.stateDir) {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/percolate.mjs'), 'test-topology', '--state-dir', stateDir, ...args], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PERCOLATE_TARGET: 'local', NO_COLOR: '1' },
    });
    children.add(child);
    const run: CliRun = { code: null, stdout: '', stderr: '' };
    child.stdout!.on('data', (d: Buffer) => { run.stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { run.stderr += d.toString(); });
    const done = new Promise<CliRun>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${notWithin(`percolate ${args.join(' ')} exited`, timeoutMs)}\n${run.stderr}`)); }, timeoutMs);
      child.on('exit', (code) => { clearTimeout(timer); children.delete(child); run.code = code; resolve(run); });
    });
    return { child, run, done };
  }
  const cli = (args: string[], timeoutMs?: number) => start(args, timeoutMs).done;
  const json = <T = any>(r: CliRun): T => {
    try { return JSON.parse(r.stdout) as T; } catch { throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`); }
  };

  /** Where the tenant's requests land; set by the first test that sends traffic. */
  let tenantPod = '';

  beforeAll(async () => {
    cluster = await new LocalClusterBuilder().withProfile('fast').withDbReplicas(2).withWorkers(1).withGateways(1).start();
    // Hold the pools (KEDA's paused-replicas): a scale event mid-test would move the tenant
    // (affinity) or remove the replica (replication).
    await cluster.pauseAutoscaling(DB, 2);
    await cluster.pauseAutoscaling(WORKER_SMALL, 1);
    await cluster.waitForReplicasReady(DB, 2, { timeoutMs: settings.podsReadyMs });
    await cluster.waitForReplicasReady(WORKER_SMALL, 1, { timeoutMs: settings.podsReadyMs });
  }, UP_TIMEOUT_MS);

  afterEach(() => { for (const c of children) c.kill('SIGKILL'); });
  afterAll(async () => { await cluster?.close(); });

  it('bad arguments exit 2 with the reason and the usage; no cluster exits 3 saying how to start one', async () => {
    const [badRate, badTenant, both, noCluster] = await Promise.all([
      cli(['simulate-tenant', TENANT, '--rate', 'fast']),
      cli(['verify-affinity', 'Not_A_Tenant']),
      cli(['check-replication', TENANT, '--all-tenants']),
      start(['verify-affinity', TENANT], CLI_RUN_MS, join(cluster.stateDir, 'no-cluster-here')).done,
    ]);
    expect(badRate.code).toBe(2);
    expect(badRate.stderr).toMatch(/--rate must be a number above 0/);
    expect(badRate.stderr).toMatch(/usage: percolate test-topology simulate-tenant \[options\] <tenant>/);
    expect(badTenant.code).toBe(2);
    expect(badTenant.stderr).toMatch(/tenant id must match/);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give a tenant or --all-tenants, not both/);
    expect(noCluster.code).toBe(3);
    expect(noCluster.stderr).toMatch(/no local cluster is running .*npx percolate test-topology up/);
  });

  it('simulate-tenant sends rate × duration mixed requests through the load balancer, all 2xx, on one pod, stamped with its run id', async () => {
    const r = await cli(['simulate-tenant', TENANT, '--duration', '3', '--rate', '20', '--progress', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = json(r);
    const t = s.total;
    expect(t.sent).toBe(60);
    expect(t.answered).toBe(60);
    expect(t.dropped).toBe(0);
    // Every answer is a success: a 404 on a read of our own write, or any 5xx, is a bug.
    expect(Object.keys(t.outcomes).filter((k) => !['200', '201'].includes(k))).toEqual([]);
    expect(t.serverErrors).toBe(0);
    expect(Object.values(t.operations as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(60);
    expect(t.operations.write).toBeGreaterThan(0);
    expect(t.latency.count).toBe(60);
    expect(t.latency.p50Ms).toBeGreaterThan(0);
    expect(t.latency.p99Ms).toBeGreaterThanOrEqual(t.latency.p95Ms);
    expect(Object.keys(t.pods)).toHaveLength(1);
    tenantPod = Object.keys(t.pods)[0]!;
    expect(tenantPod).toMatch(new RegExp(`^${DB}-[01]$`));
    // Progress lines every second while it ran.
    expect(r.stderr.match(/^\[\s*\d+\.\ds\] tenant-001 +sent \d+/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    // What it wrote is the tenant's, searchable by the run id.
    const token = await cluster.mintToken(TENANT);
    const res = await fetch(`${cluster.getLoadBalancerUrl()}/api/v1/resources?query=${encodeURIComponent(s.runId)}&limit=100`, { headers: tenantHeaders({ tenant: TENANT, token }) });
    const found = (await res.json()) as { items: Array<{ id: string; tags: string[] }> };
    expect(found.items.length).toBeGreaterThan(0);
    expect(found.items.every((i) => i.id.startsWith(`${s.runId}-r`) && i.tags.includes(s.runId))).toBe(true);
  });

  it('verify-affinity: every request of the tenant on the pod it always lands on (share 1.0)', async () => {
    const r = await cli(['verify-affinity', TENANT, '--requests', '50', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const a = json(r);
    expect(a).toMatchObject({ tenant: TENANT, requests: 50, share: 1, pass: true, topPod: tenantPod || expect.any(String) });
    expect(a.pods).toEqual({ [a.topPod]: 50 });
    const human = await cli(['verify-affinity', TENANT, '--requests', '10']);
    expect(human.stdout).toMatch(new RegExp(`${a.topPod}\\s+10\\s+100\\.0%`));
    expect(human.stdout).toMatch(new RegExp(`✓ 100\\.0% on ${DB}-\\d \\(min 95\\.0%\\)`));
  });

  it('submit-jobs --wait: every job done, with its latency and a result the tenant can read; without a worker it gives up and exits 1', async () => {
    const r = await cli(['submit-jobs', '--count', '3', '--tenant', TENANT, '--wait', '--wait-timeout', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = json(r);
    expect(s).toMatchObject({ submitted: 3, accepted: 3, failed: 0, unfinished: 0, states: { done: 3 } });
    expect(s.jobs.every((j: { latencyMs?: number; resultId?: string }) => (j.latencyMs ?? 0) > 0 && typeof j.resultId === 'string')).toBe(true);
    const token = await cluster.mintToken(TENANT);
    const result = await fetch(`${cluster.getLoadBalancerUrl()}/api/v1/resources/${s.jobs[0].resultId}`, { headers: tenantHeaders({ tenant: TENANT, token }) });
    expect(result.status).toBe(200);

    // No worker: the job stays queued, and the command says so instead of waiting for ever.
    await cluster.pauseAutoscaling(WORKER_SMALL, 0);
    await cluster.waitForReplicasReady(WORKER_SMALL, 0, { timeoutMs: settings.podsReadyMs });
    try {
      const stuck = await cli(['submit-jobs', '--count', '1', '--tenant', TENANT, '--wait', '--wait-timeout', '1', '--json']);
      expect(stuck.code).toBe(1);
      expect(json(stuck)).toMatchObject({ accepted: 1, unfinished: 1, timedOut: true, states: { queued: 1 } });
    } finally {
      await cluster.pauseAutoscaling(WORKER_SMALL, 1);
      await cluster.waitForReplicasReady(WORKER_SMALL, 1, { timeoutMs: settings.podsReadyMs });
    }
  }, 120_000);

  it('check-replication: a lag per replica; a replica whose sync link is slowed shows the delay and fails the check', async () => {
    // The bound is the command's, not the seed's 100 ms: this file checks the command, and a
    // busy 2-core machine is not the place to hold the cluster to its latency target.
    const r = await cli(['check-replication', TENANT, '--max-lag', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = json(r);
    expect(c.pods.sort()).toEqual([`${DB}-0`, `${DB}-1`]);
    const probe = c.results[0];
    expect(probe.writeStatus).toBe('201');
    expect(probe.replicas.map((x: { role: string }) => x.role).sort()).toEqual(['origin', 'replica']);
    for (const x of probe.replicas) {
      expect(x.lagMs).toBeGreaterThan(0);
      expect(x.lagMs).toBeLessThan(200);
      expect(x.lagLowerBoundMs).toBeLessThanOrEqual(x.lagMs);
    }
    const replica = probe.replicas.find((x: { role: string }) => x.role === 'replica').pod as string;
    const human = await cli(['check-replication', TENANT]);
    expect(human.stdout).toMatch(new RegExp(`${replica}\\s+zone-\\w\\s+replica\\s+\\d+\\.\\d+ ms`));

    // 400 ms on everything NATS sends to the replica: its copy of the probe comes that much later.
    await cluster.setNetworkFault(replica, { link: 'nats', flow: 'to-pod' }, { delayMs: 400 });
    try {
      const slow = await cli(['check-replication', TENANT, '--max-lag', '200', '--json']);
      expect(slow.code).toBe(1);
      const lagged = json(slow).results[0].replicas.find((x: { pod: string }) => x.pod === replica);
      expect(lagged.lagMs).toBeGreaterThan(350);
      expect(json(slow).pass).toBe(false);
    } finally {
      await cluster.setNetworkFault(replica, { link: 'nats', flow: 'to-pod' }, undefined);
    }
  });

  it('observe-scaling --json: one parseable sample a second with replicas, active tenants, queue lag and the scale events it saw', async () => {
    const run = start(['observe-scaling', '--duration', '4', '--json']);
    await expect.poll(() => run.run.stdout.includes('"type":"sample"'), pollBound('a first sample', 15_000)).toBe(true);
    // A scale event while it watches: the worker pool held at 2 instead of 1.
    await cluster.pauseAutoscaling(WORKER_SMALL, 2);
    try {
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
      const samples = lines.filter((l) => l.type === 'sample');
      expect(samples.length).toBeGreaterThanOrEqual(4);
      for (const s of samples) {
        expect(s.replicas[DB]).toEqual({ desired: 2, ready: 2 });
        expect([1, 2]).toContain(s.replicas[WORKER_SMALL].desired);
        expect(typeof s.activeTenants).toBe('number');
        expect(s.queueLag).toBe(0);
        expect(Array.isArray(s.events)).toBe(true);
      }
      expect(samples.at(-1)!.replicas[WORKER_SMALL].desired).toBe(2);
      expect(samples.flatMap((s) => s.events)).toContainEqual(expect.objectContaining({ workload: WORKER_SMALL, from: 1, to: 2 }));
      expect(lines.at(-1)).toMatchObject({ type: 'summary', samples: samples.length, scaleEvents: 1, replicas: { [DB]: { min: 2, max: 2 }, [WORKER_SMALL]: { min: 1, max: 2 } } });
    } finally {
      await cluster.pauseAutoscaling(WORKER_SMALL, 1);
    }
  });

  it('Ctrl-C stops simulate-tenants cleanly: exit 130 and the summary of what was sent', async () => {
    const run = start(['simulate-tenants', '--tenants', '2', '--duration', '120', '--rate', '10', '--progress', '0.5', '--json']);
    await expect.poll(() => /\] 2 tenants +sent [1-9]/.test(run.run.stderr), pollBound('a progress line with requests sent', 15_000)).toBe(true);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    const s = json(r);
    expect(s.interrupted).toBe(true);
    expect(s.tenants.map((t: { tenant: string }) => t.tenant)).toEqual(['tenant-001', 'tenant-003']);
    expect(s.total.sent).toBeGreaterThan(0);
    expect(s.total.sent).toBeLessThan(2 * 10 * 30);
    expect(s.total.serverErrors).toBe(0);
  });
});
