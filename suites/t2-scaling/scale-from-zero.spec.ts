import { measure, planBound, recordSeries } from '../lib/measure.ts';
import { eventually } from '../../lib/poll.ts';
import { scalingTimeline } from '../lib/timeline.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

test.describe('T2.1 scale from zero', () => {
  test('T2.1 the first request at zero pods is answered, within the TTFR bound @pr', async ({ cluster, tenants, deadlines }) => {
    const since = Date.now();
    const cold = tenants.ofTier('small').at(-1)!.id;
    await test.step('setup: autoscaling owns the pool, and it is at zero', async () => {
      await eventually(`${DB_SMALL} at 0 pods`, () => cluster.listPods({ workload: DB_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    });
    try {
      await test.step('assess: one request, held until a pod is ready, then answered', async () => {
        const client = await tenants.client(cold);
        const started = performance.now();
        const res = await client.request('GET', '/api/v1/resources?limit=1');
        const ttfr = (performance.now() - started) / 1000;
        expect(res.status, res.text).toBe(200);
        expect(res.servedBy).toMatch(/^percolate-db-small-\d+$/);
        measure(test.info(), 'time to first response from zero pods', ttfr, 's', planBound('<', 'scaling.ttfrSeconds'));
        expect(await cluster.getReplicas(DB_SMALL)).toBeGreaterThanOrEqual(1);
      });
    } finally {
      await recordSeries(test.info(), await scalingTimeline(cluster, DB_SMALL, since));
    }
  });
});
