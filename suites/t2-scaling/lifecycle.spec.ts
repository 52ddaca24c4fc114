import type { Traffic } from '../lib/traffic.ts';
import { startTraffic } from '../lib/traffic.ts';
import { eventually } from '../lib/polling.ts';
import { type Series, measure, planBound, recordFigure, recordSeries } from '../lib/measure.ts';
import { latencySeries, scalingTimeline, successRatioSeries } from '../lib/timeline.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

// T2.2 → T2.4 follow one load as the plan does: raise it, lower it, stop it.
test.describe.serial('T2.2–T2.4 database pods follow the active tenants', () => {
  let traffic: Traffic | undefined;
  test.afterAll(async () => { await traffic?.stop(); });

  test('T2.2 six active tenants scale the database 1 → 3 @pr', async ({ cluster, tenants, deadlines }) => {
    const clients = await Promise.all(tenants.ofTier('small', 6).map((t) => tenants.client(t.id)));
    await test.step('setup: autoscaling owns the pool; at most one pod to start from', async () => {
      await eventually(`${DB_SMALL} at ≤ 1 replica`, () => cluster.getReplicas(DB_SMALL), (n) => n <= 1, { timeoutMs: deadlines.scaleDownMs });
    });
    const started = Date.now();
    let seconds = Number.NaN;
    let timeline: Series | undefined;
    try {
      await test.step('assess: sustained load from 6 tenants (threshold 2 per pod) reaches 3 ready pods', async () => {
        traffic = startTraffic(clients, 2);
        await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.scaleUpMs });
      });
      seconds = (Date.now() - started) / 1000;
    } finally {
      // A scale-up that missed its bound is when the plot matters most.
      timeline = await scalingTimeline(cluster, DB_SMALL, started);
      await recordSeries(test.info(), timeline);
    }
    // Load start → first scale-up decision bounds the seed's "metric change → HPA update"
    // from above (the metric changes after the load starts), so it is recorded beside that
    // target, not asserted: on the realistic profile the scrape delay alone can exceed it.
    const firstUp = timeline.events?.find((e) => e.kind === 'scale-up');
    if (firstUp) recordFigure(test.info(), { name: 'load start → first scale-up decision', value: (firstUp.t - started) / 1000, unit: 's', target: planBound('<', 'performance.scalingDecisionSeconds') });
    measure(test.info(), 'scale up 1 → 3 (ready)', seconds, 's', planBound('<', 'scaling.scaleUpSeconds'));
  });

  test('T2.3 when all but one tenant go idle, the database scales N → 1 @pr', async ({ cluster, tenants, deadlines }) => {
    test.skip(!traffic, 'T2.2 did not leave the load running');
    traffic!.setClients([await tenants.client(tenants.ofTier('small', 1)[0]!.id)]);
    const started = Date.now();
    await cluster.waitForReplicasReady(DB_SMALL, 1, { timeoutMs: deadlines.scaleDownMs });
    const seconds = (Date.now() - started) / 1000;
    await recordSeries(test.info(), await scalingTimeline(cluster, DB_SMALL, started));
    measure(test.info(), 'scale down 3 → 1', seconds, 's', planBound('<', 'scaling.scaleDownSeconds'));
    const stats = await traffic!.stop();
    traffic = undefined;
    await recordSeries(test.info(), successRatioSeries('T2.2–T2.3 load: success per second while scaling up and down', stats.outcomes));
    await recordSeries(test.info(), latencySeries('T2.2–T2.3 load: request latency', stats.outcomes));
    expect(Object.entries(stats.byStatus).filter(([s]) => s !== '200'), 'requests that failed while scaling').toEqual([]);
  });

  test('T2.4 with no tenant active, the database scales 1 → 0 @pr', async ({ cluster, deadlines }) => {
    const started = Date.now();
    await eventually(`${DB_SMALL} at 0 replicas`, () => cluster.listPods({ workload: DB_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    const seconds = (Date.now() - started) / 1000;
    await recordSeries(test.info(), await scalingTimeline(cluster, DB_SMALL, started));
    measure(test.info(), 'scale to zero 1 → 0 after the last request', seconds, 's', planBound('<', 'scaling.scaleToZeroSeconds'));
    expect(await cluster.getReplicas(DB_SMALL)).toBe(0);
  });
});
