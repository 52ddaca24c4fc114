import { auditLines } from '../lib/audit.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, REQUEST_ID_HEADER, TENANT_HEADER } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import { SETTLE_MS } from '../../lib/time.ts';

/**
 * T1.4: a tenant cannot read, unwrap or rotate another tenant's keys by any path, and every
 * refusal a pod makes is an audit line naming the request. Attempts go through the load
 * balancer (the edge refuses a token whose tenant is not X-Tenant-ID before any pod sees
 * it) and straight to every pod, as a caller inside the mesh would: there the node itself
 * must refuse, and audit.
 */
test.describe('T1.4 key isolation', () => {
  test('T1.4 another tenant’s keys cannot be read, unwrapped or rotated, and each refusal is audited @pr', async ({ cluster, endpoints, tenants, pools, testId }) => {
    const [owner, intruder] = tenants.ofTier('small', 2).map((t) => t.id) as [string, string];
    const pods = await test.step('setup: two pods; the owner has data, hence keys', async () => {
      const ready = await pools.hold(DB_SMALL, 2);
      const res = await (await tenants.client(owner)).request('POST', '/api/v1/resources', { id: `${testId}-k`, title: 'keyed', content: 'keyed', tags: [] });
      expect(res.status, res.text).toBe(201);
      return ready;
    });
    const asAdmin = tenantHeaders({ token: await cluster.mintAdminToken(), tenant: owner });
    const versionsBefore = (await http(`${endpoints.loadBalancerUrl}/admin/tenants/${owner}/keys`, { headers: asAdmin })).body;
    expect(versionsBefore.current, JSON.stringify(versionsBefore)).toBeGreaterThanOrEqual(1);

    const attempts: Array<{ what: string; method: string; path: string }> = [
      { what: 'read', method: 'GET', path: `/api/v1/tenants/${owner}/keys` },
      { what: 'unwrap', method: 'POST', path: `/api/v1/tenants/${owner}/keys/unwrap` },
      { what: 'rotate', method: 'POST', path: `/api/v1/tenants/${owner}/keys/rotate` },
      { what: 'admin read', method: 'GET', path: `/admin/tenants/${owner}/keys` },
      { what: 'admin rotate', method: 'POST', path: `/admin/tenants/${owner}/keys/rotate` },
      { what: 'admin raw dump', method: 'GET', path: `/admin/tenants/${owner}/raw` },
    ];
    // Each header an intruder might send: its own tenant, the victim's, or none.
    const headerVariants: Array<Record<string, string>> = [{ [TENANT_HEADER]: intruder }, { [TENANT_HEADER]: owner }, {}];
    const reachedPods: string[] = [];
    let refused = 0;

    await test.step('assess: every attempt with the intruder’s valid token is refused (403), at the edge or at the pod', async () => {
      const token = await tenants.token(intruder);
      const bases = [{ via: 'load balancer', url: endpoints.loadBalancerUrl }, ...pods.map((p) => ({ via: p.name, url: `http://${p.address}` }))];
      let n = 0;
      for (const base of bases) {
        for (const attempt of attempts) {
          for (const headers of headerVariants) {
            const requestId = `${testId}-deny-${(n += 1)}`;
            const res = await http(`${base.url}${attempt.path}`, { method: attempt.method, headers: tenantHeaders({ token }, { [REQUEST_ID_HEADER]: requestId, ...headers }) });
            expect(res.status, `${attempt.what} via ${base.via} with ${JSON.stringify(headers)}: ${res.text}`).toBe(403);
            refused += 1;
            if (!/refused at the edge/.test(res.text)) reachedPods.push(requestId);
          }
        }
      }
    });

    await test.step('assess: the owner’s keys are unchanged (no rotation went through)', async () => {
      const after = (await http(`${endpoints.loadBalancerUrl}/admin/tenants/${owner}/keys`, { headers: asAdmin })).body;
      expect(after.current).toBe(versionsBefore.current);
      expect(after.versions.length).toBe(versionsBefore.versions.length);
    });

    await test.step('assess: every refusal a pod made has exactly one audit line, naming the owner’s tenant and the intruder', async () => {
      const wanted = new Set(reachedPods);
      const lines = await eventually('audit lines of every refusal', async () => (await auditLines(cluster, pods.map((p) => p.name)))
        .filter((l) => l.audit === 'key.denied' && wanted.has(l.requestId)), (found) => found.length >= wanted.size, { timeoutMs: SETTLE_MS });
      const byRequest = new Map<string, number>();
      for (const l of lines) byRequest.set(l.requestId, (byRequest.get(l.requestId) ?? 0) + 1);
      expect([...wanted].filter((id) => byRequest.get(id) !== 1), 'refusals without exactly one audit line').toEqual([]);
      for (const l of lines) {
        expect(l.tenant, JSON.stringify(l)).toBe(owner);
        expect([`tenant:${intruder}`, 'anonymous']).toContain(l.principal);
      }
      measure(test.info(), 'key access attempts refused', refused, 'requests', { op: '==', value: refused, source: 'T1.4: every attempt' });
      measure(test.info(), 'refusals at a pod without one audit line', [...wanted].filter((id) => byRequest.get(id) !== 1).length, 'requests', { op: '==', value: 0, source: 'T1.4: each denial audited' });
    });
  });
});
