import { loadPlan } from '../../load/lib/scenarios.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { dbWorkload } from '../../lib/names.ts';
import { applyFaultUnderTest, runPlan } from './load-runner.ts';

test.describe('T5.1 baseline latency', () => {
  test('T5.1 steady load across tiers: p95 < 500 ms, p99 < 1 s, errors < 0.1 % @nightly', async ({ pools, tenants, endpoints, profile, plan: targets, faults, testId }) => {
    const plan = loadPlan('baseline', profile);
    test.setTimeout(test.info().timeout + plan.stages.reduce((s, x) => s + x.durationS, 0) * 1000);
    await test.step('setup: one pod per tier the tenants use, held (the baseline measures serving, not scaling)', async () => {
      for (const tier of new Set(plan.tenants.map((t) => t.tier))) await pools.hold(dbWorkload(tier), 1);
      await applyFaultUnderTest(faults, test.info());
    });
    const summary = await test.step('assess: the scenario runs at its arrival rate', () =>
      runPlan(plan, { baseUrl: endpoints.loadBalancerUrl, tenants, runTag: testId, testInfo: test.info() }));
    await test.step('assess: the SLOs hold, overall and per tier', async () => {
      const info = test.info();
      const src = 'targets.yaml performance';
      expect(summary.requests, 'requests sent').toBeGreaterThan(0);
      measure(info, 'p95 latency', summary.latencyMs.p95, 'ms', { op: '<', value: targets.performance.p95Ms, source: `${src}.p95Ms` });
      measure(info, 'p99 latency', summary.latencyMs.p99, 'ms', { op: '<', value: targets.performance.p99Ms, source: `${src}.p99Ms` });
      measure(info, 'error rate', summary.errorRate, 'ratio', { op: '<', value: targets.performance.errorRate, source: `${src}.errorRate` });
      for (const [tier, f] of Object.entries(summary.tiers)) measure(info, `p95 latency, ${tier} tier`, f.p95Ms, 'ms', { op: '<', value: targets.performance.p95Ms, source: `${src}.p95Ms` });
      expect(summary.thresholds.filter((t) => !t.ok), `thresholds of load/baseline.ts failed (${summary.executor})`).toEqual([]);
    });
  });
});
