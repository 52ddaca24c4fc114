import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL as DB, WORKER_SMALL } from '../../lib/names.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { progress } from '../cluster.ts';
import { OpenModelGenerator, type OpenModelResult } from '../open-model.ts';
import { onTeardown } from '../teardown.ts';
import { eventually } from '../../lib/poll.ts';
import { loadPlanTargets } from '../../suites/lib/targets.ts';
import { REPLICAS_READY_TIMEOUT_MS } from '../../lib/time.ts';

/**
 * Seed 000's rows that only a whole cluster shows: reads through the load balancer (HAProxy
 * and the pod's sidecar) beside the same reads sent to the pod, a tenant's cold read through
 * it, a worker's cold start (job published at zero workers → worker ready) and the
 * autoscaler's decision latency (publish → scale-up event). One local cluster, fast profile,
 * one database pod held by its ScaledObject, workers left to the autoscaler.
 */
export interface Seed000Options { rate: number; seconds: number; coldTenants: number; coldRate: number }

export interface Seed000Result {
  lb: OpenModelResult;
  direct: OpenModelResult;
  cold: OpenModelResult;
  workerColdStartMs: number | undefined;
  scalingDecisionMs: number | undefined;
}

export async function seed000Cluster(opts: Seed000Options): Promise<Seed000Result> {
  progress('seed 000: starting a local cluster (fast profile, 1 database pod, workers autoscaled)');
  const starting = new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).start();
  onTeardown('seed 000 local cluster', async () => { await (await starting.catch(() => undefined))?.close(); });
  const cluster = await starting;
  const [pod] = await cluster.waitForReplicasReady(DB, 1);
  const tenant = 'tenant-001';
  const headers = tenantHeaders({ tenant, token: await cluster.mintToken(tenant) });

  const reads = async (origin: string): Promise<OpenModelResult> => {
    const gen = new OpenModelGenerator(origin, { timeoutMs: 10_000 });
    try {
      await gen.run({ rate: opts.rate, durationMs: 2_000, request: () => ({ path: '/api/v1/resources?limit=1', headers }) });
      return await gen.run({ rate: opts.rate, durationMs: opts.seconds * 1000, request: () => ({ path: '/api/v1/resources?limit=1', headers }) });
    } finally {
      await gen.close();
    }
  };
  progress(`seed 000: cached reads of one tenant at ${opts.rate} req/s for ${opts.seconds} s, through the load balancer, then directly on ${pod!.name}`);
  const lb = await reads(cluster.getLoadBalancerUrl());
  const direct = await reads(`http://${pod!.address}`);

  progress(`seed 000: cold reads, the first request of ${opts.coldTenants} fresh tenants at ${opts.coldRate} req/s through the load balancer`);
  const run = Date.now().toString(36);
  const coldHeaders = await Promise.all(Array.from({ length: opts.coldTenants }, async (_, i) => {
    const id = `bench-cold-${run}-${i}`;
    return tenantHeaders({ tenant: id, token: await cluster.mintToken(id) });
  }));
  const coldGen = new OpenModelGenerator(cluster.getLoadBalancerUrl(), { timeoutMs: 10_000 });
  let cold: OpenModelResult;
  try {
    cold = await coldGen.run({
      rate: opts.coldRate, durationMs: (opts.coldTenants / opts.coldRate) * 1000, maxRequests: opts.coldTenants,
      request: (i) => ({ path: '/api/v1/resources?limit=1', headers: coldHeaders[i]! }),
    });
  } finally {
    await coldGen.close();
  }

  const { workerColdStartMs, scalingDecisionMs } = await workerColdStart(cluster, tenant);
  return { lb, direct, cold, workerColdStartMs, scalingDecisionMs };
}

async function workerColdStart(cluster: LocalClusterTarget, tenant: string): Promise<{ workerColdStartMs: number | undefined; scalingDecisionMs: number | undefined }> {
  progress('seed 000: one upload at zero workers; publish → scale-up decision → worker ready');
  try {
    await eventually('seed 000: workers at zero', () => cluster.listPods({ workload: WORKER_SMALL }), (pods) => pods.length === 0,
      { timeoutMs: REPLICAS_READY_TIMEOUT_MS, intervalMs: 200, show: (pods) => pods.map((p) => p.name).join(', ') });
  } catch (err) {
    progress(String(err instanceof Error ? err.message : err));
    return { workerColdStartMs: undefined, scalingDecisionMs: undefined };
  }
  const form = new FormData();
  form.append('file', new Blob(['bench cold worker']), 'bench.txt');
  const published = Date.now();
  const res = await fetch(`${cluster.getGatewayUrl()}/upload`, { method: 'POST', body: form, headers: tenantHeaders({ token: await cluster.mintToken(tenant) }) });
  if (res.status !== 202) { progress(`seed 000: upload answered ${res.status}: ${await res.text()}`); return { workerColdStartMs: undefined, scalingDecisionMs: undefined }; }
  const readyAt = await eventually('seed 000: a worker ready after the upload', async () => (await cluster.listPods({ workload: WORKER_SMALL })).some((p) => p.ready) ? Date.now() : undefined,
    (at) => at !== undefined, { timeoutMs: Math.max(0, published + REPLICAS_READY_TIMEOUT_MS - Date.now()), intervalMs: 50 })
    .catch((err: unknown) => { progress(String(err instanceof Error ? err.message : err)); return undefined; });
  const scaled = (await cluster.getScalingEvents({ since: published })).find((e) => e.scaledObject === WORKER_SMALL && e.replicasAfter > e.replicasBefore);
  return { workerColdStartMs: readyAt === undefined ? undefined : readyAt - published, scalingDecisionMs: scaled ? scaled.at - published : undefined };
}

const seed000 = loadPlanTargets().seed000;

/** Seed 000's bounds on the figures of this phase (fixtures/targets.yaml `seed000`). */
export const SEED000_TARGETS = [
  { figure: 'lb_read_cached_p99_ms', op: '<', limit: seed000.cachedReadMs, label: `cached read p99 through the load balancer < ${seed000.cachedReadMs} ms (seed 000)` },
  { figure: 'lb_cold_read_p99_ms', op: '<', limit: seed000.coldReadP99Ms, label: `cold read p99 through the load balancer < ${seed000.coldReadP99Ms} ms (seed 000)` },
  { figure: 'worker_cold_start_ms', op: '<', limit: seed000.workerColdStartSeconds * 1000, label: `worker cold start < ${seed000.workerColdStartSeconds} s (seed 000)` },
  { figure: 'scaling_decision_ms', op: '<', limit: seed000.scalingDecisionSeconds * 1000, label: `scaling decision < ${seed000.scalingDecisionSeconds} s (seed 000)` },
] as const;
