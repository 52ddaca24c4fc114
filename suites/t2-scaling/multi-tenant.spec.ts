import { loadScenarios } from '../../fixtures/load-scenarios.ts';
import { startTraffic } from '../lib/traffic.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';

test.describe('T2.5 multi-tenant scaling', () => {
  test('T2.5 ten active tenants get five pods, none of them disturbed by the others @nightly', async ({ cluster, tenants, deadlines }) => {
    const clients = await Promise.all(tenants.ofTier('small', 10).map((t) => tenants.client(t.id)));
    const traffic = startTraffic(clients, loadScenarios().steady.ratePerTenant);
    try {
      await test.step('assess: 10 tenants at threshold 2 per pod → 5 ready pods', async () => {
        await cluster.waitForReplicasReady(DB_SMALL, 5, { timeoutMs: deadlines.scaleUpMs * 2 });
      });
      await test.step('assess: once scaled, every tenant sticks to one pod', async () => {
        traffic.podsByTenant.clear();
        await eventually('every tenant answered again after the scale-up', async () => traffic.podsByTenant.size, (n) => n === clients.length, { timeoutMs: deadlines.metricSeenMs });
        for (const [tenant, pods] of traffic.podsByTenant) expect(pods.size, `${tenant} on ${[...pods].join(', ')}`).toBe(1);
      });
    } finally {
      const stats = await traffic.stop();
      expect(stats.failures(), 'failed requests of any tenant while the pool grew').toEqual({});
    }
  });
});
