import { beforeAll, describe, expect, it } from 'vitest';
import { type K8sObject, renderOverlay, validateObjects } from '../../cluster/manifests.ts';
import { serviceImages } from '../../cluster/images/images.ts';
import { type InstallStep, describePlan, installPlan, loadVersions } from '../../cluster/k3s/plan.ts';
import { formatMissing, installHint } from '../../cluster/kube/preflight.ts';
import { scalingEventOf } from '../../cluster/kube/target.ts';

let manifests: K8sObject[] = [];
beforeAll(async () => { manifests = (await renderOverlay('fast')).objects; });
const plan = () => installPlan({ versions: loadVersions(), profile: 'fast', images: serviceImages(), manifests, secretsJson: '{}' });
const index = (steps: InstallStep[], pred: (s: InstallStep) => boolean) => steps.findIndex(pred);

describe('k3s install plan', () => {
  it('is the same for the same input (pure)', () => {
    expect(plan()).toEqual(plan());
  });

  it('pins every chart to an exact version, installed by k3s\'s helm-controller, in the versions file\'s order', () => {
    const v = loadVersions();
    const charts = plan().filter((s): s is Extract<InstallStep, { kind: 'helm-chart' }> => s.kind === 'helm-chart');
    expect(charts.map((c) => c.name)).toEqual(v.order);
    expect(charts.map((c) => c.name)).toEqual(['istio-base', 'istiod', 'istio-ingressgateway', 'keda', 'keda-http-add-on', 'chaos-mesh', 'k6-operator']);
    for (const c of charts) {
      expect(c.object.apiVersion).toBe('helm.cattle.io/v1');
      expect(c.object.spec.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(c.object.spec.version).toBe(v.charts[c.name]!.version);
      expect(c.object.spec.repo).toMatch(/^https:\/\//);
    }
    // Chaos Mesh talks to k3s's own containerd.
    const chaos = charts.find((c) => c.name === 'chaos-mesh')!;
    expect(chaos.object.spec.valuesContent).toContain('socketPath: /run/k3s/containerd/containerd.sock');
    expect(v.k3s.tag).toMatch(/^v\d+\.\d+\.\d+-k3s\d+$/);
  });

  it('starts k3s labelled with the manifests\' locality, imports our images, and applies the overlay only after the operators are up', () => {
    const steps = plan();
    expect(steps[0]!.kind).toBe('start-k3s');
    const start = steps[0] as Extract<InstallStep, { kind: 'start-k3s' }>;
    expect(start.args).toContain('--node-label=topology.kubernetes.io/region=region-1');
    expect(start.args).toContain('--node-label=topology.kubernetes.io/zone=zone-a');
    expect((steps[1] as Extract<InstallStep, { kind: 'import-images' }>).images.map((i) => i.ref).sort())
      .toEqual(['percolate/db-node:0.1.0', 'percolate/gateway:0.1.0', 'percolate/worker:0.1.0']);
    const lastOperatorWait = Math.max(...steps.map((s, i) => (s.kind === 'wait' && s.check.type !== 'workloads-ready' ? i : -1)));
    const overlay = index(steps, (s) => s.kind === 'apply' && s.what === 'manifests/overlays/fast');
    const secret = index(steps, (s) => s.kind === 'apply' && s.objects.some((o) => o.kind === 'Secret'));
    expect(lastOperatorWait).toBeLessThan(secret);
    expect(secret).toBeLessThan(overlay);
    // Every wait is bounded.
    for (const s of steps) if (s.kind === 'wait') expect(s.timeoutSeconds).toBeGreaterThan(0);
    expect(steps.at(-1)).toMatchObject({ kind: 'wait', check: { type: 'workloads-ready' } });
  });

  it('what it applies of its own is valid Kubernetes (the manifests\' validator), and every port it publishes is a NodePort', () => {
    const own = plan().filter((s): s is Extract<InstallStep, { kind: 'apply' }> => s.kind === 'apply' && s.what !== 'manifests/overlays/fast').flatMap((s) => s.objects);
    expect(validateObjects(own)).toEqual([]);
    const start = plan()[0] as Extract<InstallStep, { kind: 'start-k3s' }>;
    const nodePorts = own.filter((o) => o.kind === 'Service').flatMap((o) => o.spec.ports.map((p: { nodePort: number }) => p.nodePort));
    for (const p of nodePorts) expect(start.exposedPorts).toContain(p);
    expect(describePlan(plan()).join('\n')).toContain('helm chaos-mesh 2.7.1 → chaos-mesh');
  });

  it('the kube preflight names each missing operator with its pinned install command', () => {
    const v = loadVersions();
    expect(installHint('keda', v)).toBe('helm upgrade --install keda keda --repo https://kedacore.github.io/charts --version 2.16.1 --namespace keda --create-namespace');
    expect(formatMissing([{ chart: 'keda', crds: ['scaledobjects.keda.sh'], install: installHint('keda', v) }])).toContain('keda (no scaledobjects.keda.sh)');
  });

  it('scaling history on a cluster comes from the HPA\'s and KEDA\'s events', () => {
    const so = [{ name: 'percolate-db-small', target: { kind: 'StatefulSet', name: 'percolate-db-small' } }];
    const hpa = scalingEventOf({
      metadata: {}, involvedObject: { kind: 'HorizontalPodAutoscaler', name: 'keda-hpa-percolate-db-small' }, reason: 'SuccessfulRescale',
      message: 'New size: 3; reason: external metric s0-prometheus(nil) above target', lastTimestamp: new Date(1_000),
    }, so);
    expect(hpa).toMatchObject([{ actor: 'hpa', reason: 'scale-up', replicasAfter: 3, scaledObject: 'percolate-db-small', at: 1_000 }]);
    const keda = scalingEventOf({ metadata: {}, involvedObject: { kind: 'ScaledObject', name: 'percolate-db-small' }, reason: 'KEDAScaleTargetActivated', lastTimestamp: new Date(2_000) }, so);
    expect(keda).toMatchObject([{ actor: 'keda', reason: 'activated', replicasBefore: 0, replicasAfter: 1 }]);
    expect(scalingEventOf({ metadata: {}, involvedObject: { kind: 'Pod', name: 'x' }, reason: 'Killing' }, so)).toEqual([]);
  });
});
