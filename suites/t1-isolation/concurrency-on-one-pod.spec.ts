import { mapConcurrent } from '../lib/concurrency.ts';
import { DB_SMALL, expect, test } from '../fixtures/index.ts';

test.describe('T1.2 application-layer isolation', () => {
  test('T1.2 one pod serving two tenants concurrently keeps their data apart @pr', async ({ tenants, pools, testId }) => {
    const [a, b] = tenants.ofTier('small', 2).map((t) => t.id) as [string, string];
    const writesPerTenant = 50;
    let podAddress = '';

    await test.step('setup: one pod holds both tenants', async () => {
      const [pod] = await pools.hold(DB_SMALL, 1);
      podAddress = `http://${pod!.address}`;
    });

    await test.step('assess: 200 interleaved writes and reads for both tenants on that pod', async () => {
      const clients = { [a]: await tenants.client(a, podAddress), [b]: await tenants.client(b, podAddress) };
      const ops = Array.from({ length: writesPerTenant * 2 }, (_, i) => ({ tenant: i % 2 === 0 ? a : b, i: Math.floor(i / 2) }));
      const results = await mapConcurrent(ops, 32, async ({ tenant, i }) => {
        const c = clients[tenant]!;
        const write = await c.request('POST', '/api/v1/resources', { id: `${testId}-${i}`, title: `${tenant} item ${i}`, content: `owned by ${tenant}`, tags: [testId] });
        const read = await c.request('GET', `/api/v1/resources?query=${encodeURIComponent(testId)}&limit=100`);
        return { tenant, write, read };
      });
      for (const { tenant, write, read } of results) {
        expect(write.status).toBe(201);
        expect(write.body.tenant).toBe(tenant);
        expect(read.status).toBe(200);
        const leaked = (read.body.items as Array<{ tenant: string; content: string }>).filter((r) => r.tenant !== tenant || r.content !== `owned by ${tenant}`);
        expect(leaked, `${tenant} saw another tenant's resources`).toEqual([]);
      }
      expect(new Set(results.flatMap((r) => [r.write.servedBy, r.read.servedBy])).size, 'all on one pod').toBe(1);
    });

    await test.step('assess: each tenant holds exactly its own writes, same ids notwithstanding', async () => {
      for (const tenant of [a, b]) {
        const c = await tenants.client(tenant, podAddress);
        const own = await c.request('GET', `/api/v1/resources?query=${encodeURIComponent(testId)}&limit=100`);
        expect(own.body.items).toHaveLength(writesPerTenant);
        expect(new Set(own.body.items.map((r: { tenant: string }) => r.tenant))).toEqual(new Set([tenant]));
        expect((await c.request('GET', `/api/v1/resources/${testId}-7`)).body.title).toBe(`${tenant} item 7`);
      }
    });
  });
});
