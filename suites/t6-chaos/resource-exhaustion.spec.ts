import { ExperimentRefused } from '../../cluster/target.ts';
import type { TenantClient } from '../../lib/http.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import type { TrafficStats } from '../../lib/traffic-stats.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { startTraffic } from '../lib/traffic.ts';
import { expect, test } from '../fixtures/index.ts';

const EXPERIMENT = 'chaos/db-cpu-memory-stress.yaml';
/** Tenants of the small tier read, spread over its pods by the load balancer's hash. */
const TENANTS = 12;
const READS_PER_TENANT = 10;
const WINDOW_S = 20;

/**
 * Seed 004 "resource exhaustion": CPU and memory stress on one database pod (a StressChaos,
 * in the pod's own cgroup with its manifest's limits). The stressed pod's tenants are still
 * answered (T5.1's error budget); the other pods' tenants keep T5.1's SLO, and their read
 * p95 within seed 003's +10 % (as T1.3) where the target gives pods CPUs of their own (see
 * the assess step for the local target). Four CPU workers: as many as two cores twice over,
 * a stress that takes a whole node from every pod on it when it is not confined.
 */
test.describe('seed 004 resource exhaustion', () => {
  test('seed 004 CPU and memory stress on one database pod: its tenants answered, the other tenants\' read p95 held @nightly', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines }) => {
    const byPod = new Map<string, TenantClient[]>();

    await test.step(`setup: three database pods, ${TENANTS} tenants each served by one of them`, async () => {
      await pools.hold(DB_SMALL, 3);
      for (const t of tenants.ofTier('small', TENANTS)) {
        const client = await tenants.client(t.id, endpoints.loadBalancerUrl);
        const res = await eventually(`${t.id} answers a read`, async () => client.send({ method: 'GET', path: '/api/v1/resources?limit=1' }, { timeoutMs: deadlines.faultMarginMs }),
          (r) => 'status' in r.outcome && r.outcome.status === 200 && !!r.pod, { timeoutMs: deadlines.recoveryMs });
        byPod.set(res.pod!, [...(byPod.get(res.pod!) ?? []), client]);
      }
      expect(byPod.size, `pods serving the ${TENANTS} tenants: ${[...byPod.keys()].join(', ')}`).toBeGreaterThanOrEqual(2);
    });

    const baseline = await test.step(`baseline: ${READS_PER_TENANT} reads/s per tenant for ${WINDOW_S} s`, () => readFor(WINDOW_S));

    let victim = '';
    const during = await test.step(`fault: ${EXPERIMENT} on one pod, the same reads for ${WINDOW_S} s`, async () => {
      const record = await faults.applyExperiment(EXPERIMENT).catch((err: unknown) => {
        // A target that cannot confine the stress to the pod refuses it, saying why.
        test.skip(err instanceof ExperimentRefused, `the ${cluster.kind} target refused ${(err as Error).message}`);
        throw err;
      });
      victim = record.selected[0]!;
      test.info().annotations.push({ type: 'fault', description: `${victim} stressed: ${JSON.stringify(record.steps)}` });
      return readFor(WINDOW_S);
    });

    await test.step('assess: the stressed pod\'s tenants answered; the other tenants kept their SLO (and, where pods do not share the machine\'s cores, their p95)', async () => {
      const info = test.info();
      const others = [...byPod.keys()].filter((p) => p !== victim);
      test.skip(!byPod.has(victim), `the stress landed on ${victim}, which serves none of the ${TENANTS} tenants`);
      const v = during.get(victim)!.snapshot();
      recordFigure(info, { name: 'stressed pod: read p95 before', value: baseline.get(victim)!.snapshot().latency.p95Ms, unit: 'ms' });
      recordFigure(info, { name: 'stressed pod: read p95 under stress', value: v.latency.p95Ms, unit: 'ms' });
      measure(info, 'stressed pod: read errors under stress', v.errors / Math.max(v.sent, 1), 'ratio', { op: '<', value: plan.performance.errorRate, source: 'targets.yaml performance.errorRate (T5.1\'s error budget): "services remain responsive"' },
        `${v.sent} reads: ${JSON.stringify(v.outcomes)}`);
      const pooled = (stats: Map<string, TrafficStats>) => {
        const all = others.map((p) => stats.get(p)!.snapshot());
        return { p95: Math.max(...all.map((s) => s.latency.p95Ms)), errors: all.reduce((n, s) => n + s.errors, 0), sent: all.reduce((n, s) => n + s.sent, 0) };
      };
      const before = pooled(baseline);
      const under = pooled(during);
      recordFigure(info, { name: 'other pods: read p95 before', value: before.p95, unit: 'ms' });
      measure(info, 'other pods: read p95 under stress', under.p95, 'ms', { op: '<', value: plan.performance.p95Ms, source: 'targets.yaml performance.p95Ms (T5.1\'s SLO)' });
      measure(info, 'other pods: read errors under stress', under.errors / Math.max(under.sent, 1), 'ratio', { op: '<', value: plan.performance.errorRate, source: 'targets.yaml performance.errorRate (T5.1\'s SLO)' });
      // Seed 003's +10 % (as T1.3) is asserted where the stressed pod's node is not the
      // neighbours' node. The local target's "nodes" share this machine's two cores, and the
      // p95 of a 20 s window moves by about ±15 % from run to run here (baselines of 21–30 ms):
      // a 10 % bound is inside that noise. Measured: confined stress −14 %, −7 %, +0.2 % when
      // run alone, +38 % and +59 % late in a full t6-chaos run (a bigger database, a busier
      // machine); the same four workers without a CPU limit +46 % alone. So here it is
      // reported, and that the stress stays within the pod's limit is proven by
      // tests/integration/pod-stress.test.ts (the kernel's CPU accounting and throttling).
      const increase = under.p95 / Math.max(before.p95, 0.001) - 1;
      const target = { op: '<=' as const, value: plan.chaos.exhaustionP95Increase, source: 'targets.yaml chaos.exhaustionP95Increase' };
      if (cluster.kind === 'local') recordFigure(info, { name: 'other pods: read p95 increase under stress (reported: pods share the machine\'s cores here)', value: increase, unit: 'ratio', target });
      else measure(info, 'other pods: read p95 increase under stress', increase, 'ratio', target);
    });

    /** Reads from every tenant for `seconds`, counted per serving pod. */
    async function readFor(seconds: number): Promise<Map<string, TrafficStats>> {
      const traffic = new Map([...byPod].map(([pod, clients]) => [pod, startTraffic(clients, READS_PER_TENANT)] as const));
      const count = (pod: string) => seconds * READS_PER_TENANT * byPod.get(pod)!.length;
      try {
        await eventually(`${seconds} s of reads answered`, async () => [...traffic].every(([pod, t]) => t.stats.snapshot().answered >= count(pod)), (done) => done,
          { timeoutMs: seconds * 1000 + deadlines.faultMarginMs, intervalMs: 100 });
      } finally {
        await Promise.all([...traffic.values()].map((t) => t.stop()));
      }
      return new Map([...traffic].map(([pod, t]) => [pod, t.stats]));
    }
  });
});
