import { http, tenantHeaders } from '../../lib/http.ts';
import { eventually } from '../../lib/poll.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, WORKER_SMALL, dbWorkload } from '../../lib/names.ts';

test.describe('T3.5 gateway routing', () => {
  test('T3.5 the gateway takes the tenant from the token, never from a header a client sends @nightly @pr', async ({ endpoints, tenants, pools, deadlines, plan, timeProfile, testId }) => {
    const { gatewayUploads: uploads, gatewayTenants: tenantCount } = plan.routing;
    const ids = tenants.ofTier('small', tenantCount).map((t) => t.id);
    const workers = 2;
    await test.step(`setup: one database pod and ${workers} workers`, async () => {
      await pools.hold(DB_SMALL, 1);
      await pools.hold(WORKER_SMALL, workers);
    });

    // Upload i is sent with tenant i's token and the next tenant's id in X-Tenant-ID.
    const jobs = await test.step(`assess: ${uploads} uploads from ${tenantCount} tenants, each claiming another tenant in X-Tenant-ID, are accepted`, async () => {
      return mapConcurrent(Array.from({ length: uploads }, (_, i) => i), 16, async (i) => {
        const owner = ids[i % ids.length]!;
        const intruder = ids[(i + 1) % ids.length]!;
        const form = new FormData();
        form.append('file', new Blob([`${testId} upload ${i} of ${owner}`]), `${testId}-${i}.txt`);
        const res = await http(`${endpoints.gatewayUrl}/upload`, {
          method: 'POST', body: form,
          // The owner's token with the intruder's id: the gateway must go by the token.
          headers: tenantHeaders({ token: await tenants.token(owner), tenant: intruder }),
        });
        expect(res.status, res.text).toBe(202);
        return { owner, intruder, id: res.body.job_id as string };
      });
    });

    await test.step('assess: every job, and its result, belongs to the token’s tenant only', async () => {
      const jobAs = async (jobId: string, tenant: string) => http(`${endpoints.gatewayUrl}/jobs/${jobId}`, { headers: tenantHeaders({ token: await tenants.token(tenant) }) });
      // The workers share the queue: the last job waits for those before it.
      const timeoutMs = deadlines.jobDoneMs + Math.ceil(uploads / workers) * timeProfile.parseMs[1];
      await eventually(`${uploads} jobs done`, async () => {
        const states = await mapConcurrent(jobs, 16, async (j) => (await jobAs(j.id, j.owner)).body.state as string);
        return states.filter((st) => st !== 'done');
      }, (pending) => pending.length === 0, { timeoutMs, intervalMs: 1000 });
      const placed = await mapConcurrent(jobs, 16, async (j) => {
        const owner = await tenants.client(j.owner);
        const intruder = await tenants.client(j.intruder);
        return {
          job: j.id,
          jobAsOwner: (await jobAs(j.id, j.owner)).status,
          jobAsIntruder: (await jobAs(j.id, j.intruder)).status,
          resultAsOwner: (await owner.request('GET', `/api/v1/resources/job-${j.id}`)).status,
          resultAsIntruder: (await intruder.request('GET', `/api/v1/resources/job-${j.id}`)).status,
        };
      });
      const wrong = placed.filter((r) => r.jobAsOwner !== 200 || r.jobAsIntruder !== 404 || r.resultAsOwner !== 200 || r.resultAsIntruder !== 404);
      expect(wrong, 'jobs or results not under the token’s tenant alone (expected 200 as owner, 404 as the claimed tenant)').toEqual([]);
      measure(test.info(), 'T3.5 jobs stored under the token’s tenant only', (placed.length - wrong.length) / placed.length, 'share', { op: '>=', value: plan.routing.headerInjection, source: 'targets.yaml routing.headerInjection' });
    });
  });

  test('T3.5 each tier’s tenants land on their tier’s pods, and only there @nightly @pr', async ({ tenants, pools, plan }) => {
    const tiers = ['small', 'medium', 'large'] as const;
    await test.step('setup: one pod per tier', async () => {
      for (const tier of tiers) await pools.hold(dbWorkload(tier), 1);
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
