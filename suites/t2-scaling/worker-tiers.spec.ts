import { http, tenantHeaders } from '../../lib/http.ts';
import { WORKER_WORKLOADS, dbWorkload, workerWorkload, type Tier } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure, recordSeries, type SeriesPoint } from '../lib/measure.ts';
import { perPodThreshold, scaledObjectSpec } from '../lib/scaled-objects.ts';
import { expect, test } from '../fixtures/index.ts';

/**
 * Seed 002: workers per tier, each tier's on its own subject (`percolate.jobs.{tier}`) and
 * scaled on its own consumer's lag, one worker per `lagThreshold` jobs up to the tier's
 * limit (5 / 10 / 15). A backlog on one tier brings up that tier's workers, to
 * ceil(jobs / threshold) within the tier's max, and not one worker of another tier.
 *
 * The backlog is queued while the tier's ScaledObject is paused at 0, then released: the
 * autoscaler's first decision sees all of it, before any worker has taken a job. The other
 * tiers' ScaledObjects are left to the autoscaler for the whole test, so that a worker of
 * theirs scaled by this backlog would show.
 */
interface BacklogCase {
  tier: Tier;
  /** The backlog, from the tier's ScaledObject: what the case shows about it. */
  jobs: (threshold: number, max: number) => number;
  rule: string;
}

const CASES: BacklogCase[] = [
  // 2 × 5 + 1 = 11 jobs: ceil(2.2) = 3, where rounding or truncating gives 2.
  { tier: 'medium', jobs: (t) => 2 * t + 1, rule: 'AverageValue rounds up: ceil(jobs / threshold)' },
  // (5 + 3) × 5 = 40 jobs: ceil(8) = 8 asked for, held to the small tier's limit of 5.
  { tier: 'small', jobs: (t, max) => (max + 3) * t, rule: 'at most the tier’s limit' },
];

/** The most replicas each tier's workers were scaled to since `since`, from the autoscaler's decisions, with them as a series for the report. */
async function peaksSince(read: (options: { since: number }) => Promise<Array<{ at: number; scaledObject: string; replicasAfter: number }>>, since: number) {
  const peak = Object.fromEntries(WORKER_WORKLOADS.map((w) => [w, 0])) as Record<string, number>;
  const points: SeriesPoint[] = [];
  for (const e of await read({ since })) {
    if (!(e.scaledObject in peak)) continue;
    peak[e.scaledObject] = Math.max(peak[e.scaledObject]!, e.replicasAfter);
    points.push({ t: e.at, value: e.replicasAfter, series: e.scaledObject });
  }
  return { peak, points };
}

test.describe('T2 workers per tier', () => {
  for (const c of CASES) {
    test(`T2 a backlog on the ${c.tier} tier scales only the ${c.tier} tier’s workers, ${c.rule} @nightly @pr`, async ({ cluster, endpoints, tenants, pools, deadlines, profile, timeProfile, testId }) => {
      const workers = workerWorkload(c.tier);
      const so = await scaledObjectSpec(profile, workers);
      const threshold = perPodThreshold(so);
      const jobs = c.jobs(threshold, so.maxReplicaCount);
      const expected = Math.min(Math.ceil(jobs / threshold), so.maxReplicaCount);
      const owners = tenants.ofTier(c.tier, 5).map((t) => t.id);

      await test.step(`setup: the ${c.tier} tier’s database at 1 for the results; every tier’s workers at 0, ${workers} held there`, async () => {
        await pools.hold(dbWorkload(c.tier), 1);
        await pools.hold(workers, 0);
        await eventually('every tier’s workers at 0 pods', async () => Promise.all(WORKER_WORKLOADS.map((w) => cluster.getReplicas(w))),
          (counts) => counts.every((n) => n === 0), { timeoutMs: deadlines.scaleToZeroMs, intervalMs: 250 });
      });

      const since = Date.now();
      const queued = await test.step(`setup: ${jobs} uploads from ${c.tier} tenants queue ${jobs} jobs on percolate.jobs.${c.tier}`, async () => {
        return mapConcurrent(Array.from({ length: jobs }, (_, i) => i), 8, async (i) => {
          const owner = owners[i % owners.length]!;
          const form = new FormData();
          form.append('file', new Blob([`${testId} job ${i} of ${owner}`]), `${testId}-${i}.txt`);
          const res = await http(`${endpoints.gatewayUrl}/upload`, { method: 'POST', body: form, headers: tenantHeaders({ token: await tenants.token(owner) }) });
          expect(res.status, res.text).toBe(202);
          return { owner, id: res.body.job_id as string };
        });
      });

      const released = Date.now();
      // Two polls decide (KEDA activates, the HPA scales up); the lag is read at the first.
      const decideMs = 2 * deadlines.pollMs + deadlines.metricSeenMs;
      await test.step(`assess: released, ${workers} goes 0 → ceil(${jobs} / ${threshold}) = ${Math.ceil(jobs / threshold)}${expected < Math.ceil(jobs / threshold) ? ` held to its max ${so.maxReplicaCount}` : ''} = ${expected} within ${(decideMs / 1000).toFixed(1)} s`, async () => {
        await cluster.resumeAutoscaling(workers);
        await eventually(`${workers} at ${expected} replicas`, () => cluster.getReplicas(workers), (n) => n === expected, { timeoutMs: decideMs, intervalMs: 100 });
        measure(test.info(), `T2 ${c.tier} workers scaled 0 → ${expected} (release → decided)`, (Date.now() - released) / 1000, 's', { op: '<', value: decideMs / 1000, source: 'time profile: 2 polls + metric seen' });
      });

      const doneMs = deadlines.jobDoneMs + Math.ceil(jobs / expected) * timeProfile.parseMs[1];
      await test.step(`assess: all ${jobs} jobs done within ${(doneMs / 1000).toFixed(1)} s`, async () => {
        await eventually(`${jobs} ${c.tier} jobs done`, async () => {
          const states = await mapConcurrent(queued, 8, async (j) => (await http(`${endpoints.gatewayUrl}/jobs/${j.id}`, { headers: tenantHeaders({ token: await tenants.token(j.owner) }) })).body.state as string);
          return states.filter((s) => s !== 'done').length;
        }, (pending) => pending === 0, { timeoutMs: doneMs, intervalMs: 500 });
      });

      await test.step(`assess: ${workers} never above ${expected}, and no other tier’s workers started`, async () => {
        // Every scale since the first upload is one of the autoscaler's decisions: their peaks are the pools' peaks.
        const { peak, points } = await peaksSince((o) => cluster.getScalingEvents(o), since);
        await recordSeries(test.info(), { name: `T2 workers per tier: ${c.tier} backlog`, unit: 'replicas', points });
        expect(peak[workers], `${workers} peak replicas`).toBe(expected);
        const others = Object.fromEntries(WORKER_WORKLOADS.filter((w) => w !== workers).map((w) => [w, peak[w]]));
        expect(others, 'peak replicas of the other tiers’ workers while the backlog was worked off').toEqual(Object.fromEntries(Object.keys(others).map((w) => [w, 0])));
      });
    });
  }
});
