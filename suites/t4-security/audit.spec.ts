import { createHash } from 'node:crypto';
import { auditLines, counterBy } from '../lib/audit.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, REQUEST_ID_HEADER } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import { SETTLE_MS } from '../../lib/time.ts';

/**
 * T4.3: every key unwrap is one audit line with tenant, key version, request id and caller.
 * The pods count unwraps (percolate_key_unwraps_total); over tenants used only by this test
 * the lines must equal the count, tenant by tenant, and a line caused by one tenant's
 * request never names another tenant.
 */
test.describe('T4.3 key access audit', () => {
  test('T4.3 every key unwrap has exactly one audit line, of the right tenant @pr', async ({ endpoints, cluster, tenants, pools, testId }) => {
    const own = (i: number) => `a43-${createHash('sha256').update(`${testId}-${i}`).digest('hex').slice(0, 12)}`;
    const ids = [0, 1, 2, 3].map(own);
    const pods = await test.step('setup: two pods', async () => pools.hold(DB_SMALL, 2));

    await test.step('setup: each tenant opens cold, writes and reads; one is rotated twice', async () => {
      for (const [n, tenant] of ids.entries()) {
        const c = await tenants.client(tenant);
        for (let i = 0; i < 3; i += 1) {
          const rid = { headers: { [REQUEST_ID_HEADER]: `${testId}.${tenant}.${n}.${i}` } };
          expect((await c.request('POST', '/api/v1/resources', { id: `r${i}`, title: 'audited', content: 'x', tags: [] }, rid)).status).toBe(201);
          expect((await c.request('GET', `/api/v1/resources/r${i}`, undefined, rid)).status).toBe(200);
        }
        // Straight to each pod too, so both pods open the tenant (and see its rotation).
        for (const p of pods) expect((await c.at(`http://${p.address}`).request('GET', '/api/v1/resources?limit=1', undefined, { headers: { [REQUEST_ID_HEADER]: `${testId}.${tenant}.${p.name}` } })).status).toBe(200);
      }
      const admin = tenantHeaders({ token: await cluster.mintAdminToken(), tenant: ids[0]! });
      for (let i = 0; i < 2; i += 1) {
        const rotated = await http(`${endpoints.loadBalancerUrl}/admin/tenants/${ids[0]}/keys/rotate`, { method: 'POST', headers: { ...admin, [REQUEST_ID_HEADER]: `${testId}.${ids[0]}.rotate${i}` } });
        expect(rotated.status, rotated.text).toBe(200);
      }
      const c = await tenants.client(ids[0]!);
      expect((await c.request('GET', '/api/v1/resources/r0')).status).toBe(200);
    });

    await test.step('assess: audit lines equal the unwrap count, tenant by tenant, and each is complete', async () => {
      const wanted = new Set(ids);
      const count = async () => {
        const total = new Map<string, number>();
        for (const p of pods) for (const [t, v] of await counterBy(p.address, 'percolate_key_unwraps_total', 'tenant_id')) if (wanted.has(t)) total.set(t, (total.get(t) ?? 0) + v);
        return total;
      };
      const linesOf = async () => (await auditLines(cluster, pods.map((p) => p.name))).filter((l) => l.audit === 'key.unwrap' && wanted.has(l.tenant));
      // Logs are written asynchronously: wait (bounded) until the lines catch up with the counter.
      const { counted, lines } = await eventually('audit lines for every counted unwrap', async () => {
        const counted = await count();
        const lines = await linesOf();
        return { counted, lines };
      }, ({ counted, lines }) => ids.every((t) => lines.filter((l) => l.tenant === t).length >= (counted.get(t) ?? 0)), { timeoutMs: SETTLE_MS }).catch(async () => ({ counted: await count(), lines: await linesOf() }));

      const unwraps = [...counted.values()].reduce((a, b) => a + b, 0);
      const missing = ids.reduce((sum, t) => sum + Math.max(0, (counted.get(t) ?? 0) - lines.filter((l) => l.tenant === t).length), 0);
      const extra = ids.reduce((sum, t) => sum + Math.max(0, lines.filter((l) => l.tenant === t).length - (counted.get(t) ?? 0)), 0);
      measure(test.info(), 'key unwraps counted', unwraps, 'unwraps', { op: '>=', value: ids.length + 2, source: 'T4.3: each tenant opened, one rotated twice' });
      measure(test.info(), 'unwraps without an audit line', missing, 'unwraps', { op: '==', value: 0, source: 'seed 003 T4.3: every key access audited' });
      measure(test.info(), 'audit lines without an unwrap', extra, 'lines', { op: '==', value: 0, source: 'T4.3: exactly one line per unwrap' });
      const wrongTenant = lines.filter((l) => l.requestId.startsWith(`${testId}.`) && l.requestId.split('.')[1] !== l.tenant);
      measure(test.info(), 'audit lines naming another tenant than their request', wrongTenant.length, 'lines', { op: '==', value: 0, source: 'T4.3' });
      for (const l of lines) {
        expect(typeof l.keyVersion, JSON.stringify(l)).toBe('number');
        expect(l.requestId, JSON.stringify(l)).toMatch(/\S/);
        expect(l.caller, JSON.stringify(l)).toMatch(/\S/);
      }
      expect(new Set(lines.filter((l) => l.tenant === ids[0]).map((l) => l.keyVersion)), 'the rotated tenant’s versions were unwrapped').toEqual(new Set([1, 2, 3]));
    });
  });
});
