import { skipUnless } from '../../cluster/target.ts';
import { measure } from '../lib/measure.ts';
import { test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { ChaosRun } from './chaos-run.ts';

test.describe('T6.2 node failure', () => {
  test('T6.2 a node holding a database pod drained under load, one pod at a time: within the bound, nothing lost @pr', async ({ cluster, endpoints, tenants, pools, plan, deadlines, testId }) => {
    const s = skipUnless(cluster, 'nodeDrain');
    test.skip(s.skip, s.reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t62${testId}` });
    let node = '';
    let drainMs = 0;

    await test.step('setup: three database pods, clients writing through the load balancer', async () => {
      const pods = await pools.hold(DB_SMALL, 3);
      // Of the nodes holding a database pod, the one with the fewest pods in all: every pod
      // a drain evicts waits for its replacement to be ready, so a busier node measures the
      // other workloads' start-up, not the database's migration.
      const all = await cluster.listPods();
      const load = (n: string) => all.filter((p) => p.node === n && !p.terminating).length;
      node = pods.map((p) => p.node).sort((a, b) => load(a) - load(b))[0]!;
      test.info().annotations.push({ type: 'measured', description: `draining ${node}: ${all.filter((p) => p.node === node).map((p) => p.name).join(', ')}` });
      await run.startAndWarm(60, deadlines.recoveryMs);
    });

    try {
      await test.step('fault: kubectl drain of the node (cordon, evictions one at a time as the PodDisruptionBudget allows)', async () => {
        run.mark('chaos-start', `drain ${node}`);
        const started = Date.now();
        await cluster.drainNode(node, { timeoutMs: plan.chaos.nodeDrainRecoverySeconds * 1000 + deadlines.podReadyMs });
        drainMs = Date.now() - started;
        run.mark('chaos-stop', `${node} empty`);
        const moved = (await cluster.listPods({ workload: DB_SMALL })).filter((p) => p.node === node);
        test.info().annotations.push({ type: 'measured', description: `${node} drained in ${(drainMs / 1000).toFixed(1)} s; database pods left on it: ${moved.length}` });
        await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
      });
    } finally {
      await cluster.uncordonNode(node);
    }

    await test.step('assess: pods migrated within the bound, recovery time and the checker\'s verdict', async () => {
      const d = await run.stop();
      measure(test.info(), 'drain (pods migrated and ready)', drainMs / 1000, 's', { op: '<', value: plan.chaos.nodeDrainRecoverySeconds, source: 'targets.yaml chaos.nodeDrainRecoverySeconds (seed 003 T6.2)' });
      measure(test.info(), 'recovery time', d.recoveryMs / 1000, 's', { op: '<', value: plan.chaos.nodeDrainRecoverySeconds, source: 'targets.yaml chaos.nodeDrainRecoverySeconds (seed 003 T6.2)' });
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
    });
  });
});
