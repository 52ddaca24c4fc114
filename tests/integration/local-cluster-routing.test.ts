import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { ruleFor } from '../../cluster/local/network/locality.ts';
import { UP_TIMEOUT_MS, runtimeSettings } from '../../lib/time.ts';
import { pollBound } from '../../lib/poll.ts';
import { localityDistribution } from '../../cluster/manifests/mesh.ts';
import { renderOverlay } from '../../cluster/manifests/render.ts';
import { loadTenants } from '../../fixtures/tenants.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_WORKLOADS, SERVED_BY_HEADER, type Tier, ZONE_HEADER, dbWorkload, isPodOf } from '../../lib/names.ts';

// T3.3 (zone locality and failover) and the tier half of T3.5 on the local target: a
// small tier of 3 pods (one per zone) and a medium tier of 1, both held there (their
// ScaledObjects start paused at those counts); the large tier is left to its autoscaler
// at 0, so a request that reached it would wake it.
const DB = { small: dbWorkload('small'), medium: dbWorkload('medium'), large: dbWorkload('large') };
const settings = runtimeSettings('fast');
const CLIENT_ZONE = 'zone-a';
/** Enough tenants that 3 standard deviations of the zone-local share stay within ±0.07 (share 0.8). */
const ZONE_TENANTS = 300;
/** The load balancer notices a cut-off pod after `fall` failed checks; the rest is room for a round of requests to pods that open the tenants cold. */
const FAILOVER_BOUND_MS = settings.healthCheckIntervalMs * settings.healthCheckFall + 5_000;

/** status 0: no HTTP answer at all (the connection failed). */
interface Answer { status: number; pod: string; zone: string }

