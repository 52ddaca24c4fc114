import { loadScenarios } from '../../fixtures/load-scenarios.ts';
import { measure, planBound, recordSeries } from '../lib/measure.ts';
import { observe } from '../lib/polling.ts';
import { scalingTimeline } from '../lib/timeline.ts';
import { failures, startOscillatingTraffic } from '../lib/traffic.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T2.6 scale flapping prevention', () => {
  test('T2.6 oscillating load causes fewer than 4 scale events @nightly', async ({ cluster, tenants, profile }) => {
    const { oscillating } = loadScenarios();
    const all = await Promise.all(tenants.ofTier('small', oscillating.highTenants).map((t) => tenants.client(t.id)));
    const windowMs = profile.flappingWindowSeconds * 1000;
    const since = Date.now();
    const traffic = startOscillatingTraffic(all, all.slice(0, oscillating.lowTenants), profile.oscillationPeriodSeconds * 1000, oscillating.ratePerTenant);
    let samples: Array<{ at: number; value: number }> = [];
    try {
      await test.step(`assess: ${profile.flappingWindowSeconds} s of load alternating every ${profile.oscillationPeriodSeconds / 2} s`, async () => {
        samples = await observe(() => cluster.getReplicas(DB_SMALL), { forMs: windowMs, intervalMs: profile.pollingIntervalSeconds * 1000 });
      });
    } finally {
      expect(failures(await traffic.stop())).toEqual({});
    }
    const events = (await cluster.getScalingEvents({ since })).filter((e) => e.scaledObject === DB_SMALL && e.replicasAfter !== e.replicasBefore);
    await recordSeries(test.info(), await scalingTimeline(cluster, DB_SMALL, since));
    measure(test.info(), 'scale events during the oscillating load', events.length, 'events', planBound('<=', 'scaling.maxScaleEventsPer20Min'),
      `${profile.flappingWindowSeconds} s: ${events.map((e) => `${e.replicasBefore}→${e.replicasAfter}`).join(', ')}; replicas seen ${[...new Set(samples.map((s) => s.value))].join(', ')}`);
  });
});
