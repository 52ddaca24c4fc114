import { type Flow, type NetworkPeer, flowAllowed } from '../../cluster/manifests/network-policy.ts';
import { findObject, renderOverlay } from '../../cluster/manifests/render.ts';
import { containerPorts } from '../../cluster/manifests/workloads.ts';
import type { RenderedManifests } from '../../cluster/manifests/types.ts';
import { DB_SMALL, GATEWAY, NAMESPACE, NATS, PROMETHEUS, WORKER_SMALL, dbWorkload } from '../../lib/names.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';
import { requireCapability } from '../fixtures/target.ts';

type Peer = 'dbSmall' | 'dbLarge' | 'worker' | 'gateway' | 'nats' | 'prometheus' | 'ingress' | 'keda' | 'outsider' | 'kubeDns' | 'internet';

/** The peers of the table, with the labels the rendered manifests give their pods. */
function peers(m: RenderedManifests): Record<Peer, NetworkPeer> {
  const template = (kind: string, name: string) => ({ namespace: NAMESPACE, labels: findObject(m, kind, name).spec.template.metadata.labels as Record<string, string> });
  return {
    dbSmall: template('StatefulSet', DB_SMALL),
    dbLarge: template('StatefulSet', dbWorkload('large')),
    worker: template('Deployment', WORKER_SMALL),
    gateway: template('Deployment', GATEWAY),
    nats: template('StatefulSet', NATS),
    prometheus: template('Deployment', PROMETHEUS),
    ingress: { namespace: 'istio-system', labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' } },
    keda: { namespace: 'keda', labels: { app: 'keda-operator' } },
    outsider: { namespace: 'default', labels: { app: 'curl' } },
    kubeDns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    internet: { ip: '203.0.113.7' },
  };
}

/** The workloads behind the peers that are pods of this cluster. */
const WORKLOAD_OF: Partial<Record<Peer, string>> = {
  dbSmall: DB_SMALL, dbLarge: dbWorkload('large'), worker: WORKER_SMALL, gateway: GATEWAY, nats: NATS, prometheus: PROMETHEUS,
};
/** The peers a flow can be tried from: pods of our own workloads. */
const SOURCES: readonly Peer[] = ['dbSmall', 'dbLarge', 'worker', 'gateway'];

/** Flows the architecture needs (must be allowed) and flows it must never permit. */
const MUST_ALLOW: Array<[Peer, Peer, number, string]> = [
  ['ingress', 'dbSmall', 8080, 'clients reach the database through the ingress'],
  ['worker', 'dbSmall', 8080, 'workers write results through the mesh'],
  ['worker', 'dbLarge', 8080, 'a tier’s workers write to their tier'],
  ['prometheus', 'dbSmall', 8080, 'scrapes'],
  ['dbSmall', 'nats', 4222, 'sync stream'],
  ['worker', 'nats', 4222, 'job queue'],
  ['gateway', 'nats', 4222, 'uploads and jobs'],
  ['keda', 'nats', 8222, 'KEDA reads JetStream lag from monitoring'],
  ['keda', 'prometheus', 9090, 'KEDA reads the active-tenant metric'],
  ['ingress', 'gateway', 8082, 'uploads'],
];
const MUST_REFUSE: Array<[Peer, Peer, number, string]> = [
  ['worker', 'dbSmall', 9229, 'worker → db admin (any port but the API: debug, admin)'],
  ['worker', 'dbSmall', 9090, 'worker → db admin port'],
  ['gateway', 'dbSmall', 8080, 'the gateway is never in the path of database reads'],
  ['dbSmall', 'dbLarge', 8080, 'a tier’s pods → another tier’s'],
  ['dbLarge', 'dbSmall', 8080, 'a tier’s pods → another tier’s'],
  ['dbSmall', 'dbSmall', 8080, 'db → db (replication goes through NATS)'],
  ['worker', 'nats', 8222, 'NATS monitoring: only KEDA and Prometheus'],
  ['dbSmall', 'nats', 8222, 'NATS monitoring: only KEDA and Prometheus'],
  ['gateway', 'nats', 8222, 'NATS monitoring: only KEDA and Prometheus'],
  ['outsider', 'nats', 8222, 'NATS monitoring: only KEDA and Prometheus'],
  ['outsider', 'dbSmall', 8080, 'a pod of another namespace'],
  ['outsider', 'nats', 4222, 'a pod of another namespace'],
  ['keda', 'dbSmall', 8080, 'KEDA reads metrics, not data'],
  ['ingress', 'nats', 4222, 'the edge reaches only the APIs'],
  ['dbSmall', 'internet', 443, 'no egress to the internet'],
  ['worker', 'internet', 443, 'no egress to the internet'],
  ['dbSmall', 'kubeDns', 8080, 'DNS only on 53'],
];

/**
 * T4.5: the rendered NetworkPolicies, evaluated as a CNI applies them (default deny, a flow
 * needs the source's egress and the destination's ingress), against the table above; then
 * the same table tried on the running cluster, from its pods, where the target enforces
 * the policies (`networkPolicies`: the sidecars locally, configured from that evaluation)
 * — the rows whose source is a pod of ours and whose port some pod serves.
 */
test.describe('T4.5 network policies', () => {
  test('T4.5 the rendered policies allow each needed flow and refuse each forbidden one @pr', async ({ cluster, profile }) => {
    const m = await test.step('setup: render the manifests of the profile', async () => renderOverlay(profile));
    const p = peers(m);
    const flow = (from: Peer, to: Peer, port: number): Flow => ({ from: p[from], to: p[to], port, protocol: to === 'kubeDns' ? 'UDP' : 'TCP' });

    await test.step('assess: the table', async () => {
      const wrong: string[] = [];
      for (const [from, to, port, why] of MUST_ALLOW) if (!flowAllowed(m, flow(from, to, port))) wrong.push(`refused but needed: ${from} → ${to}:${port} (${why})`);
      for (const [from, to, port, why] of MUST_REFUSE) if (flowAllowed(m, flow(from, to, port))) wrong.push(`allowed but forbidden: ${from} → ${to}:${port} (${why})`);
      measure(test.info(), 'flows decided against the table', wrong.length, 'flows', { op: '==', value: 0, source: `T4.5: ${MUST_ALLOW.length} must-allow, ${MUST_REFUSE.length} must-refuse` }, wrong.join('; '));
      expect(wrong).toEqual([]);
    });

  });

  test('T4.5 the running cluster refuses each forbidden flow from a pod and lets each needed one through @pr', async ({ cluster, profile, pools }) => {
    const policies = requireCapability(cluster, 'networkPolicies');
    const m = await renderOverlay(profile);
    const containerPortsOf = (peer: Peer): number[] => {
      const workload = WORKLOAD_OF[peer];
      return workload ? ['Deployment', 'StatefulSet'].flatMap((kind) => containerPorts(m, kind, workload)).map((p) => p.port) : [];
    };
    // A flow the cluster can try: from a pod of ours, to a port some pod of the cluster serves.
    const triable = ([from, to, port]: [Peer, Peer, number, string]) => SOURCES.includes(from) && containerPortsOf(to).includes(port);
    const rows = [...MUST_ALLOW.filter(triable).map((r) => ({ row: r, want: 'allowed' as const })), ...MUST_REFUSE.filter(triable).map((r) => ({ row: r, want: 'refused' as const }))];

    const from = await test.step('setup: a ready pod of every source and destination', async () => {
      await Promise.all([pools.hold(DB_SMALL, 1), pools.hold(dbWorkload('large'), 1), pools.hold(WORKER_SMALL, 1)]);
      const pods = await cluster.listPods();
      return Object.fromEntries(SOURCES.map((peer) => {
        const pod = pods.find((p) => p.workload === WORKLOAD_OF[peer] && p.ready && !p.terminating);
        expect(pod, `a ready pod of ${WORKLOAD_OF[peer]}`).toBeDefined();
        return [peer, pod!.name];
      })) as Record<Peer, string>;
    });

    await test.step(`assess: ${rows.length} flows of the table tried from the pods`, async () => {
      const wrong: string[] = [];
      for (const { row: [src, dst, port, why], want } of rows) {
        const probe = await policies.probeFlow(from[src], { workload: WORKLOAD_OF[dst]!, port });
        if (probe.outcome !== want) wrong.push(`${src} → ${dst}:${port} (${why}): expected ${want}, was ${probe.outcome}: ${probe.detail}`);
      }
      const notTried = [...MUST_ALLOW, ...MUST_REFUSE].filter((r) => !triable(r)).map(([a, b, port]) => `${a} → ${b}:${port}`);
      test.info().annotations.push({ type: 'flows not tried live', description: `${notTried.length} (no pod of ours at the source, or no such port in the cluster): ${notTried.join(', ')}` });
      measure(test.info(), 'flows tried from pods', rows.length, 'flows', { op: '>=', value: 10, source: 'every triable row of the T4.5 table' });
      measure(test.info(), 'live flows not as the table says', wrong.length, 'flows', { op: '==', value: 0, source: 'T4.5: a forbidden flow attempted is refused' }, wrong.join('; '));
      expect(wrong).toEqual([]);
    });
  });
});
