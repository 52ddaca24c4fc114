import type { ScalingEvent } from '../../cluster/target.ts';
import { loadScenarios } from '../../fixtures/load-scenarios.ts';
import { measure, recordSeries } from '../lib/measure.ts';
import { observe } from '../../lib/poll.ts';
import { perPodThreshold, scaledObjectSpec } from '../lib/scaled-objects.ts';
import { startTraffic, startOscillatingTraffic } from '../lib/traffic.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

/**
 * T2.6 holds only if the autoscaler actually sees the load oscillate. A tenant counts as
 * active for the whole active window after its last request, so load that flips faster than
 * that window never moves the metric. Here the low phase outlasts the window by half the
 * HPA's scale-down stabilization window: the metric drops for about that long, every cycle.
 * An HPA that honours the window holds the pods through each dip; one that ignores it
 * scales down and back up every cycle. The spec checks that the dips were seen, that no
 * scale-down came while a higher recommendation was still inside the window, and the seed's
 * count of scale events.
 */
test.describe('T2.6 scale flapping prevention', () => {
  test('T2.6 oscillating load the autoscaler sees causes fewer than 4 scale events @nightly @pr', async ({ cluster, tenants, profile, timeProfile, deadlines, plan }) => {
    const { oscillating } = loadScenarios();
    const high = await Promise.all(tenants.ofTier('small', oscillating.highTenants).map((t) => tenants.client(t.id)));
    const low = high.slice(0, oscillating.lowTenants);
    const so = await scaledObjectSpec(profile, DB_SMALL);
    const { highMs, lowMs, seenLowMs } = deadlines.oscillation;
    const windowMs = timeProfile.flappingWindowSeconds * 1000;
    const stabilizationMs = timeProfile.scaleDownStabilizationSeconds * 1000;
    // The pod counts the metric asks for in each phase, from the ScaledObject's threshold.
    const threshold = perPodThreshold(so);
    const highPods = Math.ceil(oscillating.highTenants / threshold);
    const lowPods = Math.ceil(oscillating.lowTenants / threshold);
    expect(highPods, 'the high phase must ask for more pods than the low one').toBeGreaterThan(lowPods);

    await test.step(`setup: ${high.length} active tenants hold the database at ${highPods} ready pods`, async () => {
      // From zero, held requests can time out on a slow machine: that is T2.1's subject, not this one's.
      const warm = startTraffic(high, oscillating.ratePerTenant);
      try {
        await cluster.waitForReplicasReady(DB_SMALL, highPods, { timeoutMs: Math.max(deadlines.scaleUpMs, plan.scaling.scaleUpSeconds * 1000) + deadlines.scaleDownMs });
      } finally {
        const failed = (await warm.stop()).failures();
        if (Object.keys(failed).length) test.info().annotations.push({ type: 'setup', description: `failed requests while warming up from zero: ${JSON.stringify(failed)}` });
      }
    });

    const since = Date.now();
    const flips: Array<{ phase: 'high' | 'low'; at: number }> = [];
    const traffic = startOscillatingTraffic(high, low, { highMs, lowMs }, oscillating.ratePerTenant, (phase, at) => flips.push({ phase, at }));
    let samples: Array<{ at: number; value: number }> = [];
    let failed: Record<string, number> = {};
    try {
      await test.step(`assess: ${timeProfile.flappingWindowSeconds} s of ${highMs / 1000} s high (${high.length} tenants) / ${lowMs / 1000} s low (${low.length}): the metric dips for ~${seenLowMs / 1000} s each cycle`, async () => {
        samples = await observe(() => cluster.getReplicas(DB_SMALL), { forMs: windowMs, intervalMs: timeProfile.pollingIntervalSeconds * 1000 });
      });
    } finally {
      failed = (await traffic.stop()).failures();
    }

    const events = (await cluster.getScalingEvents({ since })).filter((e) => e.scaledObject === DB_SMALL && e.at <= since + windowMs);
    const hpa = events.filter((e) => e.actor === 'hpa' && e.metricReplicas !== undefined);
    await recordSeries(test.info(), {
      name: 'T2.6 replicas and recommendation under oscillating load', unit: 'pods',
      points: [
        ...samples.map((s) => ({ t: s.at, value: s.value, series: 'replicas' })),
        ...hpa.map((e) => ({ t: e.at, value: e.metricReplicas!, series: 'recommendation' })),
      ],
      events: flips.map((f) => ({ t: f.at, kind: 'load', label: `${f.phase} phase` })),
    });

    await test.step('assess: the autoscaler saw the metric fall in the low phases (or this test proves nothing)', async () => {
      let dips = 0;
      let wasHigh = false;
      for (const e of hpa) {
        if (e.metricReplicas! >= highPods) wasHigh = true;
        else if (wasHigh && e.metricReplicas! <= lowPods) { dips += 1; wasHigh = false; }
      }
      measure(test.info(), 'T2.6 dips of the metric seen by the HPA', dips, 'dips', { op: '>=', value: plan.scaling.flappingMinDipsSeen, source: 'targets.yaml scaling.flappingMinDipsSeen' });
    });

    await test.step(`assess: replicas never drop while a higher recommendation is inside the ${stabilizationMs / 1000} s window`, async () => {
      const early = (down: ScalingEvent) => hpa.filter((e) => e.at > down.at - stabilizationMs && e.at < down.at && e.metricReplicas! > down.replicasAfter);
      const violations = events
        .filter((e) => e.actor === 'hpa' && e.replicasAfter < e.replicasBefore)
        .flatMap((down) => early(down).slice(0, 1).map((e) => `${down.replicasBefore}→${down.replicasAfter} at +${((down.at - since) / 1000).toFixed(1)} s, ${((down.at - e.at) / 1000).toFixed(1)} s after a recommendation of ${e.metricReplicas}`));
      expect.soft(violations, 'scale-downs inside the stabilization window').toEqual([]);
    });

    await test.step(`assess: scale events (seed 003: < 4 in 20 min of oscillating load)`, async () => {
      const scales = events.filter((e) => e.replicasAfter !== e.replicasBefore && e.reason !== 'paused' && e.reason !== 'resumed');
      test.info().annotations.push({ type: 'measured', description: `${scales.length} scale events in ${timeProfile.flappingWindowSeconds} s: ${scales.map((e) => `${e.replicasBefore}→${e.replicasAfter} (${e.actor} ${e.reason})`).join(', ') || 'none'}; replicas seen ${[...new Set(samples.map((s) => s.value))].join(', ')}` });
      measure(test.info(), 'T2.6 scale events under oscillating load', scales.length, 'events', { op: '<=', value: plan.scaling.maxScaleEventsPer20Min, source: 'targets.yaml scaling.maxScaleEventsPer20Min' });
    });
    expect(failed, 'failed requests during the oscillating load').toEqual({});
  });
});
