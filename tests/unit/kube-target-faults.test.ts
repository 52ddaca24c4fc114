import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClusterTarget } from '../../cluster/kube/target.ts';
import { validateResource } from '../../cluster/chaos/schema.ts';
import { capabilityOf } from '../../cluster/target.ts';
import { type KubeApiRequest, UNREACHABLE_ENDPOINTS, startFakeKubeApi } from '../helpers/fake-kube-api.ts';

// What the kube target sends Chaos Mesh for a zone outage and a container crash, seen by a
// fake API server that knows PodChaos (discovery, server-side apply, delete) and one pod, and
// records every request.
describe('kube target: faults through Chaos Mesh', () => {
  /** The pod's container restarts once a container-kill has been applied, if `restartsOnKill`. */
  let restartCount = 0;
  let restartsOnKill = true;
  const pod = () => ({
    kind: 'Pod', apiVersion: 'v1', metadata: { name: 'percolate-worker-x', namespace: 'percolate' },
    spec: { containers: [{ name: 'istio-proxy', image: 'proxy' }, { name: 'worker', image: 'percolate/worker:0.1.0' }] },
    status: { containerStatuses: [{ name: 'istio-proxy', restartCount: 7 }, { name: 'worker', restartCount }] },
  });
  let api: Awaited<ReturnType<typeof startFakeKubeApi>>;
  let requests: KubeApiRequest[];
  let target: (kind?: 'kube' | 'k3s') => KubeClusterTarget;

  beforeAll(async () => {
    api = await startFakeKubeApi(({ method, url, body }) => {
      if (url === '/apis/chaos-mesh.org/v1alpha1') {
        return { kind: 'APIResourceList', groupVersion: 'chaos-mesh.org/v1alpha1', resources: [{ name: 'podchaos', singularName: 'podchaos', namespaced: true, kind: 'PodChaos', verbs: ['create', 'delete', 'get', 'list', 'patch'] }] };
      }
      if (url === '/api/v1/namespaces/percolate/pods/percolate-worker-x') return pod();
      if (method === 'PATCH') {
        if (restartsOnKill && body.includes('container-kill')) restartCount++;
        return body;
      }
      if (method === 'DELETE') return { kind: 'Status', status: 'Success' };
      return undefined;
    });
    requests = api.requests;
    target = (kind = 'kube') => new KubeClusterTarget(api.kubeConfig, { kind, endpoints: UNREACHABLE_ENDPOINTS });
  });
  afterAll(() => api?.close());

  it('fails every pod on the zone\'s nodes with a bounded PodChaos, and restoring deletes it', async () => {
    const kube = target();
    expect(kube.capabilities.has('zoneFailure')).toBe(true);
    await capabilityOf(kube, 'zones')!.failZone('zone-b');
    const apply = requests.find((r) => r.method === 'PATCH')!;
    expect(apply.url).toMatch(/^\/apis\/chaos-mesh\.org\/v1alpha1\/namespaces\/percolate\/podchaos\/zone-b-pod-failure\?/);
    const sent = validateResource(JSON.parse(apply.body));
    expect(sent).toMatchObject({ kind: 'PodChaos', spec: { action: 'pod-failure', mode: 'all', duration: '10m', selector: { namespaces: ['percolate'], nodeSelectors: { 'topology.kubernetes.io/zone': 'zone-b' } } } });

    await capabilityOf(kube, 'zones')!.restoreZone('zone-b');
    expect(requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual(['/apis/chaos-mesh.org/v1alpha1/namespaces/percolate/podchaos/zone-b-pod-failure']);
  });

  it('killPod crashes the container with a one-shot container-kill, waits for its restart, then deletes the experiment', async () => {
    requests.length = 0;
    await target().killPod('percolate-worker-x');
    const apply = requests.find((r) => r.method === 'PATCH')!;
    const sent = validateResource(JSON.parse(apply.body));
    expect(sent).toMatchObject({ kind: 'PodChaos', spec: { action: 'container-kill', mode: 'all', containerNames: ['worker'], selector: { pods: { percolate: ['percolate-worker-x'] } } } });
    expect(requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual([apply.url.replace(/\?.*$/, '')]);
    await expect(target().killPod('percolate-worker-x', { signal: 'SIGSTOP' })).rejects.toThrow(/killPod\(SIGSTOP\).*only SIGKILL/);
  });

  it('killPod fails, naming its bound, when the container never restarts, and still deletes the experiment', async () => {
    requests.length = 0;
    restartsOnKill = false;
    try {
      await expect(target().killPod('percolate-worker-x', { timeoutMs: 1_000 })).rejects.toThrow(/container worker restarted after container-kill.*1(\.0)? ?s/);
      expect(requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    } finally {
      restartsOnKill = true;
    }
  });

  it('k3s, one node in one zone, does not offer a zone failure', () => {
    expect(target('k3s').capabilities.has('zoneFailure')).toBe(false);
  });
});
