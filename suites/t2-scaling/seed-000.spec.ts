import { http, tenantHeaders } from '../../lib/http.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';

/**
 * Seed 000's performance table, the scaling rows: a worker pod cold start (job published →
 * worker ready) and the KEDA scaling decision (metric change → scale). Publishing a job at
 * zero workers is both: the consumer's lag rises the moment the gateway's publish is
 * acknowledged, which is before its 202.
 */
test.describe('seed 000 scaling figures', () => {
  test('seed 000: a job at zero workers starts one within the cold-start bound, decided within the decision bound @nightly @pr', async ({ cluster, endpoints, tenants, pools, deadlines, plan, testId }) => {
    const owner = tenants.ofTier('small', 1)[0]!.id;
    await test.step('setup: one database pod for the result; workers owned by the autoscaler, at zero', async () => {
      await pools.hold(DB_SMALL, 1);
      await eventually(`${WORKER_SMALL} at 0 pods`, () => cluster.listPods({ workload: WORKER_SMALL }), (pods) => pods.length === 0, { timeoutMs: deadlines.scaleToZeroMs });
    });

    const published = await test.step('assess: one upload through the gateway', async () => {
      const form = new FormData();
      form.append('file', new Blob([`${testId} cold worker`]), `${testId}.txt`);
      const before = Date.now();
      const res = await http(`${endpoints.gatewayUrl}/upload`, { method: 'POST', body: form, headers: tenantHeaders({ token: await tenants.token(owner) }) });
      expect(res.status, res.text).toBe(202);
      return { at: before, jobId: res.body.job_id as string };
    });

    await test.step(`assess: a worker is ready within ${plan.seed000.workerColdStartSeconds} s of the publish`, async () => {
      await eventually(`a ready ${WORKER_SMALL} pod`, () => cluster.listPods({ workload: WORKER_SMALL }), (pods) => pods.some((p) => p.ready), { timeoutMs: plan.seed000.workerColdStartSeconds * 1000 + deadlines.metricSeenMs, intervalMs: 100 });
      measure(test.info(), 'seed 000 worker cold start (publish → ready)', (Date.now() - published.at) / 1000, 's', { op: '<', value: plan.seed000.workerColdStartSeconds, source: 'targets.yaml seed000.workerColdStartSeconds' });
    });

    await test.step(`assess: the scaling decision came within ${plan.seed000.scalingDecisionSeconds} s of the metric change`, async () => {
      const scaled = (await cluster.getScalingEvents({ since: published.at })).find((e) => e.scaledObject === WORKER_SMALL && e.replicasAfter > e.replicasBefore);
      expect(scaled, `a scale-up event of ${WORKER_SMALL}`).toBeTruthy();
      measure(test.info(), `seed 000 scaling decision (publish → ${scaled!.actor} ${scaled!.reason})`, (scaled!.at - published.at) / 1000, 's', { op: '<', value: plan.seed000.scalingDecisionSeconds, source: 'targets.yaml seed000.scalingDecisionSeconds' });
    });

    await test.step('assess: and the job is done', async () => {
      await eventually(`job ${published.jobId} done`, async () => (await http(`${endpoints.gatewayUrl}/jobs/${published.jobId}`, { headers: tenantHeaders({ token: await tenants.token(owner) }) })).body.state, (s) => s === 'done', { timeoutMs: deadlines.jobDoneMs });
    });
  });
});
