import { loadPlan, planDurationS } from '../../load/lib/scenarios.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { dbWorkload } from '../../lib/names.ts';
import { applyFaultUnderTest, runPlan } from './load-runner.ts';

test.describe('T5.5 concurrent tenants', () => {
  test('T5.5 all 100 tenants active at once: p95 < 750 ms, errors < 0.5 %, per tier @weekly', async ({ pools, tenants, endpoints, profile, timeProfile, plan: targets, faults, testId }) => {
    const plan = loadPlan('concurrent-tenants', profile);
    test.setTimeout(test.info().timeout + planDurationS(plan) * 1000);
    await test.step('setup: enough pods per tier that each keeps its tenants open (the profile\'s tenant cache), held', async () => {
      for (const tier of new Set(plan.tenants.map((t) => t.tier))) {
        const count = plan.tenants.filter((t) => t.tier === tier).length;
        await pools.hold(dbWorkload(tier), Math.ceil(count / timeProfile.tenantCacheSize));
      }
      await applyFaultUnderTest(faults, test.info());
    });
    const summary = await test.step(`assess: ${plan.tenants.length} tenants, ${plan.stages[0]!.target} req/s together`, () =>
      runPlan(plan, { baseUrl: endpoints.loadBalancerUrl, tenants, runTag: testId, testInfo: test.info() }));
    await test.step('assess: the SLOs overall and per tier', async () => {
      const info = test.info();
      const src = 'targets.yaml performance.concurrentTenants';
      expect(new Set(plan.tenants.map((t) => t.tier)).size, 'tenants of every tier').toBe(3);
      measure(info, 'p95 latency', summary.latencyMs.p95, 'ms', { op: '<', value: targets.performance.concurrentTenants.p95Ms, source: `${src}.p95Ms` });
      measure(info, 'error rate', summary.errorRate, 'ratio', { op: '<', value: targets.performance.concurrentTenants.errorRate, source: `${src}.errorRate` });
      for (const [tier, f] of Object.entries(summary.tiers)) measure(info, `p95 latency, ${tier} tier`, f.p95Ms, 'ms', { op: '<', value: targets.performance.concurrentTenants.p95Ms, source: `${src}.p95Ms` });
      expect(summary.thresholds.filter((t) => !t.ok), `thresholds of load/concurrent-tenants.ts failed (${summary.executor})`).toEqual([]);
    });
  });
});
