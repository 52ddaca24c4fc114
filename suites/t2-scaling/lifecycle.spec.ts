import type { Traffic } from '../lib/traffic.ts';
import { startTraffic } from '../lib/traffic.ts';
import { eventually, expectSteady } from '../../lib/poll.ts';
import { perPodThreshold, scaledObjectSpec } from '../lib/scaled-objects.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

// T2.2 → T2.4 follow one load as the plan does: raise it, lower it, stop it.
test.describe.serial('T2.2–T2.4 database pods follow the active tenants', () => {
  let traffic: Traffic | undefined;
  test.afterAll(async () => { await traffic?.stop(); });

  // Five tenants at two per pod: ceil(2.5) = 3, where truncating or rounding down gives 2
  // and scaling on the current count (5 / 2 × pods) keeps climbing.
  test('T2.2 five active tenants scale the database 1 → ceil(5 / 2) = 3 @pr', async ({ cluster, tenants, deadlines, plan, profile }) => {
    const active = 5;
    const so = await scaledObjectSpec(profile, DB_SMALL);
    const expected = Math.ceil(active / perPodThreshold(so));
    const clients = await Promise.all(tenants.ofTier('small', active).map((t) => tenants.client(t.id)));
    await test.step('setup: autoscaling owns the pool; at most one pod to start from', async () => {
      await eventually(`${DB_SMALL} at ≤ 1 replica`, () => cluster.getReplicas(DB_SMALL), (n) => n <= 1, { timeoutMs: deadlines.scaleDownMs });
    });
    const started = Date.now();
    await test.step(`assess: sustained load from ${active} tenants (threshold ${perPodThreshold(so)} per pod) reaches ${expected} ready pods`, async () => {
      traffic = startTraffic(clients, 2);
      // The seed's bound is the pass criterion; the profile's (shorter on `fast`) would fail a slow machine first.
      await cluster.waitForReplicasReady(DB_SMALL, expected, { timeoutMs: Math.max(deadlines.scaleUpMs, plan.scaling.scaleUpSeconds * 1000) });
    });
    measure(test.info(), `T2.2 scale up 1 → ${expected}`, (Date.now() - started) / 1000, 's', { op: '<', value: plan.scaling.scaleUpSeconds, source: 'targets.yaml scaling.scaleUpSeconds' });
    await test.step(`assess: and stays at ${expected} (AverageValue = ceil(metric / threshold), not more)`, async () => {
      await expectSteady(`${DB_SMALL} replicas`, () => cluster.getReplicas(DB_SMALL), { forMs: deadlines.metricSeenMs * 2 });
      expect(await cluster.getReplicas(DB_SMALL)).toBe(expected);
    });
  });

  /**
   * Seed 003's "3 → 1 in < 5 min after load stops" is what the HPA's scale-down
   * stabilization window (300 s by default) gives, counted from when the autoscaler reads
   * the lower metric: a tenant stays active for its active window after its last request
   * (5 min on the realistic profile), so counted from the end of the load it cannot hold
   * there. The bound is held from the first sync that read the fallen metric to the HPA's
   * scale-down decision; end of load → one ready pod is reported beside it.
   */
  test('T2.3 when all but one tenant go idle, the database scales N → 1 @nightly @pr', async ({ cluster, tenants, deadlines, plan }) => {
    test.skip(!traffic, 'T2.2 did not leave the load running');
    const before = await cluster.getReplicas(DB_SMALL);
    const loadEnded = Date.now();
    await test.step('assess: all but one tenant stop; the pool comes down to one ready pod', async () => {
      traffic!.setClients([await tenants.client(tenants.ofTier('small', 1)[0]!.id)]);
      await cluster.waitForReplicasReady(DB_SMALL, 1, { timeoutMs: deadlines.scaleDownMs });
    });
    const atOne = Date.now();
    const stats = await traffic!.stop();
    traffic = undefined;

    await test.step(`assess: scale-down decision within ${plan.scaling.scaleDownSeconds} s of the autoscaler reading the fallen metric`, async () => {
      const hpa = (await cluster.getScalingEvents({ since: loadEnded })).filter((e) => e.scaledObject === DB_SMALL && e.actor === 'hpa' && e.metricReplicas !== undefined);
      const fell = hpa.find((e) => e.metricReplicas! <= 1);
      const decided = hpa.find((e) => fell && e.at >= fell.at && e.replicasBefore > 1 && e.replicasAfter <= 1);
      expect(fell, 'an HPA sync that read the metric asking for one pod').toBeTruthy();
      expect(decided, 'the HPA decision that took the pool to one pod').toBeTruthy();
      // The syncs that decided it: the window counts from the last one that asked for more than one pod.
      const lastHigh = hpa.filter((e) => e.at <= decided!.at && e.metricReplicas! > 1).at(-1);
      const around = hpa.filter((e) => e.at >= (lastHigh?.at ?? fell!.at) - 30_000 && e.at <= fell!.at + 30_000)
        .map((e) => `${((e.at - fell!.at) / 1000).toFixed(3)} s: metric ${e.metricValue} → ${e.metricReplicas} (${e.replicasBefore}→${e.replicasAfter} ${e.reason})`);
      const detail = `last sync asking for more than one pod ${lastHigh ? `${((lastHigh.at - fell!.at) / 1000).toFixed(3)} s from the fall` : 'none'}; syncs: ${around.join('; ')}`;
      measure(test.info(), 'T2.3 metric fell → scale-down decision', (decided!.at - fell!.at) / 1000, 's', { op: '<', value: plan.scaling.scaleDownSeconds, source: 'targets.yaml scaling.scaleDownSeconds (seed 003: 3 → 1 < 5 min)' }, detail);
      recordFigure(test.info(), { name: `T2.3 end of load → 1 ready pod (from ${before})`, value: (atOne - loadEnded) / 1000, unit: 's' });
      recordFigure(test.info(), { name: 'T2.3 end of load → metric fell (active window + scrape)', value: (fell!.at - loadEnded) / 1000, unit: 's' });
    });
    expect(Object.entries(stats.outcomes).filter(([s]) => s !== '200'), 'requests that failed while scaling').toEqual([]);
  });

  test('T2.4 with no tenant active, the database scales 1 → 0 @nightly @pr', async ({ cluster, deadlines, plan }) => {
    const started = Date.now();
    await eventually(`${DB_SMALL} at 0 replicas`, () => cluster.listPods({ workload: DB_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    const seconds = (Date.now() - started) / 1000;
    test.info().annotations.push({ type: 'measured', description: `1 → 0 in ${seconds.toFixed(1)} s after the last request (target < ${plan.scaling.scaleToZeroSeconds} s)` });
    expect(seconds).toBeLessThan(plan.scaling.scaleToZeroSeconds);
    expect(await cluster.getReplicas(DB_SMALL)).toBe(0);
  });
});
