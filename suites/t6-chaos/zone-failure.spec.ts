import { skipUnless } from '../../cluster/target.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { eventually } from '../../lib/poll.ts';
import { ChaosRun } from './chaos-run.ts';

test.describe('T6.3 zone failure', () => {
  test('T6.3 a whole zone lost under load: traffic fails over, nothing lost, the zone comes back and takes its tenants again @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines, testId }) => {
    const s = skipUnless(cluster, 'zoneFailure');
    test.skip(s.skip, s.reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t63${testId}` });
    let zone = '';
    let zonePod = '';

    await test.step('setup: three database pods, one per zone, clients writing through the load balancer', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      expect(new Set(pods.map((p) => p.zone)).size, 'one database pod in each zone').toBe(3);
      zone = pods[0]!.zone;
      zonePod = pods[0]!.name;
      await run.startAndWarm(60, deadlines.recoveryMs);
    });

    let failoverMs = 0;
    await test.step('fault: the zone goes dark; clients are answered from the other zones', async () => {
      const at = run.mark('chaos-start', `${zone} down`);
      await faults.failZone(zone);
      // Failed over once a full round of writes after the fault succeeds for every tenant.
      await run.afterRecovery(2 * run.clients.length, Date.now(), deadlines.podReadyMs);
      failoverMs = Math.max(0, (run.workload.ledger.ops.filter((o) => o.end >= at && o.outcome !== 'ok').map((o) => o.end).sort((a, b) => b - a)[0] ?? at) - at);
    });

    await test.step('heal: the zone returns, its pod catches up and the load balancer gives it its tenants again', async () => {
      await cluster.restoreZone(zone);
      run.mark('chaos-stop', `${zone} restored`);
      await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.recoveryMs });
      await eventually(`${zonePod} in ${zone} serves tenants through the load balancer again (rebalanced)`, async () => {
        const served = await Promise.all(run.clients.map((c) => c.request('GET', '/api/v1/resources?limit=1', undefined, { timeoutMs: 5000 }).then((r) => r.servedBy, () => null)));
        return served.filter((p) => p === zonePod).length;
      }, (n) => n > 0, { timeoutMs: deadlines.metricSeenMs + deadlines.podReadyMs });
      await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
    });

    await test.step('assess: failover time and the checker\'s verdict from every replica, the returned zone included', async () => {
      const d = await run.stop();
      measure(test.info(), 'failover time', failoverMs / 1000, 's', { op: '<', value: plan.chaos.zoneFailoverSeconds, source: 'targets.yaml chaos.zoneFailoverSeconds' });
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
    });
  });
});
