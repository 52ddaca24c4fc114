import { mapConcurrent } from '../lib/concurrency.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

/**
 * Seed 003 sends 100 concurrent requests for different tenants to one pod. A db-node caps
 * each tenant's requests in flight (429 past TENANT_MAX_CONCURRENCY, 32), so the 100 are
 * spread over four tenants: every one of them is served, none is refused as noisy.
 */
const TENANTS = 4;

test.describe('T1.2 application-layer isolation', () => {
  test('T1.2 one pod serving four tenants at 100 concurrent requests keeps their data apart @pr', async ({ tenants, pools, testId, plan }) => {
    const ids = tenants.ofTier('small', TENANTS).map((t) => t.id);
    const concurrency = plan.isolation.concurrentRequests;
    const writesPerTenant = Math.ceil((concurrency * 2) / TENANTS);
    let podAddress = '';

    await test.step('setup: one pod holds every tenant', async () => {
      const [pod] = await pools.hold(DB_SMALL, 1);
      podAddress = `http://${pod!.address}`;
    });

    await test.step(`assess: ${writesPerTenant * TENANTS} interleaved writes and reads of ${TENANTS} tenants on that pod, ${concurrency} in flight at once`, async () => {
      const clients = Object.fromEntries(await Promise.all(ids.map(async (t) => [t, await tenants.client(t, podAddress)] as const)));
      const ops = Array.from({ length: writesPerTenant * TENANTS }, (_, i) => ({ tenant: ids[i % TENANTS]!, i: Math.floor(i / TENANTS) }));
      let inFlight = 0;
      let peak = 0;
      const results = await mapConcurrent(ops, concurrency, async ({ tenant, i }) => {
        const c = clients[tenant]!;
        peak = Math.max(peak, ++inFlight);
        try {
          const write = await c.request('POST', '/api/v1/resources', { id: `${testId}-${i}`, title: `${tenant} item ${i}`, content: `owned by ${tenant}`, tags: [testId] });
          const read = await c.request('GET', `/api/v1/resources?query=${encodeURIComponent(testId)}&limit=100`);
          return { tenant, write, read };
        } finally {
          inFlight -= 1;
        }
      });
      measure(test.info(), 'T1.2 requests in flight at once on one pod', peak, 'requests', { op: '>=', value: concurrency, source: 'targets.yaml isolation.concurrentRequests (seed 003)' });
      for (const { tenant, write, read } of results) {
        expect(write.status, write.text).toBe(201);
        expect(write.body.tenant).toBe(tenant);
        expect(read.status, read.text).toBe(200);
        // The search matches any of the run id's words, so the tenant's own resources of
        // earlier tests (a cluster kept up between runs) come back too: those are no leak.
        const leaked = (read.body.items as Array<{ tenant: string; content: string }>)
          .filter((r) => r.tenant !== tenant || (r.content.startsWith('owned by ') && r.content !== `owned by ${tenant}`));
        expect(leaked, `${tenant} saw another tenant's resources`).toEqual([]);
      }
      expect(new Set(results.flatMap((r) => [r.write.servedBy, r.read.servedBy])).size, 'all on one pod').toBe(1);
    });

    await test.step('assess: each tenant holds exactly its own writes, same ids notwithstanding', async () => {
      for (const tenant of ids) {
        const c = await tenants.client(tenant, podAddress);
        const own = await c.request('GET', `/api/v1/resources?query=${encodeURIComponent(testId)}&limit=100`);
        const items = own.body.items as Array<{ tenant: string; tags: string[] }>;
        expect(items.filter((r) => r.tags.includes(testId))).toHaveLength(Math.min(writesPerTenant, 100));
        expect(new Set(items.map((r) => r.tenant))).toEqual(new Set([tenant]));
        expect((await c.request('GET', `/api/v1/resources/${testId}-7`)).body.title).toBe(`${tenant} item 7`);
      }
    });
  });
});
