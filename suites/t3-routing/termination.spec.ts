import { measure, planBound, recordSeries } from '../lib/measure.ts';
import { type Outcome, latencySeries, successRatioSeries, timed } from '../lib/timeline.ts';
import type { SeriesEvent } from '../lib/measure.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T3.4 health-aware routing', () => {
  test('T3.4 zero 5xx while a pod terminates under concurrent load @pr', async ({ cluster, tenants, pools, deadlines }) => {
    const clients = await Promise.all(tenants.ofTier('small', 20).map((t) => tenants.client(t.id)));
    let victim = '';
    const statuses = new Map<number | string, number>();
    let running = true;
    const outcomes: Outcome[] = [];
    const window: SeriesEvent[] = [];

    await test.step('setup: three pods, every tenant open', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      victim = pods[0]!.name;
      for (const c of clients) expect((await c.request('GET', '/api/v1/resources?limit=1')).status).toBe(200);
    });

    await test.step('assess: 50 concurrent clients while the pod is deleted and replaced', async () => {
      const load = Promise.all(Array.from({ length: 50 }, async (_, lane) => {
        for (let i = 0; running; i += 1) {
          const c = clients[(lane + i) % clients.length]!;
          const status = await timed(outcomes, () => c.request('GET', '/api/v1/resources?limit=1'), (r) => r.status < 500).then((r) => r.status, (err: Error) => `error: ${err.message}`);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }));
      try {
        const before = (await cluster.listPods({ workload: DB_SMALL })).find((p) => p.name === victim)!.createdAt;
        window.push({ t: Date.now(), kind: 'chaos-start', label: `${victim} deleted` });
        await cluster.deletePod(victim);
        await expect.poll(async () => {
          const pod = (await cluster.listPods({ workload: DB_SMALL })).find((p) => p.name === victim);
          return Boolean(pod && pod.createdAt > before && pod.ready && !pod.terminating);
        }, { timeout: deadlines.podReadyMs + 30_000, message: `${victim} replaced and ready within ${(deadlines.podReadyMs + 30_000) / 1000} s` }).toBe(true);
        await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.podReadyMs });
        window.push({ t: Date.now(), kind: 'chaos-stop', label: `${victim} replaced and ready` });
      } finally {
        // Stopped and plotted on failure too: the plot shows where availability dropped.
        running = false;
        await load;
        await recordSeries(test.info(), successRatioSeries('requests answered per second while a pod terminates', outcomes, window));
        await recordSeries(test.info(), latencySeries('request latency while a pod terminates', outcomes));
      }
    });

    await test.step('assess: no request failed', async () => {
      const failures = [...statuses].filter(([status]) => typeof status !== 'number' || status >= 500);
      const total = [...statuses.values()].reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(500);
      measure(test.info(), '5xx or connection errors while a pod terminates', failures.reduce((n, [, count]) => n + count, 0), 'requests', planBound('<=', 'routing.errorsDuringTermination'),
        `${total} requests, outcomes ${JSON.stringify([...statuses])}`);
    });
  });
});
