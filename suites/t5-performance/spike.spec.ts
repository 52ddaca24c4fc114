import { loadPlan, planDurationS } from '../../load/lib/scenarios.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { dbWorkload } from '../../lib/names.ts';
import { applyFaultUnderTest, runPlan } from './load-runner.ts';

test.describe('T5.2 spike handling', () => {
  test('T5.2 a 10x spike: no errors during it, SLOs during and after it, recovered within the recovery phase @nightly', async ({ pools, tenants, endpoints, profile, plan: targets, faults, testId }) => {
    const plan = loadPlan('spike', profile);
    test.setTimeout(test.info().timeout + planDurationS(plan) * 1000);
    // The pool scales on active tenants, not on request rate (seed 002), so a spike on the
    // same tenants meets the pool it found; held, so the figures measure the spike rather
    // than a scale event running beside it (T2.2 covers scaling up).
    await test.step('setup: one pod per tier the tenants use, held', async () => {
      for (const tier of new Set(plan.tenants.map((t) => t.tier))) await pools.hold(dbWorkload(tier), 1);
      await applyFaultUnderTest(faults, test.info());
    });
    const summary = await test.step('assess: base rate, ramp to 10x, hold, back down, recovery', () =>
      runPlan(plan, { baseUrl: endpoints.loadBalancerUrl, tenants, runTag: testId, testInfo: test.info() }));
    await test.step('assess: error rate and p95 during and after the spike, time to recover', async () => {
      const info = test.info();
      const { spike, recovery } = summary.phases;
      expect(spike && recovery, `phases measured: ${Object.keys(summary.phases).join(', ')}`).toBeTruthy();
      const recoveryPhase = plan.phases.find((p) => p.name === 'recovery')!;
      measure(info, 'error rate during the spike', spike!.errorRate, 'ratio', { op: '<=', value: targets.performance.spikeErrorRate, source: 'targets.yaml performance.spikeErrorRate (seed 003: no errors during 10x spike)' });
      measure(info, 'p95 latency during the spike', spike!.p95Ms, 'ms', { op: '<', value: targets.performance.p95Ms, source: 'targets.yaml performance.p95Ms' });
      measure(info, 'error rate after the spike', recovery!.errorRate, 'ratio', { op: '<', value: targets.performance.errorRate, source: 'targets.yaml performance.errorRate' });
      measure(info, 'p95 latency after the spike', recovery!.p95Ms, 'ms', { op: '<', value: targets.performance.p95Ms, source: 'targets.yaml performance.p95Ms' });
      measure(info, 'time to recover after the spike', summary.recoverySeconds ?? Number.NaN, 's', { op: '<', value: recoveryPhase.toS - recoveryPhase.fromS, source: 'load-scenarios.yaml performance.spike recoverySeconds' });
      expect(summary.thresholds.filter((t) => !t.ok), `thresholds of load/spike.ts failed (${summary.executor})`).toEqual([]);
    });
  });
});
