import { placement } from '../lib/routing.ts';
import { measure, planBound } from '../lib/measure.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T3.1 tenant affinity', () => {
  test('T3.1 same tenant, same pod, until a scale event @pr', async ({ tenants, pools }) => {
    const tenantIds = tenants.ofTier('small', 5).map((t) => t.id);
    const clients = await Promise.all(tenantIds.map((t) => tenants.client(t)));

    await test.step('setup: three pods', async () => { await pools.hold(DB_SMALL, 3); });

    await test.step('assess: 100 requests per tenant, each tenant on exactly one pod', async () => {
      const shares = [...await placement(clients, 100)].map(([tenant, pods]) => ({ tenant, pods, share: Math.max(...pods.values()) / 100 }));
      const worst = shares.reduce((a, b) => (b.share < a.share ? b : a));
      measure(test.info(), 'affinity: lowest share of a tenant’s requests on one pod', worst.share, 'ratio', planBound('>=', 'routing.affinity'), `${worst.tenant} spread over ${JSON.stringify([...worst.pods])}`);
    });

    await test.step('assess: after a scale event (3 → 4), affinity holds again', async () => {
      await pools.hold(DB_SMALL, 4);
      for (const [tenant, pods] of await placement(clients, 100)) {
        expect(pods.size, `${tenant} after the scale event: ${JSON.stringify([...pods])}`).toBe(1);
      }
    });
  });
});
