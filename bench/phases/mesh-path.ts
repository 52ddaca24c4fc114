import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL as DB } from '../../lib/names.ts';
import { closedLoop, type ClosedLoopResult } from '../closed-loop.ts';
import { progress } from '../cluster.ts';
import { merged, summarize } from '../hdr.ts';
import { onTeardown } from '../teardown.ts';

export interface MeshPathOptions { connections: number; tenants: number; seconds: number; rounds: number }
export interface MeshPathResult { lb: ClosedLoopResult; direct: ClosedLoopResult; lbRounds: number[]; directRounds: number[] }

/**
 * The local data path beside what it carries, as wrk would measure it: the most reads per
 * second `connections` keep-alive connections complete through the load balancer (HAProxy
 * with its token check, then the pod), and straight on the pod's container, in the same
 * cluster, over `tenants` tenants. The time is cut into rounds that alternate which path
 * goes first, so drift on the machine falls on both alike.
 */
export async function meshPath(opts: MeshPathOptions): Promise<MeshPathResult> {
  progress('mesh path: starting a local cluster (fast profile, 1 database pod)');
  const starting = new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).withWorkers(0).start();
  onTeardown('mesh path local cluster', async () => { await (await starting.catch(() => undefined))?.close(); });
  const cluster = await starting;
  const [pod] = await cluster.waitForReplicasReady(DB, 1);
  // The load balancer's own route to the pod is its container while no fault is on its sidecar.
  const container = pod!.lbAddress;
  if (!container || container === pod!.address) throw new Error(`mesh path: ${pod!.name} is routed through its sidecar (${pod!.lbAddress}); is a fault on it?`);
  const run = Date.now().toString(36);
  const headers = await Promise.all(Array.from({ length: opts.tenants }, async (_, i) => {
    const tenant = `bench-mesh-${run}-${i}`;
    return tenantHeaders({ tenant, token: await cluster.mintToken(tenant) });
  }));
  const request = (i: number) => ({ path: '/api/v1/resources?limit=1', headers: headers[i % headers.length]! });
  const paths = [
    { name: 'lb' as const, origin: cluster.getLoadBalancerUrl() },
    { name: 'direct' as const, origin: `http://${container}` },
  ];
  progress(`mesh path: warm-up, every tenant opened on ${pod!.name}`);
  for (const p of paths) await closedLoop(p.origin, { connections: opts.connections, durationMs: 2_000, request });
  const rounds: Record<'lb' | 'direct', ClosedLoopResult[]> = { lb: [], direct: [] };
  const roundMs = (opts.seconds * 1000) / opts.rounds;
  for (let round = 0; round < opts.rounds; round++) {
    for (const p of round % 2 === 0 ? paths : [...paths].reverse()) {
      const r = await closedLoop(p.origin, { connections: opts.connections, durationMs: roundMs, request });
      progress(`mesh path: round ${round + 1}/${opts.rounds} ${p.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(1)} ms, ${r.errors} errors`);
      rounds[p.name].push(r);
    }
  }
  return { lb: combined(rounds.lb), direct: combined(rounds.direct), lbRounds: rounds.lb.map((r) => r.rps), directRounds: rounds.direct.map((r) => r.rps) };
}

/** Rounds of equal length: throughput as their mean, latencies over every request of every round. */
function combined(rs: ClosedLoopResult[]): ClosedLoopResult {
  const histogram = merged(rs.map((r) => r.histogram));
  const { p50Ms, p99Ms } = summarize(histogram);
  const errorReasons: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.errorReasons)) errorReasons[k] = (errorReasons[k] ?? 0) + v;
  return {
    histogram, ok: rs.reduce((s, r) => s + r.ok, 0), errors: rs.reduce((s, r) => s + r.errors, 0), errorReasons,
    rps: rs.reduce((s, r) => s + r.rps, 0) / rs.length, p50Ms, p99Ms,
  };
}
