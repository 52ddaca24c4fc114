import { loadScenarios } from '../../fixtures/load-scenarios.ts';
import { startTraffic } from '../lib/traffic.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { placement } from '../lib/routing.ts';

test.describe('T2.5 multi-tenant scaling', () => {
  test('T2.5 ten active tenants get five pods, none of them disturbed by the others @nightly', async ({ cluster, tenants, deadlines }) => {
    const clients = await Promise.all(tenants.ofTier('small', 10).map((t) => tenants.client(t.id)));
    const traffic = startTraffic(clients, loadScenarios().steady.ratePerTenant);
    try {
      await test.step('assess: 10 tenants at threshold 2 per pod → 5 ready pods', async () => {
        await cluster.waitForReplicasReady(DB_SMALL, 5, { timeoutMs: deadlines.scaleUpMs * 2 });
      });
      // Requests sent after the pool is whole: background requests sent before the fifth pod
      // joined the ring can still be answered by the pod they were sent to.
      await test.step('assess: once scaled, every tenant sticks to one pod (20 requests each)', async () => {
        for (const [tenant, pods] of await placement(clients, 20)) expect(pods.size, `${tenant} on ${JSON.stringify([...pods])}`).toBe(1);
      });
    } finally {
      const stats = await traffic.stop();
      expect(stats.failures(), 'failed requests of any tenant while the pool grew').toEqual({});
    }
  });
});
