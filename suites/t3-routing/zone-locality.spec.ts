import { mapConcurrent, tally } from '../lib/concurrency.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { measure, recordFigure, recordSeries } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';

/**
 * Locality is a property of the hash ring a client's zone sees: each tenant id is one draw,
 * landing in the client's zone with the configured share. To hold that share within
 * `zoneLocalSlack` at three standard deviations takes n = 9·p(1−p)/slack² tenant ids (1,600
 * for 80 % ± 3 points), far more than the fixture's tenants; they are routed, as in T3.2, on
 * the /health route, each with a token of its own (the edge verifies every request), which
 * the proxy places by the tenant header (the small tier). Failover is counted from the moment the zone fails: every request
 * sent after it must be answered, and the time until every answer comes from another zone
 * is reported.
 */
test.describe('T3.3 multi-AZ routing', () => {
  test('T3.3 a client in zone-a is served in zone-a at the configured share, and fails over when zone-a is down @nightly @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines }) => {
    const zoneA = endpoints.zonalLoadBalancerUrls['zone-a'];
    test.skip(!zoneA, `the ${cluster.kind} target has no zonal entry points`);
    const p = plan.routing.zoneLocalShare;
    const slack = plan.routing.zoneLocalSlack;
    const n = Math.ceil((9 * p * (1 - p)) / (slack * slack));
    const probeIds = Array.from({ length: n }, (_, i) => `zone-probe-${String(i + 1).padStart(5, '0')}`);
    const zoneOf = async (id: string) => {
      const res = await http(`${zoneA}/health`, { headers: tenantHeaders({ tenant: id, token: await cluster.mintToken(id) }) });
      if (res.status !== 200 || !res.zone) throw new Error(`${id}: ${res.status} ${res.text.slice(0, 200)}`);
      return res.zone;
    };
    const clients = await Promise.all(tenants.ofTier('small').map((t) => tenants.client(t.id, zoneA)));

    await test.step('setup: three pods, one in each zone', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      expect(new Set(pods.map((pod) => pod.zone))).toEqual(new Set(['zone-a', 'zone-b', 'zone-c']));
    });

    await test.step(`assess: through zone-a's entry, ${n} tenant ids are served in zone-a at ${p * 100} % ± ${slack * 100} points`, async () => {
      const zones = await mapConcurrent(probeIds, 32, zoneOf);
      const local = zones.filter((z) => z === 'zone-a').length / zones.length;
      measure(test.info(), 'T3.3 share served in the client zone', local, 'share', { op: '>=', value: p - slack, source: `targets.yaml routing.zoneLocalShare − zoneLocalSlack over ${n} tenants` });
      measure(test.info(), 'T3.3 share served in the client zone (upper)', local, 'share', { op: '<=', value: p + slack, source: `targets.yaml routing.zoneLocalShare + zoneLocalSlack over ${n} tenants` });
    });

    await test.step(`assess: the fixture's ${clients.length} tenants, with their tokens, are served in zone-a at about the same share`, async () => {
      const zones = await mapConcurrent(clients, 16, async (c) => (await c.request('GET', '/api/v1/resources?limit=1')).zone);
      const local = zones.filter((z) => z === 'zone-a').length / zones.length;
      const sampling = 3 * Math.sqrt((p * (1 - p)) / zones.length);
      measure(test.info(), `T3.3 share of ${clients.length} fixture tenants in the client zone`, local, 'share', { op: '>=', value: p - sampling, source: `targets.yaml routing.zoneLocalShare − 3σ of ${zones.length} draws` });
    });

    await test.step('assess: from the moment zone-a fails, every request through its entry is answered, and soon only from other zones', async () => {
      const sent: Array<{ at: number; ok: boolean; zone: string | null; status: number | string }> = [];
      let running = true;
      const lanes = Array.from({ length: 10 }, async (_, lane) => {
        for (let i = lane; running; i += 10) {
          const c = clients[i % clients.length]!;
          const at = Date.now();
          const res = await c.request('GET', '/api/v1/resources?limit=1').catch((err: Error) => ({ status: `error: ${err.message}`, zone: null }));
          sent.push({ at, ok: res.status === 200, zone: res.zone, status: res.status });
        }
      });
      const faultAt = Date.now();
      let convergedAt = faultAt;
      try {
        await faults.failZone('zone-a');
        // Converged: the last answer from zone-a (or failure) lies a full health-check cycle back.
        await eventually('zone-a entry answers only from other zones', async () => {
          const bad = sent.filter((s) => s.at >= faultAt && (!s.ok || s.zone === 'zone-a'));
          convergedAt = bad.length ? Math.max(...bad.map((s) => s.at)) : faultAt;
          return sent.filter((s) => s.at > convergedAt).length;
        }, (after) => after >= 50, { timeoutMs: deadlines.metricSeenMs, intervalMs: 100 });
      } finally {
        running = false;
        await Promise.all(lanes);
      }
      const afterFault = sent.filter((s) => s.at >= faultAt);
      const answered = afterFault.filter((s) => s.ok).length / afterFault.length;
      const converge = (convergedAt - faultAt) / 1000;
      await recordSeries(test.info(), {
        name: 'T3.3 requests through zone-a during its failure', unit: 'ok',
        points: sent.map((s) => ({ t: s.at, value: s.ok ? 1 : 0, series: s.zone ?? 'failed' })),
        events: [{ t: faultAt, kind: 'chaos-start', label: 'zone-a fails' }],
      });
      recordFigure(test.info(), { name: 'T3.3 fault → every answer from another zone', value: converge, unit: 's' });
      test.info().annotations.push({ type: 'measured', description: `${afterFault.length} requests after the fault, ${(answered * 100).toFixed(2)} % answered; converged ${converge.toFixed(2)} s after the fault; outcomes ${JSON.stringify([...tally(afterFault.map((s) => `${s.status} ${s.zone}`))])}` });
      measure(test.info(), 'T3.3 requests answered from the fault on', answered, 'share', { op: '>=', value: plan.routing.failoverSuccess, source: 'targets.yaml routing.failoverSuccess' });
    });
  });
});
