import { http } from '../../lib/http.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { quantile } from '../lib/stats.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, SCALED_OBJECTS } from '../../lib/names.ts';

/**
 * Seed 000's read rows: a read of a cached tenant < 10 ms and of a tenant not cached
 * < 200 ms, through the load balancer (the path every client takes), with the same reads
 * sent to the pod directly beside them so the balancer's share is visible. The cold read
 * is held at p99, the cached read at p50 (see there for why).
 * Requests go one at a time per lane, at low concurrency: this is latency, not load (T5).
 */
test.describe('seed 000 read latency', () => {
  test('seed 000: cold reads p99 and cached reads p50 through the load balancer, beside the pod directly @nightly', async ({ tenants, pools, plan, testId }) => {
    const samples = plan.seed000.readSamples;
    let podUrl = '';
    await test.step('setup: one pod, nothing else scaled up', async () => {
      // Latency of a quiet database, as the seed's rows mean it: the pods an earlier test
      // left scaling down (draining, replaying) would be measured too on a small machine.
      for (const other of SCALED_OBJECTS.filter((so) => so !== DB_SMALL)) await pools.hold(other, 0);
      const [pod] = await pools.hold(DB_SMALL, 1);
      podUrl = `http://${pod!.address}`;
    });

    await test.step(`assess: ${samples} cold reads (fresh tenants, each read once) p99 < ${plan.seed000.coldReadP99Ms} ms`, async () => {
      const ids = Array.from({ length: samples }, (_, i) => `cold-${testId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(-12)}-${i}`);
      const clients = await Promise.all(ids.map((id) => tenants.client(id)));
      const ms = await mapConcurrent(clients, 4, async (c) => {
        const t0 = performance.now();
        const res = await c.request('GET', '/api/v1/resources?limit=1');
        expect(res.status, res.text).toBe(200);
        return performance.now() - t0;
      });
      recordFigure(test.info(), { name: 'seed 000 cold read p50 through the load balancer', value: quantile(ms, 0.5), unit: 'ms' });
      measure(test.info(), 'seed 000 cold read p99 through the load balancer', quantile(ms, 0.99), 'ms', { op: '<', value: plan.seed000.coldReadP99Ms, source: 'targets.yaml seed000.coldReadP99Ms' });
    });

    await test.step(`assess: ${samples} cached reads p50 < ${plan.seed000.cachedReadMs} ms through the load balancer; p99 beside the pod directly and a no-op request`, async () => {
      const tenant = tenants.ofTier('small', 1)[0]!.id;
      const viaLb = await tenants.client(tenant);
      const direct = await tenants.client(tenant, podUrl);
      expect((await viaLb.request('GET', '/api/v1/resources?limit=1')).status).toBe(200);
      const lb: number[] = [];
      const pod: number[] = [];
      const floor: number[] = [];
      const timed = async (into: number[], send: () => Promise<{ status: number }>) => {
        const t0 = performance.now();
        const res = await send();
        into.push(performance.now() - t0);
        expect(res.status).toBe(200);
      };
      // Interleaved, so the three see the same moments of a busy machine.
      for (let i = 0; i < samples; i += 1) {
        await timed(lb, () => viaLb.request('GET', '/api/v1/resources?limit=1'));
        await timed(pod, () => direct.request('GET', '/api/v1/resources?limit=1'));
        await timed(floor, () => http(`${podUrl}/health`));
      }
      const [lbP99, podP99] = [quantile(lb, 0.99), quantile(pod, 0.99)];
      recordFigure(test.info(), { name: 'seed 000 cached read p99 through the load balancer', value: lbP99, unit: 'ms' });
      recordFigure(test.info(), { name: 'seed 000 cached read p99 directly on the pod', value: podP99, unit: 'ms' });
      recordFigure(test.info(), { name: 'seed 000 no-op request (/health) p99 directly on the pod', value: quantile(floor, 0.99), unit: 'ms' });
      recordFigure(test.info(), { name: 'seed 000 cached read p99 ratio, load balancer / direct', value: lbP99 / podP99, unit: '×' });
      // Seed 000 says "< 10 ms" for a cached read and names no percentile: held at the median.
      // Not at p99: on a 2-core machine shared by every pod, NATS, HAProxy and Prometheus, a
      // request that does nothing (/health) has a p99 of 6–13 ms, and the read adds its read
      // index (a JetStream round trip) on top, so a 10 ms p99 would measure the machine; the
      // p99 figures are reported beside that floor instead. On a cluster the floor is the
      // network's, and `npm run bench` prints the p99 line against the same 10 ms.
      measure(test.info(), 'seed 000 cached read p50 through the load balancer', quantile(lb, 0.5), 'ms', { op: '<', value: plan.seed000.cachedReadMs, source: 'targets.yaml seed000.cachedReadMs' });
    });
  });
});
