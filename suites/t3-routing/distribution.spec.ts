import { mapConcurrent } from '../lib/concurrency.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { homePods, placement, skew } from '../lib/routing.ts';
import { idealSkewBound } from '../lib/stats.ts';
import { measure, planBound } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

/**
 * The router's decision depends on the tenant header alone, so the ring's evenness is
 * measured with many tenant ids on the /health route, each with a token of its own (the edge
 * verifies every request; /health opens no tenant and counts none active). Fifty tenants — the seed's sample — cannot show a 20 % bound: even an
 * ideal hash exceeds it about half the time with 50 tenants on 3 pods. They are measured
 * and reported, and held to what an ideal hash meets at 99 %.
 */
test.describe('T3.2 consistent hashing', () => {
  test('T3.2 tenants spread evenly over the pods, and about 1/N of them move when a pod is added @nightly @pr', async ({ cluster, tenants, pools, plan, endpoints }) => {
    const fixtureClients = await Promise.all(tenants.ofTier('small', 50).map((t) => tenants.client(t.id)));
    const probeIds = Array.from({ length: plan.routing.skewProbeTenants }, (_, i) => `probe-${String(i + 1).padStart(4, '0')}`);
    const route = async (ids: string[]) => new Map(await mapConcurrent(ids, 32, async (id) => {
      const res = await http(`${endpoints.loadBalancerUrl}/health`, { headers: tenantHeaders({ tenant: id, token: await cluster.mintToken(id) }) });
      if (res.status !== 200 || !res.servedBy) throw new Error(`${id}: ${res.status} ${res.text.slice(0, 200)}`);
      return [id, res.servedBy] as const;
    }));
    let pods: string[] = [];
    let before = new Map<string, string>();

    await test.step('setup: three pods', async () => { pods = (await pools.hold(DB_SMALL, 3)).map((p) => p.name); });

    await test.step('assess: the seed’s sample — 50 tenants × 20 requests, each tenant on one pod', async () => {
      const homes = homePods(await placement(fixtureClients, 20));
      const measured = skew(homes, pods);
      const bound = idealSkewBound(homes.size, pods.length);
      measure(test.info(), 'skew of the 50 fixture tenants', measured, 'ratio', { op: '<', value: bound, source: `what an ideal hash meets at 99 % with 50 tenants (seed: < ${plan.routing.maxSkew * 100} %)` });
    });

    await test.step(`assess: the ring’s evenness over ${probeIds.length} tenant ids (target < ${plan.routing.maxSkew * 100} %)`, async () => {
      before = await route(probeIds);
      const measured = skew(before, pods);
      measure(test.info(), 'skew of the hash ring over the probe tenant ids', measured, 'ratio', planBound('<', 'routing.maxSkew'), `${probeIds.length} tenant ids`);
    });

    await test.step('assess: a 4th pod takes about 1/4 of the tenants, all from the others, none moved between old pods', async () => {
      const added = (await pools.hold(DB_SMALL, 4)).map((p) => p.name).find((name) => !pods.includes(name));
      const after = await route(probeIds);
      const moved = probeIds.filter((id) => before.get(id) !== after.get(id));
      expect(moved.filter((id) => after.get(id) !== added), 'tenants moved between old pods').toEqual([]);
      const share = moved.length / probeIds.length;
      const ideal = 1 / 4;
      const detail = `moved ${moved.length}/${probeIds.length} (ideal ${ideal * 100} %)`;
      const source = `1/4 × (1 ± targets.yaml routing.maxMovedShareSlack)`;
      measure(test.info(), 'share of tenants moved by a 4th pod (floor)', share, 'ratio', { op: '>=', value: ideal * (1 - plan.routing.maxMovedShareSlack), source }, detail);
      measure(test.info(), 'share of tenants moved by a 4th pod (ceiling)', share, 'ratio', { op: '<=', value: ideal * (1 + plan.routing.maxMovedShareSlack), source }, detail);
    });
  });
});
