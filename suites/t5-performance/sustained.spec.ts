import { loadPlan, planDurationS } from '../../load/lib/scenarios.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { dbWorkload } from '../../lib/names.ts';
import { applyFaultUnderTest, runPlan } from './load-runner.ts';

test.describe('T5.3 sustained load', () => {
  // 24 h with the realistic profile (the weekly schedule); a bounded soak on fast.
  test('T5.3 the baseline SLOs hold for the whole run @weekly', async ({ pools, tenants, endpoints, profile, plan: targets, faults, testId }) => {
    const plan = loadPlan('sustained', profile);
    test.setTimeout(test.info().timeout + planDurationS(plan) * 1000);
    await test.step('setup: one pod per tier the tenants use, held', async () => {
      for (const tier of new Set(plan.tenants.map((t) => t.tier))) await pools.hold(dbWorkload(tier), 1);
      await applyFaultUnderTest(faults, test.info());
    });
    const summary = await test.step(`assess: ${plan.stages[0]!.target} req/s for ${planDurationS(plan)} s`, () =>
      runPlan(plan, { baseUrl: endpoints.loadBalancerUrl, tenants, runTag: testId, testInfo: test.info() }));
    await test.step('assess: the SLOs over the whole run, per tier too', async () => {
      const info = test.info();
      const src = 'targets.yaml performance';
      measure(info, 'p95 latency', summary.latencyMs.p95, 'ms', { op: '<', value: targets.performance.p95Ms, source: `${src}.p95Ms` });
      measure(info, 'p99 latency', summary.latencyMs.p99, 'ms', { op: '<', value: targets.performance.p99Ms, source: `${src}.p99Ms` });
      measure(info, 'error rate', summary.errorRate, 'ratio', { op: '<', value: targets.performance.errorRate, source: `${src}.errorRate` });
      for (const [tier, f] of Object.entries(summary.tiers)) measure(info, `p95 latency, ${tier} tier`, f.p95Ms, 'ms', { op: '<', value: targets.performance.p95Ms, source: `${src}.p95Ms` });
      expect(summary.thresholds.filter((t) => !t.ok), `thresholds of load/sustained.ts failed (${summary.executor})`).toEqual([]);
    });
  });
});