describe('local cluster: tier routing and zone locality', () => {
  let cluster: LocalClusterTarget;
  const tokens = new Map<string, string>();

  const token = async (tenant: string, tier: Tier) => {
    const key = `${tenant}/${tier}`;
    if (!tokens.has(key)) tokens.set(key, await cluster.mintToken(tenant, tier));
    return tokens.get(key)!;
  };
  const get = async (baseUrl: string, tenant: string, bearer: string): Promise<Answer> => {
    try {
      const res = await fetch(`${baseUrl}/api/v1/resources?query=x`, { headers: tenantHeaders({ tenant, token: bearer }) });
      await res.arrayBuffer();
      return { status: res.status, pod: res.headers.get(SERVED_BY_HEADER) ?? '', zone: res.headers.get(ZONE_HEADER) ?? '' };
    } catch {
      return { status: 0, pod: '', zone: '' };
    }
  };
  /** One request per tenant, a few at a time (a tenant's first request on a pod opens its store cold). */
  const eachTenant = async (baseUrl: string, tenants: string[], tier: Tier = 'small') => {
    const answers = new Map<string, Answer>();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < tenants.length) {
        const tenant = tenants[next++]!;
        answers.set(tenant, await get(baseUrl, tenant, await token(tenant, tier)));
      }
    }));
    return answers;
  };

  /**
   * Requests a tier's activator has seen. It is HAProxy's backup server, and would also
   * answer (through the zone-agnostic frontend) for a zonal ring that had no server at
   * all: while the tier has pods, anything above 0 means a ring is broken.
   */
  const activatorRequests = async (workload: string) => {
    const text = await (await fetch(`${(await cluster.getEndpoints()).extra[`activator:${workload}`]}/metrics`)).text();
    return [...text.matchAll(/^percolate_activator_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  beforeAll(async () => {
    cluster = await new LocalClusterBuilder().withProfile('fast')
      .withReplicas(DB.small, 3).withReplicas(DB.medium, 1).withWorkers(0).withGateways(0).start();
  }, UP_TIMEOUT_MS);
  afterAll(async () => { await cluster?.close(); });

  it('sends each tenant to its own tier\'s pods through every frontend; a forged claim reads nothing; the idle tier stays at 0', async () => {
    const e = await cluster.getEndpoints();
    const frontends = [e.loadBalancerUrl, ...Object.values(e.zonalLoadBalancerUrls)];
    expect(Object.keys(e.zonalLoadBalancerUrls).sort()).toEqual(['zone-a', 'zone-b', 'zone-c']);
    for (const tier of ['small', 'medium'] as const) {
      const tenants = loadTenants(tier).slice(0, 8).map((t) => t.id);
      for (const url of frontends) {
        const answers = [...(await eachTenant(url, tenants, tier)).entries()];
        expect(answers.filter(([, a]) => a.status !== 200 || !isPodOf(a.pod, DB[tier])), `${tier} tenants through ${url}`).toEqual([]);
      }
    }

    // The edge verifies the signature before it reads the tier (as Envoy's RequestAuthentication
    // does on a cluster): a small tenant's token with its claim rewritten reaches no pod at all.
    const [small] = loadTenants('small');
    const [header, payload, signature] = (await token(small!.id, 'small')).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = [header, Buffer.from(JSON.stringify({ ...claims, tier: 'medium' })).toString('base64url'), signature].join('.');
    const answer = await get(e.loadBalancerUrl, small!.id, forged);
    expect([answer.status, DB_WORKLOADS.some((w) => isPodOf(answer.pod, w))]).toEqual([401, false]);
    // The edge keeps the tokens it verified (keyed by the whole token): the accepted token's
    // own header and claims under a signature it did not make are verified afresh, and refused.
    expect((await get(e.loadBalancerUrl, small!.id, [header, payload, signature].join('.'))).status).toBe(200);
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const resigned = `${header}.${payload}.${sign('sha256', Buffer.from(`${header}.${payload}`), { key: otherKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    const truncated = `${header}.${payload}.${signature!.slice(0, -4)}`;
    for (const bad of [resigned, truncated]) {
      const refused = await get(e.loadBalancerUrl, small!.id, bad);
      expect([refused.status, refused.pod]).toEqual([401, '']);
    }
    // A valid token of another tier, sent past the load balancer straight to a pod: 421.
    const [medium] = loadTenants('medium');
    const [smallPod] = await cluster.listPods({ workload: DB.small });
    expect((await get(`http://${smallPod!.address}`, medium!.id, await token(medium!.id, 'medium'))).status).toBe(421);

    expect(await cluster.getReplicas(DB.large)).toBe(0);
    expect(await cluster.listPods({ workload: DB.large })).toEqual([]);
    for (const workload of Object.values(DB)) expect(await activatorRequests(workload), `requests held by the activator of ${workload}`).toBe(0);
  });

  it(`serves a client in ${CLIENT_ZONE} in its zone at the DestinationRule's share, over ${ZONE_TENANTS} tenants`, async () => {
    const rule = ruleFor(localityDistribution(await renderOverlay('fast'), DB.small), CLIENT_ZONE);
    const share = (rule?.to.find(([locality]) => locality.split('/')[1] === CLIENT_ZONE)?.[1] ?? 0) / 100;
    expect(share, `the manifests give ${CLIENT_ZONE} a share`).toBeGreaterThan(0);
    const pods = await cluster.waitForReplicasReady(DB.small, 3, { timeoutMs: 10_000 });
    expect(pods.map((p) => p.zone).sort(), 'one small pod per zone').toEqual(['zone-a', 'zone-b', 'zone-c']);

    const tenants = Array.from({ length: ZONE_TENANTS }, (_, i) => `zone-tenant-${String(i).padStart(4, '0')}`);
    const answers = await eachTenant((await cluster.getEndpoints()).zonalLoadBalancerUrls[CLIENT_ZONE]!, tenants);
    expect([...answers.values()].filter((a) => a.status !== 200)).toEqual([]);
    const local = [...answers.values()].filter((a) => a.zone === CLIENT_ZONE).length / tenants.length;
    // Each tenant's place on the ring is a draw that lands in the zone with probability
    // `share`: the local count is binomial, and 3 standard deviations bound it both ways
    // (too few: no locality; too many: no distribution to the other zones).
    const slack = 3 * Math.sqrt((share * (1 - share)) / tenants.length);
    console.log(`served in ${CLIENT_ZONE} through its frontend: ${(local * 100).toFixed(1)} % of ${tenants.length} tenants (configured ${share * 100} %, ±${(slack * 100).toFixed(1)})`);
    expect(local).toBeGreaterThanOrEqual(share - slack);
    expect(local).toBeLessThanOrEqual(share + slack);
    expect(await activatorRequests(DB.small), 'requests the zonal ring did not place').toBe(0);
  });

  it(`fails over to the other zones when ${CLIENT_ZONE} is down, and serves in ${CLIENT_ZONE} again once it is back`, async () => {
    const url = (await cluster.getEndpoints()).zonalLoadBalancerUrls[CLIENT_ZONE]!;
    const tenants = Array.from({ length: 40 }, (_, i) => `failover-tenant-${String(i).padStart(3, '0')}`);
    const before = await eachTenant(url, tenants);
    const localBefore = tenants.filter((t) => before.get(t)?.zone === CLIENT_ZONE).sort();
    expect(localBefore.length, `some of the tenants are served in ${CLIENT_ZONE}`).toBeGreaterThan(0);

    await cluster.failZone(CLIENT_ZONE);
    const failedAt = performance.now();
    try {
      await expect.poll(async () => [...(await eachTenant(url, tenants)).entries()]
        .filter(([, a]) => a.status < 200 || a.status > 299 || a.zone === CLIENT_ZONE || a.zone === '')
        .map(([t, a]) => `${t}: ${a.status} from ${a.zone || 'nowhere'}`), {
        ...pollBound(`every request through the ${CLIENT_ZONE} frontend answered 2xx from another zone`, FAILOVER_BOUND_MS), interval: 100,
      }).toEqual([]);
      console.log(`all ${tenants.length} tenants answered 2xx from other zones ${Math.round(performance.now() - failedAt)} ms after ${CLIENT_ZONE} failed`);
    } finally {
      await cluster.restoreZone(CLIENT_ZONE);
    }
    await cluster.waitForReplicasReady(DB.small, 3, { timeoutMs: 15_000 });
    // The same weights again: the same tenants come back to the zone's pod.
    await expect.poll(async () => {
      const after = await eachTenant(url, tenants);
      return tenants.filter((t) => after.get(t)?.zone === CLIENT_ZONE && after.get(t)?.status === 200).sort();
    }, { ...pollBound(`${CLIENT_ZONE} serving its tenants again once ready`, FAILOVER_BOUND_MS), interval: 100 })
      .toEqual(localBefore);
    expect(await activatorRequests(DB.small), 'requests a zonal ring did not place, before, during or after the outage').toBe(0);
  });
});
