import { mapConcurrent } from '../lib/concurrency.ts';
import { eventually } from '../lib/polling.ts';
import { measure } from '../lib/measure.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T3.3 multi-AZ routing', () => {
  test('T3.3 a client in zone-a is served in zone-a at the configured share, and fails over when zone-a is down @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines }) => {
    const zoneA = endpoints.zonalLoadBalancerUrls['zone-a'];
    test.skip(!zoneA, `the ${cluster.kind} target has no zonal entry points`);
    const clients = await Promise.all(tenants.ofTier('small').map((t) => tenants.client(t.id, zoneA)));

    await test.step('setup: three pods, one in each zone', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      expect(new Set(pods.map((p) => p.zone))).toEqual(new Set(['zone-a', 'zone-b', 'zone-c']));
    });

    await test.step(`assess: through zone-a's entry, ${clients.length} tenants are served in zone-a at the configured share`, async () => {
      const zones = await mapConcurrent(clients, 16, async (c) => (await c.request('GET', '/api/v1/resources?limit=1')).zone);
      const local = zones.filter((z) => z === 'zone-a').length / zones.length;
      // Each tenant is one draw of the hash: allow three standard deviations of that sampling.
      const p = plan.routing.zoneLocalShare;
      const slack = 3 * Math.sqrt((p * (1 - p)) / zones.length);
      measure(test.info(), 'share served in the client’s zone', local, 'ratio', { op: '>=', value: p - slack, source: `targets.yaml routing.zoneLocalShare ${p} less 3σ of sampling over ${zones.length} tenants` });
    });

    await test.step('assess: with zone-a down, every request through its entry is answered from another zone', async () => {
      await faults.failZone('zone-a');
      const probe = async () => mapConcurrent(clients.slice(0, 20), 10, async (c) => {
        const res = await c.request('GET', '/api/v1/resources?limit=1').catch(() => undefined);
        return res?.status === 200 && res.zone !== 'zone-a';
      });
      await eventually('zone-a entry fails over to other zones', probe, (ok) => ok.every(Boolean), { timeoutMs: deadlines.metricSeenMs });
      const answered = await mapConcurrent(clients, 16, async (c) => (await c.request('GET', '/api/v1/resources?limit=1')).status === 200);
      const share = answered.filter(Boolean).length / answered.length;
      expect(share, `failover success (target ${plan.routing.failoverSuccess})`).toBeGreaterThanOrEqual(plan.routing.failoverSuccess);
    });
  });
});
