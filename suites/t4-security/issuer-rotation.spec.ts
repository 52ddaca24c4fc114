import { decodeProtectedHeader } from 'jose';
import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { requireCapability } from '../fixtures/target.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { pollBound } from '../../lib/poll.ts';
import { SETTLE_MS } from '../../lib/time.ts';
import { ISSUER_KEYS_REFRESH_MS } from '../../reference-services/shared/auth.ts';

/**
 * The token issuer's key is rotatable on a running cluster (docs/design.md §3): a new key
 * joins the JWKS that the edge and every pod verify with before it signs anything, so no
 * request fails while clients hold tokens of the old key and get tokens of the new one;
 * once the old key is retired, its tokens are refused at the edge and by every pod.
 */
test.describe('T4 issuer key rotation', () => {
  test('T4 issuer rotation: no request fails while the key changes; a retired key is refused at the edge and in every pod @pr', async ({ cluster, endpoints, tenants, pools, testId }) => {
    const issuer = requireCapability(cluster, 'issuerKeys');
    const tenant = tenants.ofTier('small', 1)[0]!.id;
    const CLIENTS = 4;
    const url = (path: string) => `${endpoints.loadBalancerUrl}${path}`;
    const as = (token: string) => tenantHeaders({ tenant, token });

    // The key this test retires is one it made: the tokens the other tests hold (of the key
    // that signed when the run began) must stay good, as a real rotation keeps them until
    // they expire.
    const { oldToken, oldKid, pods, earlierToken } = await test.step('setup: two pods of the tier; a key of this test signs a token', async () => {
      const pods = await pools.hold(DB_SMALL, 2);
      const earlierToken = await tenants.token(tenant);
      await issuer.rotateIssuerKey();
      const oldToken = await cluster.mintToken(tenant, 'small');
      const res = await http(url('/api/v1/resources'), { method: 'POST', headers: as(oldToken), json: { id: `${testId}-before`, title: 'before', content: 'x', tags: [] } });
      expect(res.status, res.text).toBe(201);
      return { oldToken, oldKid: decodeProtectedHeader(oldToken).kid!, pods, earlierToken };
    });

    const run = await test.step(`assess: ${CLIENTS} clients, half on the old key's token, half minting afresh, while the key rotates`, async () => {
      let stop = false;
      const failures: string[] = [];
      const byKid = new Map<string, number>();
      const loop = async (n: number) => {
        for (let i = 0; !stop; i += 1) {
          const token = n % 2 === 0 ? oldToken : await cluster.mintToken(tenant, 'small');
          const kid = decodeProtectedHeader(token).kid!;
          const w = await http(url('/api/v1/resources'), { method: 'POST', headers: as(token), json: { id: `${testId}-c${n}-${i}`, title: 'rotation', content: `${n}/${i}`, tags: [] } })
            .catch((err: unknown) => ({ status: 0, text: String(err) }));
          const r = await http(url(`/api/v1/resources/${testId}-before`), { headers: as(token) }).catch((err: unknown) => ({ status: 0, text: String(err) }));
          if (w.status !== 201) failures.push(`write with ${kid}: ${w.status} ${w.text.slice(0, 160)}`);
          if (r.status !== 200) failures.push(`read with ${kid}: ${r.status} ${r.text.slice(0, 160)}`);
          byKid.set(kid, (byKid.get(kid) ?? 0) + 2);
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, n) => loop(n));
      try {
        await expect.poll(() => byKid.get(oldKid) ?? 0, pollBound('clients under way', SETTLE_MS)).toBeGreaterThanOrEqual(CLIENTS * 4);
        const rotated = await issuer.rotateIssuerKey();
        // Tokens of the new key have reached the pods through the edge, several times over.
        await expect.poll(() => byKid.get(rotated.current) ?? 0, pollBound(`requests with tokens of ${rotated.current}`, SETTLE_MS)).toBeGreaterThanOrEqual(CLIENTS * 5);
        return { rotated, failures, byKid };
      } finally {
        // Also when a wait failed: no client goes on into the next test.
        stop = true;
        await Promise.all(clients);
      }
    });

    await test.step('assess: the new key signs, the old one still verifies, and nothing failed', async () => {
      test.info().annotations.push({ type: 'requests by kid', description: JSON.stringify(Object.fromEntries(run.byKid)) });
      const total = [...run.byKid.values()].reduce((a, b) => a + b, 0);
      measure(test.info(), 'requests during issuer rotation', total, 'requests', { op: '>', value: 0, source: 'docs/design.md §3' });
      measure(test.info(), 'failed requests during issuer rotation', run.failures.length, 'requests', { op: '==', value: 0, source: 'docs/design.md §3: the JWKS is published before its key signs' },
        run.failures.slice(0, 5).join('; ') || undefined);
      expect(run.rotated.current).not.toBe(oldKid);
      expect(run.rotated.kids).toEqual(expect.arrayContaining([oldKid, run.rotated.current]));
      expect(decodeProtectedHeader(await cluster.mintToken(tenant, 'small')).kid).toBe(run.rotated.current);
    });

    await test.step('assess: the signing key cannot be retired', async () => {
      await expect(issuer.retireIssuerKey(run.rotated.current)).rejects.toThrow(/409|signs the tokens now/);
    });

    await test.step(`assess: after retiring ${oldKid}, its token is refused at the edge at once and by every pod within ${ISSUER_KEYS_REFRESH_MS / 1000} s`, async () => {
      const keys = await issuer.retireIssuerKey(oldKid);
      expect(keys.kids).not.toContain(oldKid);
      const atEdge = await http(url('/api/v1/resources?limit=1'), { headers: as(oldToken) });
      expect(atEdge.status, atEdge.text).toBe(401);
      expect(atEdge.text).toContain('refused at the edge');
      expect(atEdge.servedBy, 'no pod answered').toBeNull();
      for (const pod of pods) {
        await expect.poll(async () => (await http(`http://${pod.address}/api/v1/resources?limit=1`, { headers: as(oldToken) })).status,
          pollBound(`${pod.name} refuses the retired key's token`, ISSUER_KEYS_REFRESH_MS + SETTLE_MS)).toBe(401);
      }
      const fresh = await http(url('/api/v1/resources?limit=1'), { headers: as(await cluster.mintToken(tenant, 'small')) });
      expect(fresh.status, fresh.text).toBe(200);
      const earlier = await http(url('/api/v1/resources?limit=1'), { headers: as(earlierToken) });
      expect(earlier.status, `a token of a key not retired still passes: ${earlier.text}`).toBe(200);
    });
  });
});
