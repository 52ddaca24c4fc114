import { placement } from '../lib/routing.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

test.describe('T3.1 tenant affinity', () => {
  test('T3.1 same tenant, same pod, until a scale event @nightly @pr', async ({ tenants, pools, plan }) => {
    const tenantIds = tenants.ofTier('small', 5).map((t) => t.id);
    const clients = await Promise.all(tenantIds.map((t) => tenants.client(t)));

    await test.step('setup: three pods', async () => { await pools.hold(DB_SMALL, 3); });

    await test.step('assess: 100 requests per tenant, each tenant on exactly one pod', async () => {
      for (const [tenant, pods] of await placement(clients, 100)) {
        const top = Math.max(...pods.values());
        expect(top / 100, `${tenant} spread over ${JSON.stringify([...pods])} (target ${plan.routing.affinity})`).toBeGreaterThanOrEqual(plan.routing.affinity);
      }
    });

    await test.step('assess: after a scale event (3 → 4), affinity holds again', async () => {
      await pools.hold(DB_SMALL, 4);
      for (const [tenant, pods] of await placement(clients, 100)) {
        expect(pods.size, `${tenant} after the scale event: ${JSON.stringify([...pods])}`).toBe(1);
      }
    });
  });
});
