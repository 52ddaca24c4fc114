import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { TENANT_HEADER, dbWorkload } from '../../lib/names.ts';
import { eventually, expectSteady } from '../../lib/poll.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * The edge (docs/design.md §3): the load balancer verifies each token before it routes, so a token
 * that is forged, unsigned, expired, of another issuer, of another tenant than X-Tenant-ID,
 * or carrying a forged tier claim is refused there — it reaches no pod, and counts as no
 * demand: the idle tier it names stays at zero replicas.
 */
test.describe('T4 edge token verification', () => {
  test('T4 edge: bad tokens are refused at the load balancer and never wake an idle tier @pr', async ({ cluster, endpoints, tenants, deadlines }) => {
    test.skip(!cluster.signToken, `the ${cluster.kind} target cannot sign test tokens with its issuer key`);
    const IDLE = dbWorkload('large');
    const [victim, large] = tenants.ofTier('large', 2).map((t) => t.id) as [string, string];
    const small = tenants.ofTier('small', 1)[0]!.id;
    const PER_CASE = 20;

    await test.step(`setup: the large tier is idle (0 replicas, within ${(deadlines.scaleToZeroMs / 1000).toFixed(0)} s)`, async () => {
      await eventually(`${IDLE} at 0 replicas`, () => cluster.getReplicas(IDLE), (n) => n === 0, { timeoutMs: deadlines.scaleToZeroMs, intervalMs: 500 });
    });

    const cases = await test.step('setup: the table of bad tokens', async () => {
      const now = Math.floor(Date.now() / 1000);
      const good = await tenants.token(large);
      const { kid } = decodeProtectedHeader(good);
      const [head, , sig] = good.split('.');
      const impostor = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const claims = { tenant: large, tier: 'large' };
      const smallToken = await tenants.token(small);
      const [sHead, sBody, sSig] = smallToken.split('.');
      const forgedTier = `${sHead}.${b64({ ...JSON.parse(Buffer.from(sBody!, 'base64url').toString()), tier: 'large' })}.${sSig}`;
      return [
        { name: 'forged signature (same kid, another key)', tenant: large, status: 401,
          token: await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('percolate').setSubject(large).setIssuedAt().setExpirationTime('1h').sign(impostor) },
        { name: 'alg none', tenant: large, status: 401, token: `${b64({ alg: 'none', typ: 'JWT', kid })}.${b64({ ...claims, iss: 'percolate', sub: large, exp: now + 3600 })}.` },
        { name: 'alg none with the real signature', tenant: large, status: 401, token: `${b64({ alg: 'none', kid })}.${good.split('.')[1]}.${sig}` },
        { name: 'expired', tenant: large, status: 401, token: await cluster.signToken!(claims, { subject: large, issuedAt: now - 7200, expiresAt: now - 60 }) },
        { name: 'another issuer', tenant: large, status: 401, token: await cluster.signToken!(claims, { subject: large, issuer: 'someone-else' }) },
        { name: 'tenant B’s valid token with X-Tenant-ID of A', tenant: victim, status: 403, token: good },
        { name: 'forged tier claim (small tenant claims large)', tenant: small, status: 401, token: forgedTier },
        { name: 'no token', tenant: large, status: 401, token: '' },
        { name: 'header of a valid token on a forged body', tenant: large, status: 401, token: `${head}.${b64({ ...claims, iss: 'percolate', sub: large, exp: now + 3600 })}.${sig}` },
      ];
    });

    const counts = await test.step(`assess: ${PER_CASE} requests per case, each refused at the edge`, async () => {
      const counts: Record<string, Record<number, number>> = {};
      for (const c of cases) {
        counts[c.name] = {};
        for (let i = 0; i < PER_CASE; i += 1) {
          const res = await http(`${endpoints.loadBalancerUrl}/api/v1/resources?limit=1`, {
            headers: c.token ? tenantHeaders({ tenant: c.tenant, token: c.token }) : { [TENANT_HEADER]: c.tenant },
          });
          counts[c.name]![res.status] = (counts[c.name]![res.status] ?? 0) + 1;
          expect(res.status, `${c.name}: ${res.text}`).toBe(c.status);
          expect(res.text, `${c.name}: refused before any pod`).toContain('refused at the edge');
          expect(res.servedBy, `${c.name}: no pod answered`).toBeNull();
        }
      }
      return counts;
    });
    test.info().annotations.push({ type: 'edge table', description: JSON.stringify(counts) });
    const refused = Object.values(counts).reduce((sum, byStatus) => sum + (byStatus[401] ?? 0) + (byStatus[403] ?? 0), 0);
    measure(test.info(), 'bad tokens refused at the edge', refused, 'requests', { op: '==', value: cases.length * PER_CASE, source: 'docs/design.md §3: a forged claim never reaches a pod' });

    await test.step(`assess: ${IDLE} stays at 0 replicas (steady for ${(deadlines.steadyMs / 1000).toFixed(0)} s)`, async () => {
      await expectSteady(`${IDLE} replicas`, () => cluster.getReplicas(IDLE), { forMs: deadlines.steadyMs, intervalMs: 500 });
      expect(await cluster.getReplicas(IDLE)).toBe(0);
    });

    await test.step('assess: the same tenant’s valid token passes the edge (the table is not refusing everything)', async () => {
      const res = await (await tenants.client(small)).request('GET', '/api/v1/resources?limit=1');
      expect(res.status, res.text).toBe(200);
    });
  });
});
