import { eventually } from '../lib/polling.ts';
import { http } from '../lib/http.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { DB_SMALL, WORKER, dbOfTier, expect, test } from '../fixtures/index.ts';

test.describe('T3.5 gateway routing', () => {
  test('T3.5 the gateway takes the tenant from the token, never from a header a client sends @pr', async ({ endpoints, tenants, pools, deadlines, testId }) => {
    const [owner, intruder] = tenants.ofTier('small', 2).map((t) => t.id) as [string, string];
    await test.step('setup: one database pod and one worker', async () => {
      await pools.hold(DB_SMALL, 1);
      await pools.hold(WORKER, 1);
    });

    const jobId = await test.step('assess: an upload that claims another tenant in X-Tenant-ID is stored as the token’s tenant', async () => {
      const form = new FormData();
      form.append('file', new Blob([`${testId} quarterly numbers`]), `${testId}.txt`);
      const res = await http(`${endpoints.gatewayUrl}/upload`, {
        method: 'POST', body: form,
        headers: { authorization: `Bearer ${await tenants.token(owner)}`, 'x-tenant-id': intruder },
      });
      expect(res.status, res.text).toBe(202);
      return res.body.job_id as string;
    });

    await test.step('assess: the job and its result belong to the token’s tenant only', async () => {
      const jobAs = async (tenant: string) => http(`${endpoints.gatewayUrl}/jobs/${jobId}`, { headers: { authorization: `Bearer ${await tenants.token(tenant)}` } });
      await eventually(`job ${jobId} done`, async () => (await jobAs(owner)).body.state, (s) => s === 'done', { timeoutMs: deadlines.jobDoneMs });
      expect((await jobAs(owner)).body.tenantId ?? owner).toBe(owner);
      expect((await jobAs(intruder)).status).toBe(404);
      expect((await (await tenants.client(owner)).request('GET', `/api/v1/resources/job-${jobId}`)).status).toBe(200);
      expect((await (await tenants.client(intruder)).request('GET', `/api/v1/resources/job-${jobId}`)).status).toBe(404);
    });
  });

  test('T3.5 each tier’s tenants land on their tier’s pods, and only there @pr', async ({ tenants, pools, plan }) => {
    const tiers = ['small', 'medium', 'large'] as const;
    await test.step('setup: one pod per tier', async () => {
      for (const tier of tiers) await pools.hold(dbOfTier(tier), 1);
    });
    await test.step('assess: 100 requests for each of 10 tenants per tier (all 5 large ones)', async () => {
      for (const tier of tiers) {
        const clients = await Promise.all(tenants.ofTier(tier).slice(0, 10).map((t) => tenants.client(t.id)));
        const served = await mapConcurrent(clients.flatMap((c) => Array.from({ length: 100 }, () => c)), 32, async (c) => {
          const res = await c.request('GET', '/api/v1/resources?limit=1');
          return res.status === 200 && new RegExp(`^percolate-db-${tier}-\\d+$`).test(res.servedBy ?? '');
        });
        const share = served.filter(Boolean).length / served.length;
        expect(share, `${tier} tenants on ${tier} pods (target ${plan.routing.headerInjection})`).toBeGreaterThanOrEqual(plan.routing.headerInjection);
      }
    });
  });
});
