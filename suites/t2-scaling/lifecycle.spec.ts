import type { Traffic } from '../lib/traffic.ts';
import { startTraffic } from '../lib/traffic.ts';
import { eventually } from '../lib/polling.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

// T2.2 → T2.4 follow one load as the plan does: raise it, lower it, stop it.
test.describe.serial('T2.2–T2.4 database pods follow the active tenants', () => {
  let traffic: Traffic | undefined;
  test.afterAll(async () => { await traffic?.stop(); });

  test('T2.2 six active tenants scale the database 1 → 3 @pr', async ({ cluster, tenants, deadlines, plan }) => {
    const clients = await Promise.all(tenants.ofTier('small', 6).map((t) => tenants.client(t.id)));
    await test.step('setup: autoscaling owns the pool; at most one pod to start from', async () => {
      await eventually(`${DB_SMALL} at ≤ 1 replica`, () => cluster.getReplicas(DB_SMALL), (n) => n <= 1, { timeoutMs: deadlines.scaleDownMs });
    });
    const started = Date.now();
    await test.step('assess: sustained load from 6 tenants (threshold 2 per pod) reaches 3 ready pods', async () => {
      traffic = startTraffic(clients, 2);
      await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.scaleUpMs });
    });
    const seconds = (Date.now() - started) / 1000;
    test.info().annotations.push({ type: 'measured', description: `scale up to 3 in ${seconds.toFixed(1)} s (target < ${plan.scaling.scaleUpSeconds} s)` });
    expect(seconds).toBeLessThan(plan.scaling.scaleUpSeconds);
  });

  test('T2.3 when all but one tenant go idle, the database scales N → 1 @pr', async ({ cluster, tenants, deadlines, plan }) => {
    test.skip(!traffic, 'T2.2 did not leave the load running');
    traffic!.setClients([await tenants.client(tenants.ofTier('small', 1)[0]!.id)]);
    const started = Date.now();
    await cluster.waitForReplicasReady(DB_SMALL, 1, { timeoutMs: deadlines.scaleDownMs });
    const seconds = (Date.now() - started) / 1000;
    test.info().annotations.push({ type: 'measured', description: `3 → 1 in ${seconds.toFixed(1)} s (target < ${plan.scaling.scaleDownSeconds} s)` });
    expect(seconds).toBeLessThan(plan.scaling.scaleDownSeconds);
    const stats = await traffic!.stop();
    traffic = undefined;
    expect(Object.entries(stats.byStatus).filter(([s]) => s !== '200'), 'requests that failed while scaling').toEqual([]);
  });

  test('T2.4 with no tenant active, the database scales 1 → 0 @pr', async ({ cluster, deadlines, plan }) => {
    const started = Date.now();
    await eventually(`${DB_SMALL} at 0 replicas`, () => cluster.listPods({ workload: DB_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    const seconds = (Date.now() - started) / 1000;
    test.info().annotations.push({ type: 'measured', description: `1 → 0 in ${seconds.toFixed(1)} s after the last request (target < ${plan.scaling.scaleToZeroSeconds} s)` });
    expect(seconds).toBeLessThan(plan.scaling.scaleToZeroSeconds);
    expect(await cluster.getReplicas(DB_SMALL)).toBe(0);
  });
});
