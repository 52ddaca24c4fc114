import { loadScenarios } from '../../fixtures/load-scenarios.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL, SCALED_OBJECTS, WORKER_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import type { TrafficStats } from '../../lib/traffic-stats.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { startTraffic } from '../lib/traffic.ts';
import { expect, test } from '../fixtures/index.ts';

/** Answers an overloaded gateway may give an upload: taken, or turned away with a time to retry. Anything else is a failure of its own. */
const SHED_STATUSES = new Set([429, 503]);

/** One upload of the flood: what the gateway answered, and the job it took, if it took one. */
interface FloodUpload { tenant: string; status: number | 'failed'; retryAfter: boolean; jobId?: string; detail?: string }

/**
 * Seed 004 "cascading failure prevention": overload one service, the others unaffected.
 * Uploads arrive at the gateway at several times the rate the workers parse them (an open
 * model: arrivals do not wait for answers), while other tenants read the database through
 * the load balancer. The reads keep T5.1's SLO; the flood is queued, not lost: every upload
 * the gateway accepted becomes a job that is done once workers are there to parse it.
 */
test.describe('seed 004 cascading failure', () => {
  test('seed 004 an upload flood far beyond the workers: database reads keep their SLO, every accepted upload is done @nightly', async ({ endpoints, tenants, pools, plan, deadlines, timeProfile, testId }) => {
    const flood = loadScenarios().uploadFlood;
    const small = tenants.ofTier('small', flood.uploaders + flood.readers);
    const uploaders = small.slice(0, flood.uploaders);
    const readers = await Promise.all(small.slice(flood.uploaders).map((t) => tenants.client(t.id, endpoints.loadBalancerUrl)));
    const tokens = new Map(await Promise.all(uploaders.map(async (t) => [t.id, await tenants.token(t.id)] as const)));
    const floodMs = flood.seconds * 1000;
    const tag = `t6flood${testId}`.replace(/[^A-Za-z0-9_-]/g, '');
    const uploads: FloodUpload[] = [];

    const upload = async (n: number): Promise<FloodUpload> => {
      const tenant = uploaders[n % uploaders.length]!.id;
      const form = new FormData();
      form.append('file', new Blob([`${tag} upload ${n}: quarterly numbers for ${tenant}\n`.repeat(20)]), `${tag}-${n}.txt`);
      try {
        const res = await http(`${endpoints.gatewayUrl}/upload`, {
          method: 'POST', body: form, signal: AbortSignal.timeout(deadlines.faultMarginMs), headers: tenantHeaders({ token: tokens.get(tenant)! }, { 'idempotency-key': `${tag}-${n}` }),
        });
        return { tenant, status: res.status, retryAfter: res.headers.has('retry-after'), ...(res.status === 202 ? { jobId: String(res.body.job_id) } : { detail: res.text.slice(0, 200) }) };
      } catch (err) {
        return { tenant, status: 'failed', retryAfter: false, detail: String(err) };
      }
    };

    await test.step(`setup: one database pod, ${flood.workers} worker (held), every other tier at 0, ${flood.readers} tenants' reads warm`, async () => {
      // The other tiers held at 0 too: pods an earlier test left scaling down (draining, a
      // last snapshot) would take the two cores from the reads this test times.
      for (const other of SCALED_OBJECTS.filter((so) => so !== DB_SMALL && so !== WORKER_SMALL)) await pools.hold(other, 0);
      await pools.hold(DB_SMALL, 1);
      await pools.hold(WORKER_SMALL, flood.workers);
      // Every reader's tenant open before anything is timed: a cold open is T5.4's figure, not this one's.
      for (const r of readers) await eventually(`${r.tenantId} answers a read`, async () => (await r.request('GET', '/api/v1/resources?limit=1')).status, (s) => s === 200, { timeoutMs: deadlines.recoveryMs });
    });

    const baseline = await test.step(`baseline: reads alone, ${flood.readsPerTenant * flood.readers} req/s for ${flood.seconds} s`, () => readFor(floodMs));

    const during = await test.step(`fault: ${flood.uploadsPerSecond} uploads/s for ${flood.seconds} s beside the same reads`, async () => {
      const reads = startTraffic(readers, flood.readsPerTenant);
      const pending: Promise<void>[] = [];
      const total = flood.uploadsPerSecond * flood.seconds;
      let n = 0;
      const started = Date.now();
      // Arrivals on the clock, whatever the answers take (they are what the flood overloads).
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * flood.uploadsPerSecond));
        for (; n < due; n += 1) pending.push(upload(n).then((u) => { uploads.push(u); }));
      }, 10);
      try {
        await eventually(`${total} uploads sent`, async () => n, (sent) => sent >= total, { timeoutMs: floodMs + 2_000, intervalMs: 100 });
      } finally {
        clearInterval(timer);
      }
      const stats = await reads.stop();
      await Promise.all(pending);
      return stats;
    });

    await test.step('assess: the reads kept their SLO under the flood', async () => {
      const info = test.info();
      const b = baseline.snapshot();
      const d = during.snapshot();
      recordFigure(info, { name: 'read p95 before the flood', value: b.latency.p95Ms, unit: 'ms' });
      recordFigure(info, { name: 'read p95 under the flood ÷ before', value: d.latency.p95Ms / Math.max(b.latency.p95Ms, 0.001), unit: 'ratio' });
      measure(info, 'read p95 under the upload flood', d.latency.p95Ms, 'ms', { op: '<', value: plan.chaos.floodReadP95Ms, source: 'targets.yaml chaos.floodReadP95Ms' });
      measure(info, 'read error rate under the upload flood', d.errors / Math.max(d.sent, 1), 'ratio', { op: '<', value: plan.chaos.floodReadErrorRate, source: 'targets.yaml chaos.floodReadErrorRate' },
        `${d.sent} reads: ${JSON.stringify(d.outcomes)}`);
    });

    const accepted = await test.step('assess: the gateway answered every upload, taking it or turning it away with a time to retry', async () => {
      const byStatus: Record<string, number> = {};
      for (const u of uploads) byStatus[u.status] = (byStatus[u.status] ?? 0) + 1;
      recordFigure(test.info(), { name: 'uploads sent', value: uploads.length, unit: 'uploads', detail: JSON.stringify(byStatus) });
      const wrong = uploads.filter((u) => u.status !== 202 && !(typeof u.status === 'number' && SHED_STATUSES.has(u.status) && u.retryAfter));
      expect(wrong.slice(0, 5), `${wrong.length} of ${uploads.length} uploads answered other than 202 or 429/503 with Retry-After`).toEqual([]);
      const taken = uploads.flatMap((u) => (u.jobId ? [u.jobId] : []));
      expect(taken.length, 'uploads the gateway accepted').toBeGreaterThan(0);
      return taken;
    });

    await test.step(`assess: the backlog was real, and every accepted upload is done once ${flood.drainWorkers} workers parse it`, async () => {
      // The overload is the test's premise: at the flood's end, jobs were still waiting.
      const ownerOf = new Map(uploads.flatMap((u) => (u.jobId && u.tenant ? [[u.jobId, u.tenant] as const] : [])));
      const stateOf = async (id: string) => String((await http(`${endpoints.gatewayUrl}/jobs/${id}`, { headers: tenantHeaders({ token: tokens.get(ownerOf.get(id)!)! }) })).body.state);
      const states = await mapConcurrent(accepted.slice(-20), 8, stateOf);
      recordFigure(test.info(), { name: 'accepted uploads', value: accepted.length, unit: 'jobs' });
      expect(states.filter((s) => s === 'queued').length, `of the last 20 accepted uploads, still queued when the flood ended (states: ${states.join(' ')})`).toBeGreaterThan(0);

      await pools.hold(WORKER_SMALL, flood.drainWorkers);
      const boundMs = deadlines.jobsRecoveredMs + Math.ceil(accepted.length / flood.drainWorkers) * timeProfile.parseMs[1];
      const started = Date.now();
      await eventually(`the ${accepted.length} accepted uploads done (within ${Math.round(boundMs / 1000)} s)`, async () => {
        const st = await mapConcurrent(accepted, 8, stateOf);
        return st.filter((s) => s !== 'done').length;
      }, (left) => left === 0, { timeoutMs: boundMs, intervalMs: 1_000, show: (left) => `${left} not done` });
      recordFigure(test.info(), { name: 'backlog drained', value: (Date.now() - started) / 1000, unit: 's' });
    });

    /** Reads at the flood's rate until as many were answered as `ms` of them make. */
    async function readFor(ms: number): Promise<TrafficStats> {
      const reads = startTraffic(readers, flood.readsPerTenant);
      const count = Math.round((ms / 1000) * flood.readsPerTenant * readers.length);
      try {
        await eventually(`${count} reads answered`, async () => reads.stats.snapshot().answered, (a) => a >= count, { timeoutMs: ms + deadlines.faultMarginMs, intervalMs: 100 });
      } finally {
        await reads.stop();
      }
      return reads.stats;
    }
  });
});
