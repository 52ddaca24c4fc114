import { eventually } from '../lib/polling.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T2.1 scale from zero', () => {
  test('T2.1 the first request at zero pods is answered, within the TTFR bound @pr', async ({ cluster, tenants, deadlines, plan }) => {
    const cold = tenants.ofTier('small').at(-1)!.id;
    await test.step('setup: autoscaling owns the pool, and it is at zero', async () => {
      await eventually(`${DB_SMALL} at 0 pods`, () => cluster.listPods({ workload: DB_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    });
    await test.step('assess: one request, held until a pod is ready, then answered', async () => {
      const client = await tenants.client(cold);
      const started = performance.now();
      const res = await client.request('GET', '/api/v1/resources?limit=1');
      const ttfr = (performance.now() - started) / 1000;
      test.info().annotations.push({ type: 'measured', description: `TTFR ${ttfr.toFixed(2)} s (target < ${plan.scaling.ttfrSeconds} s)` });
      expect(res.status, res.text).toBe(200);
      expect(res.servedBy).toMatch(/^percolate-db-small-\d+$/);
      expect(ttfr).toBeLessThan(plan.scaling.ttfrSeconds);
      expect(await cluster.getReplicas(DB_SMALL)).toBeGreaterThanOrEqual(1);
    });
  });
});
