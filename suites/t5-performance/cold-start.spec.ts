import { loadPlan } from '../../load/lib/scenarios.ts';
import { summarize } from '../../load/lib/summary.ts';
import { findK6, runK6 } from '../../load/tools/k6-runner.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { dbWorkload } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';

test.describe('T5.4 cold start latency', () => {
  test('T5.4 every tier from zero pods: p95 of the time to first response < 30 s @nightly', async ({ cluster, tenants, endpoints, profile, deadlines, plan: targets, testId }) => {
    const plan = loadPlan('cold-start', profile);
    const cold = plan.coldStart!;
    test.setTimeout(test.info().timeout + cold.iterationsPerTier * (deadlines.scaleToZeroMs + cold.boundSeconds * 1000));
    const samples: Array<{ tier: string; seconds: number; status: number; servedBy: string | null }> = [];
    /** Per round, what k6 measured of the same cold start: its TTFR p95 and whether its thresholds held. */
    const k6Rounds: Array<{ p95Seconds: number; samples: number; exitCode: number; form: string }> = [];
    const k6 = findK6();
    const tokens = Object.fromEntries(await Promise.all(plan.tenants.map(async (t) => [t.id, await tenants.token(t.id, t.tier)] as const)));
    for (let round = 1; round <= cold.iterationsPerTier; round += 1) {
      await test.step(`setup ${round}/${cold.iterationsPerTier}: every tier idle down to zero pods (autoscaling owns them)`, async () => {
        for (const tier of cold.tiers) await cluster.resumeAutoscaling(dbWorkload(tier));
        await eventually('every database tier at 0 pods', async () => Promise.all(cold.tiers.map((t) => cluster.listPods({ workload: dbWorkload(t) }))),
          (lists) => lists.every((pods) => pods.length === 0), { timeoutMs: deadlines.scaleToZeroMs });
      });
      await test.step(`assess ${round}/${cold.iterationsPerTier}: the first request of each tier, all tiers at once${k6 ? ', k6 and the suite together' : ''}`, async () => {
        // k6 and the suite's own first requests start together, so that both meet the tiers
        // at zero: run one after the other, the second would time a warm pool.
        const byK6 = k6 ? runK6(k6, plan, { baseUrl: endpoints.loadBalancerUrl, tokens, dir: test.info().outputPath(`k6-${round}`), runTag: testId }) : undefined;
        // The suite's own measure, from its side of the load balancer.
        await Promise.all(plan.tenants.map(async (t) => {
          const client = await tenants.client(t.id);
          const started = performance.now();
          const res = await client.request('GET', '/api/v1/resources?limit=1');
          samples.push({ tier: t.tier, seconds: (performance.now() - started) / 1000, status: res.status, servedBy: res.servedBy });
        }));
        const run = await byK6;
        if (run) k6Rounds.push({ p95Seconds: run.summary.ttfr?.p95Seconds ?? Number.NaN, samples: run.summary.ttfr?.samples ?? 0, exitCode: run.exitCode, form: run.form });
      });
    }
    await test.step('assess: every first request answered by its tier, p95 TTFR within the bound', async () => {
      const info = test.info();
      for (const s of samples) {
        expect(s.status, `first ${s.tier} request`).toBe(200);
        expect(s.servedBy ?? '', `first ${s.tier} request served by its tier`).toMatch(new RegExp(`^percolate-db-${s.tier}-\\d+$`));
      }
      const own = samples.map((x) => x.seconds * 1000);
      const sorted = [...own].sort((a, b) => a - b);
      const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
      const summary = summarize(plan, { ttfr: { values: { count: own.length, 'p(95)': p95, max: sorted.at(-1)! } }, checks: { values: { rate: 1 } } }, { executor: k6 ? 'k6' : 'open-model', baseUrl: endpoints.loadBalancerUrl, durationSeconds: 0 });
      await info.attach('cold-start-summary.json', { body: JSON.stringify({ ...summary, samples, k6Rounds }, null, 2), contentType: 'application/json' });
      info.annotations.push({ type: 'executor', description: k6 ? `k6 (${k6}; ${k6Rounds[0]?.form ?? 'no run'}) and the suite's own first requests, together` : 'the suite\'s own first requests: k6 is not installed' });
      if (k6) {
        expect(k6Rounds.map((r) => r.samples > 0), 'k6 timed a first response in every round').toEqual(k6Rounds.map(() => true));
        measure(info, 'TTFR p95 measured by k6 (slowest round)', Math.max(...k6Rounds.map((r) => r.p95Seconds)), 's', { op: '<', value: targets.performance.coldStartP95Seconds, source: 'targets.yaml performance.coldStartP95Seconds' });
        expect(k6Rounds.map((r) => r.exitCode), 'k6 exit codes (99: a threshold of the script failed)').toEqual(k6Rounds.map(() => 0));
      }
      for (const tier of cold.tiers) measure(info, `TTFR, ${tier} tier (slowest)`, Math.max(...samples.filter((s) => s.tier === tier).map((s) => s.seconds)), 's', { op: '<', value: targets.performance.coldStartP95Seconds, source: 'targets.yaml performance.coldStartP95Seconds' });
      measure(info, 'TTFR p95 over every tier', p95 / 1000, 's', { op: '<', value: targets.performance.coldStartP95Seconds, source: 'targets.yaml performance.coldStartP95Seconds' });
    });
  });
});
