import { mapConcurrent } from '../lib/concurrency.ts';
import { measure, planBound, recordSeries } from '../lib/measure.ts';
import { type Outcome, latencySeries, timed } from '../lib/timeline.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

test.describe('T1.5 routing isolation', () => {
  test('T1.5 every one of 1,000 concurrent requests for 3 tenants is served in its own tenant context @pr', async ({ tenants, pools, testId }) => {
    const tenantIds = tenants.ofTier('small', 3).map((t) => t.id);
    const requests = 1000;

    await test.step('setup: three pods, a marked resource per tenant', async () => {
      await pools.hold(DB_SMALL, 3);
      for (const tenant of tenantIds) {
        const c = await tenants.client(tenant);
        expect((await c.request('POST', '/api/v1/resources', { id: `${testId}-ctx`, title: `context of ${tenant}`, content: `${testId} ${tenant}` })).status).toBe(201);
      }
    });

    await test.step(`assess: ${requests} concurrent requests, tenants interleaved`, async () => {
      const clients = await Promise.all(tenantIds.map((t) => tenants.client(t)));
      const timings: Outcome[] = [];
      const outcomes = await mapConcurrent(Array.from({ length: requests }, (_, i) => clients[i % clients.length]!), 50, async (c) => {
        const res = await timed(timings, () => c.request('GET', `/api/v1/resources/${testId}-ctx`), (r) => r.status === 200);
        return res.status === 200 && res.body.tenant === c.tenantId && res.body.title === `context of ${c.tenantId}`;
      });
      await recordSeries(test.info(), latencySeries(`latency of ${requests} concurrent requests (50 in flight)`, timings));
      const correct = outcomes.filter(Boolean).length / outcomes.length;
      measure(test.info(), 'share of responses in the right tenant context', correct, 'ratio', planBound('>=', 'isolation.routingAccuracy'));
    });
  });
});
