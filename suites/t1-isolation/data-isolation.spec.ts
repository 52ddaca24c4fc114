import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, TENANT_HEADER } from '../../lib/names.ts';

test.describe('T1.1 data isolation', () => {
  test('T1.1 a tenant cannot read, find or count another tenant’s data @pr', async ({ tenants, pools, testId }) => {
    const [owner, other] = tenants.ofTier('small', 2).map((t) => t.id) as [string, string];
    const marker = `${testId}-zebrafish`.replace(/[^a-z0-9]/gi, '');

    await test.step('setup: two pods, and data of the owner', async () => {
      await pools.hold(DB_SMALL, 2);
      const a = await tenants.client(owner);
      expect((await a.request('POST', '/api/v1/resources', { id: `${testId}-doc`, title: `${marker} plan`, content: `${marker} body`, tags: [testId] })).status).toBe(201);
      expect((await a.request('PUT', `/api/v1/entities/${testId}-acct`, { properties: { secret: marker } })).status).toBe(200);
      expect((await a.request('POST', '/api/v1/moments', { kind: 'note', text: `${marker} moment` })).status).toBe(201);
    });

    await test.step('assess: the other tenant sees none of it, by any route', async () => {
      const b = await tenants.client(other);
      const search = await b.request('GET', `/api/v1/resources?query=${marker}`);
      expect(search.status).toBe(200);
      expect(search.body.items).toEqual([]);
      const list = await b.request('GET', '/api/v1/resources?limit=100');
      expect(list.body.items.filter((r: { tenant: string }) => r.tenant !== other)).toEqual([]);
      expect((await b.request('GET', `/api/v1/resources/${testId}-doc`)).status).toBe(404);
      expect((await b.request('GET', `/api/v1/entities/${testId}-acct`)).status).toBe(404);
      const moments = await b.request('GET', '/api/v1/moments?limit=100');
      expect(moments.text).not.toContain(marker);
      expect((await b.request('POST', '/api/v1/chat', { message: marker })).body.sources).toEqual([]);
    });

    await test.step('assess: crossing tenants with a token is refused (403), without one (401)', async () => {
      const b = await tenants.client(other);
      const asOwner = await b.request('GET', `/api/v1/resources/${testId}-doc`, undefined, { headers: { [TENANT_HEADER]: owner } });
      expect(asOwner.status).toBe(403);
      expect(asOwner.body).toMatchObject({ error: 'tenant_mismatch' });
      const anonymous = await fetch(`${b.baseUrl}/api/v1/resources/${testId}-doc`, { headers: { [TENANT_HEADER]: owner } });
      expect(anonymous.status).toBe(401);
      // …while the owner reads it.
      expect((await (await tenants.client(owner)).request('GET', `/api/v1/resources/${testId}-doc`)).body.title).toContain(marker);
    });
  });
});
