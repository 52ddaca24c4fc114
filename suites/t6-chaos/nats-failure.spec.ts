import type { ClusterTarget } from '../../cluster/target.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure } from '../lib/measure.ts';
import { test } from '../fixtures/index.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import { ChaosRun } from './chaos-run.ts';
import { SYNC_STREAM } from '../../reference-services/shared/nats.ts';

type NatsChaos = Required<Pick<ClusterTarget, 'natsNodes' | 'killNatsNode' | 'restoreNatsNode'>>;

/** Why T6.4 cannot run on a target, or undefined when it can: it needs a NATS cluster of at least three servers it can stop. */
async function natsChaosOf(cluster: ClusterTarget): Promise<{ nats?: NatsChaos; reason: string }> {
  if (!cluster.natsNodes || !cluster.killNatsNode || !cluster.restoreNatsNode) return { reason: `the ${cluster.kind} target cannot list or stop NATS servers (natsNodes / killNatsNode / restoreNatsNode)` };
  const nodes = await cluster.natsNodes();
  if (nodes.length < 3) return { reason: `the ${cluster.kind} target runs ${nodes.length} NATS server(s); T6.4 needs a 3-node JetStream R3 cluster` };
  return { nats: cluster as unknown as NatsChaos, reason: '' };
}

test.describe('T6.4 NATS failure', () => {
  test('T6.4 one NATS node lost: nothing interrupted @pr', async ({ cluster, endpoints, tenants, pools, plan, deadlines, testId }) => {
    const { nats, reason } = await natsChaosOf(cluster);
    test.skip(!nats, reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t64a${testId}` });
    await test.step('setup: three database pods, clients writing', async () => {
      await pools.hold(DB_SMALL, 3);
      await run.startAndWarm(60, deadlines.recoveryMs);
    });
    await test.step('fault: the NATS server leading the replication stream stopped (an election follows), then restored', async () => {
      // The leader of the database's replication stream: losing it is what interrupts writes
      // until its peers elect another (a follower's loss changes nothing), so it is the one
      // stopped. A target that cannot tell stops the first server.
      const nodes = await nats!.natsNodes();
      const victim = nodes.find((n) => n.leads?.includes(SYNC_STREAM)) ?? nodes[0]!;
      test.info().annotations.push({ type: 'fault', description: `${victim.name} stopped (SIGKILL): ${victim.leads?.includes(SYNC_STREAM) ? `leader of ${SYNC_STREAM}` : 'the target does not say which server leads the stream'}` });
      run.mark('chaos-start', `${victim.name} down`);
      await nats!.killNatsNode(victim.index);
      try {
        await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
      } finally {
        await nats!.restoreNatsNode(victim.index);
        run.mark('chaos-stop', `${victim.name} restored`);
      }
      await eventually('all NATS servers up again', async () => (await nats!.natsNodes()).every((n) => n.up), (up) => up, { timeoutMs: deadlines.podReadyMs });
    });
    await test.step('assess: no failed operation, the checker\'s verdict', async () => {
      const d = await run.stop();
      measure(test.info(), 'failed operations with one NATS node down', d.failed, 'ops', { op: '<=', value: plan.chaos.natsNodeLossFailures, source: 'targets.yaml chaos.natsNodeLossFailures' }, d.failures);
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
    });
  });

  test('T6.4 NATS quorum lost: writes refused (never acknowledged), jobs held, then delivered once @pr', async ({ cluster, endpoints, tenants, pools, plan, deadlines, testId }) => {
    const { nats, reason } = await natsChaosOf(cluster);
    test.skip(!nats, reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t64b${testId}` });
    const owner = tenants.ofTier('small', 1)[0]!.id;
    const token = await tenants.token(owner);
    const jobIds: string[] = [];
    let lostAt = 0;
    let restoringAt = 0;

    await test.step('setup: three database pods, no worker (jobs wait in the queue), ten jobs queued, clients writing', async () => {
      await pools.hold(DB_SMALL, 3);
      await pools.hold(WORKER_SMALL, 0);
      for (let i = 0; i < 10; i += 1) {
        // As a client does with a 503 and Retry-After (NATS may still be settling after the
        // previous fault): the same upload again, under its key, so it is one job however often.
        const res = await eventually(`upload ${i} queued`, async () => {
          const form = new FormData();
          form.append('file', new Blob([`${testId} job ${i}`]), `job-${i}.txt`);
          return http(`${endpoints.gatewayUrl}/upload`, { method: 'POST', body: form, headers: tenantHeaders({ token }, { 'idempotency-key': `t64${testId}-${i}`.replace(/[^A-Za-z0-9_.:-]/g, '') }) });
        }, (r) => r.status === 202, { timeoutMs: deadlines.recoveryMs, intervalMs: 1000, show: (r) => `${r.status} ${r.text}` });
        jobIds.push(String(res.body.job_id));
      }
      await run.startAndWarm(60, deadlines.recoveryMs);
    });

    await test.step('fault: two NATS servers of three stopped (quorum lost), then restored', async () => {
      run.mark('chaos-start', 'nats quorum lost');
      await nats!.killNatsNode(0);
      await nats!.killNatsNode(1);
      lostAt = Date.now();
      try {
        // Answered, not refused: a build that acknowledges without quorum must reach the checker.
        await run.answered(16, lostAt, 'without quorum', deadlines.faultMarginMs);
      } finally {
        // Quorum comes back the moment the first server of the two is up again: from here on
        // writes are rightly acknowledged, while the restore call is still waiting for it.
        restoringAt = run.mark('chaos-stop', 'restoring quorum');
        await nats!.restoreNatsNode(0);
        await nats!.restoreNatsNode(1);
      }
      await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
    });

    await test.step('assess: nothing acknowledged without quorum; the held jobs delivered and done once; the checker\'s verdict', async () => {
      const d = await run.stop();
      const acked = run.workload.ledger.ops.filter((o) => o.start >= lostAt && o.end <= restoringAt && o.outcome === 'ok').length;
      // The checker first: what a write acknowledged without quorum did to the replicas is the finding.
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
      measure(test.info(), 'writes acknowledged without quorum', acked, 'ops', { op: '==', value: 0, source: 'docs/design.md §4: losing quorum refuses writes' });
      await pools.hold(WORKER_SMALL, 1);
      await eventually(`the ${jobIds.length} held jobs done`, async () => mapConcurrent(jobIds, 4, async (id) =>
        (await http(`${endpoints.gatewayUrl}/jobs/${id}`, { headers: tenantHeaders({ token }) })).body.state as string), (st) => st.every((x) => x === 'done'), { timeoutMs: deadlines.jobsRecoveredMs, intervalMs: 1000 });
      const logs = (await Promise.all((await cluster.listPods({ workload: WORKER_SMALL })).map((p) => cluster.getPodLogs(p.name)))).join('\n');
      const twice = jobIds.filter((id) => logs.split('\n').filter((l) => l.includes('"job completed"') && l.includes(`"jobId":"${id}"`)).length > 1).length;
      measure(test.info(), 'jobs completed more than once', twice, 'jobs', { op: '<=', value: plan.chaos.duplicateJobs, source: 'targets.yaml chaos.duplicateJobs' });
    });
  });
});
