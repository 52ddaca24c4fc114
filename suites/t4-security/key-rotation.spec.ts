import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { pollBound } from '../../lib/poll.ts';
import { SETTLE_MS } from '../../lib/time.ts';

/**
 * T4.2: rotating a tenant's data key while clients read and write it fails no request;
 * what was written before still reads, and writes after the rotation use the new version.
 */
test.describe('T4.2 key rotation', () => {
  test('T4.2 rotation under load: zero failed requests, old data readable, new writes on the new version @pr', async ({ endpoints, cluster, tenants, pools, testId }) => {
    const tenant = tenants.ofTier('small', 1)[0]!.id;
    const CLIENTS = 4;
    const client = await tenants.client(tenant);
    const admin = tenantHeaders({ token: await cluster.mintAdminToken(), tenant });

    const before = await test.step('setup: two pods, data written under the current key', async () => {
      await pools.hold(DB_SMALL, 2);
      const res = await client.request('POST', '/api/v1/resources', { id: `${testId}-old`, title: 'before', content: 'written before rotation', tags: [] });
      expect(res.status, res.text).toBe(201);
      return res.body.keyVersion as number;
    });

    const { failures, ops, rotatedTo, afterRotation } = await test.step(`assess: ${CLIENTS} clients read and write while the key rotates`, async () => {
      let rotatedTo = 0;
      let stop = false;
      const failures: string[] = [];
      const afterRotation: number[] = [];
      let ops = 0;
      const loop = async (n: number) => {
        for (let i = 0; !stop; i += 1) {
          const rotated = rotatedTo;
          const w = await client.request('POST', '/api/v1/resources', { id: `${testId}-c${n}-${i}`, title: 'under rotation', content: `${n}/${i}`, tags: [] });
          const r = await client.request('GET', `/api/v1/resources/${testId}-old`);
          ops += 2;
          if (w.status !== 201) failures.push(`write ${w.status} ${w.text}`);
          if (r.status !== 200) failures.push(`read ${r.status} ${r.text}`);
          // A write that started after the rotation answered must use the new version.
          if (rotated && w.status === 201) afterRotation.push(w.body.keyVersion);
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, n) => loop(n));
      try {
        // Rotate once every client is under way, then let each write at least a few times on the new key.
        await expect.poll(() => ops, pollBound('clients under way', SETTLE_MS)).toBeGreaterThanOrEqual(CLIENTS * 4);
        const rotation = await http(`${endpoints.loadBalancerUrl}/admin/tenants/${tenant}/keys/rotate`, { method: 'POST', headers: admin });
        expect(rotation.status, rotation.text).toBe(200);
        rotatedTo = rotation.body.keyVersion;
        await expect.poll(() => afterRotation.length, pollBound('writes after the rotation', SETTLE_MS)).toBeGreaterThanOrEqual(CLIENTS * 5);
      } finally {
        // Also when a wait failed: no client goes on into the next test.
        stop = true;
        await Promise.all(clients);
      }
      return { failures, ops, rotatedTo, afterRotation };
    });

    await test.step('assess: nothing failed; old data reads; new writes use the new version', async () => {
      measure(test.info(), 'requests during rotation', ops, 'requests', { op: '>', value: 0, source: 'T4.2' });
      measure(test.info(), 'failed requests during rotation', failures.length, 'requests', { op: '==', value: 0, source: 'seed 003 T4.2: zero errors' });
      expect(failures.slice(0, 5)).toEqual([]);
      expect(rotatedTo).toBe(before + 1);
      expect(afterRotation.filter((v) => v !== rotatedTo), 'writes after rotation on an old key version').toEqual([]);
      const old = await client.request('GET', `/api/v1/resources/${testId}-old`);
      expect(old.status).toBe(200);
      expect(old.body.keyVersion).toBe(before);
      expect(old.body.content).toBe('written before rotation');
    });
  });
});
