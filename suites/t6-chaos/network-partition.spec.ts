import { skipUnless } from '../../cluster/target.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { test } from '../fixtures/index.ts';
import { DB_SMALL } from '../../lib/names.ts';
import { ChaosRun } from './chaos-run.ts';

/*
 * Database pods exchange no traffic with one another: replication goes through the NATS
 * sync stream, so "cut from each other" and "cut from NATS" are the same cut, and the
 * local executor refuses a pod-to-pod partition as meaningless. The design's answer to a
 * partition is that a write is acknowledged only once JetStream stored it: the cut side
 * must refuse (503, in doubt to the client), never acknowledge, and after the heal LWW must
 * leave every replica at the last acknowledged value — no split brain.
 */
test.describe('T6.6 network partition', () => {
  test('T6.6 database pods cut from NATS: writes refused, never acknowledged; after the heal every replica agrees @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines, testId }) => {
    const s = skipUnless(cluster, 'localChaos');
    test.skip(s.skip && !cluster.capabilities.has('chaosMesh'), s.reason);
    const run = await ChaosRun.create({ tenants, baseUrl: endpoints.loadBalancerUrl, count: 20, runTag: `t66${testId}` });
    let cutAt = 0;
    let healAt = 0;

    await test.step('setup: three database pods, clients writing through the load balancer', async () => {
      await pools.hold(DB_SMALL, 3);
      await run.startAndWarm(60, deadlines.recoveryMs);
    });

    await test.step('fault: chaos/db-nats-network-partition.yaml (NetworkChaos partition, database pods ↔ NATS, both ways)', async () => {
      run.mark('chaos-start', 'db ↔ nats partition');
      await faults.applyExperiment('chaos/db-nats-network-partition.yaml');
      cutAt = Date.now();
      // Answered, not refused: a build that acknowledges across the cut must reach the checker.
      await run.answered(16, cutAt, 'while the partition holds', deadlines.faultMarginMs);
      await cluster.recover();
      healAt = run.mark('chaos-stop', 'partition healed');
      await run.afterRecovery(60, Date.now(), deadlines.recoveryMs);
    });

    await test.step('assess: nothing acknowledged across the cut, the time to take writes again, the checker\'s verdict', async () => {
      const d = await run.stop();
      const during = run.workload.ledger.ops.filter((o) => o.start >= cutAt && o.end <= healAt);
      const ackedDuringCut = during.filter((o) => o.outcome === 'ok').length;
      recordFigure(test.info(), { name: 'writes attempted across the cut', value: during.length, unit: 'ops' });
      const firstOkAfterHeal = Math.min(...run.workload.ledger.ops.filter((o) => o.outcome === 'ok' && o.start >= healAt).map((o) => o.end));
      recordFigure(test.info(), { name: 'writes taken again after the heal', value: (firstOkAfterHeal - healAt) / 1000, unit: 's' });
      // The checker first: what a write acknowledged across the cut did to the replicas is the finding.
      await run.verdict(test.info(), { cluster, workload: DB_SMALL, replicas: 3, deadlines, plan, disruption: d });
      measure(test.info(), 'writes acknowledged while cut from NATS', ackedDuringCut, 'ops', { op: '==', value: 0, source: 'docs/design.md §4: acknowledged only after JetStream stored it' });
    });
  });
});
