import { skipUnless } from '../../cluster/target.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { pollBound } from '../../lib/poll.ts';
import { ChaosRun } from './chaos-run.ts';

test.describe('T6.1 pod failure', () => {
  test('T6.1 a database pod killed under load: back within the bound, no acknowledged write lost @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines, testId }) => {
    const s = skipUnless(cluster, 'localChaos');
    test.skip(s.skip && !cluster.capabilities.has('chaosMesh'), s.reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t61${testId}` });
    let created = new Map<string, number>();

    await test.step('setup: three database pods, clients writing through the load balancer', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      created = new Map(pods.map((p) => [p.name, p.createdAt]));
      await run.startAndWarm(60, deadlines.recoveryMs);
    });

    await test.step('fault: chaos/db-pod-kill.yaml (PodChaos pod-kill, gracePeriod 0)', async () => {
      run.mark('chaos-start', 'db-pod-kill');
      await faults.applyExperiment('chaos/db-pod-kill.yaml');
      await expect.poll(async () => (await cluster.listPods({ workload: DB_SMALL })).filter((p) => p.ready && !p.terminating && p.createdAt > (created.get(p.name) ?? Infinity)).length, {
        // The bound of the wait, not the verdict: recovery is measured from the clients' ledger.
        ...pollBound('the killed pod recreated and ready', deadlines.recoveryMs),
      }).toBe(1);
      await cluster.waitForReplicasReady(DB_SMALL, 3, { timeoutMs: deadlines.recoveryMs });
      run.mark('chaos-stop', 'pod recreated and ready');
      await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
    });

    await test.step('assess: recovery time and the checker\'s verdict from every replica', async () => {
      const d = await run.stop();
      measure(test.info(), 'recovery time', d.recoveryMs / 1000, 's', { op: '<', value: plan.chaos.podKillRecoverySeconds, source: 'targets.yaml chaos.podKillRecoverySeconds (seed 003 T6.1)' });
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
    });
  });
});
