import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { pollBound } from '../../lib/poll.ts';

test.describe('T3.4 health-aware routing', () => {
  test('T3.4 zero 5xx while a pod terminates under concurrent load @nightly @pr', async ({ cluster, tenants, pools, plan, deadlines }) => {
    const clients = await Promise.all(tenants.ofTier('small', 20).map((t) => tenants.client(t.id)));
    let victim = '';
    const statuses = new Map<number | string, number>();
    let running = true;

    await test.step('setup: three pods, every tenant open', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      victim = pods[0]!.name;
      for (const c of clients) expect((await c.request('GET', '/api/v1/resources?limit=1')).status).toBe(200);
    });

    await test.step('assess: 50 concurrent clients while the pod is deleted and replaced', async () => {
      const load = Promise.all(Array.from({ length: 50 }, async (_, lane) => {
        for (let i = 0; running; i += 1) {
          const c = clients[(lane + i) % clients.length]!;
          const status = await c.request('GET', '/api/v1/resources?limit=1').then((r) => r.status, (err: Error) => `error: ${err.message}`);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }));
      const before = (await cluster.listPods({ workload: DB_SMALL })).find((p) => p.name === victim)!.createdAt;
      await cluster.deletePod(victim);
      await expect.poll(async () => {
        const pod = (await cluster.listPods({ workload: DB_SMALL })).find((p) => p.name === victim);
        return Boolean(pod && pod.createdAt > before && pod.ready && !pod.terminating);
      }, pollBound(`${victim} replaced and ready`, deadlines.recoveryMs)).toBe(true);
      await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.podReadyMs });
      running = false;
      await load;
    });

    await test.step('assess: no request failed', async () => {
      const failures = [...statuses].filter(([status]) => typeof status !== 'number' || status >= 500);
      const total = [...statuses.values()].reduce((a, b) => a + b, 0);
      test.info().annotations.push({ type: 'measured', description: `${total} requests, outcomes ${JSON.stringify([...statuses])}` });
      expect(total).toBeGreaterThan(500);
      expect(failures.reduce((n, [, count]) => n + count, 0), `5xx or connection errors: ${JSON.stringify(failures)}`).toBeLessThanOrEqual(plan.routing.errorsDuringTermination);
    });
  });
});
