import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROBE_LABEL, STALE_PROBE_MS, probeImage } from '../../cluster/kube/flow-probe.ts';
import { KubeClusterTarget } from '../../cluster/kube/target.ts';
import { capabilityOf } from '../../cluster/target.ts';
import { type KubeApiRequest, UNREACHABLE_ENDPOINTS, startFakeKubeApi } from '../helpers/fake-kube-api.ts';

// T4.5 on a cluster: what the kube target creates to try a flow from a pod, seen by a fake API
// server that knows a worker pod (the source), a database pod (the destination) and whatever
// the target creates, and records every request.
describe('kube target: flows tried from a probe pod', () => {
  const PODS = '/api/v1/namespaces/percolate/pods';
  const CONFIGMAPS = '/api/v1/namespaces/percolate/configmaps';
  const WORKER_LABELS = { 'app.kubernetes.io/name': 'percolate-worker', 'percolate.io/tier': 'small', 'pod-template-hash': '7d9f' };
  const worker = {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name: 'percolate-worker-small-7d9f-x2', namespace: 'percolate', labels: WORKER_LABELS, ownerReferences: [{ kind: 'ReplicaSet', name: 'percolate-worker-small-7d9f', controller: true }] },
    spec: { serviceAccountName: 'percolate-worker', containers: [{ name: 'worker', image: 'percolate/worker:0.1.0' }] },
    status: { phase: 'Running', podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] },
  };
  const db = (ready: boolean) => ({
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name: 'percolate-db-small-0', namespace: 'percolate', labels: { 'app.kubernetes.io/name': 'percolate-db' }, ownerReferences: [{ kind: 'StatefulSet', name: 'percolate-db-small', controller: true }] },
    spec: { containers: [{ name: 'db-node', image: 'percolate/db-node:0.1.0', ports: [{ containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });

  /** What the scenario makes of the probe pod: its phase when read, and its log. */
  let dbReady = true;
  let probePhase = 'Succeeded';
  let probeLog = 'PROBE connected\n';
  let deletesFail = false;
  /** Probe objects already in the namespace (another run's), by the probe label. */
  let leftovers: { pods: object[]; configMaps: object[] } = { pods: [], configMaps: [] };
  let api: Awaited<ReturnType<typeof startFakeKubeApi>>;
  let requests: KubeApiRequest[];
  let target: KubeClusterTarget;

  beforeAll(async () => {
    api = await startFakeKubeApi(({ method, url, body }, res) => {
      const path = url.split('?')[0]!;
      if (method === 'POST' && path === CONFIGMAPS) return { ...JSON.parse(body), metadata: { ...JSON.parse(body).metadata, uid: 'cm-uid-1' } };
      if (method === 'POST' && path === PODS) return JSON.parse(body);
      if (method === 'DELETE') {
        if (!deletesFail) return { kind: 'Status', status: 'Success' };
        res.statusCode = 500;
        return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcdserver: request timed out', code: 500 };
      }
      if (path === PODS && url.includes('labelSelector=')) return { kind: 'PodList', apiVersion: 'v1', items: leftovers.pods };
      if (path === CONFIGMAPS && method === 'GET') return { kind: 'ConfigMapList', apiVersion: 'v1', items: leftovers.configMaps };
      if (path === PODS) return { kind: 'PodList', apiVersion: 'v1', items: [worker, db(dbReady)] };
      if (path === `${PODS}/${worker.metadata.name}`) return worker;
      if (/\/pods\/probe-[^/]+\/log$/.test(path)) {
        res.setHeader('Content-Type', 'text/plain');
        return probeLog;
      }
      if (/\/pods\/probe-[^/]+$/.test(path)) return { kind: 'Pod', apiVersion: 'v1', metadata: { name: path.split('/').at(-1) }, status: { phase: probePhase } };
      return undefined;
    });
    requests = api.requests;
    target = new KubeClusterTarget(api.kubeConfig, { kind: 'kube', endpoints: UNREACHABLE_ENDPOINTS });
  });
  afterAll(() => api?.close());
  beforeEach(() => { requests.length = 0; dbReady = true; probePhase = 'Succeeded'; probeLog = 'PROBE connected\n'; deletesFail = false; leftovers = { pods: [], configMaps: [] }; });

  const created = (path: string) => requests.filter((r) => r.method === 'POST' && r.url.split('?')[0] === path).map((r) => JSON.parse(r.body));
  const deleted = () => requests.filter((r) => r.method === 'DELETE').map((r) => r.url.split('?')[0]);
  /** Every object created was deleted: the probe pod (at once) and its ConfigMap. */
  const expectCleanedUp = () => {
    const [configMap] = created(CONFIGMAPS);
    const [pod] = created(PODS);
    expect(deleted().sort()).toEqual([`${CONFIGMAPS}/${configMap.metadata.name}`, `${PODS}/${pod.metadata.name}`].sort());
    expect(requests.find((r) => r.method === 'DELETE' && r.url.startsWith(`${PODS}/`))!.url).toContain('gracePeriodSeconds=0');
  };

  it('creates a probe pod the policies take for the source, that nothing adopts or routes to, under the restricted standard', async () => {
    await capabilityOf(target, 'networkPolicies')!.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 });
    const [configMap] = created(CONFIGMAPS);
    const [pod] = created(PODS);
    const id = configMap.metadata.labels[PROBE_LABEL];
    expect(id).toMatch(/^probe-/);
    expect(configMap.metadata).toMatchObject({ name: id, labels: { 'app.kubernetes.io/part-of': 'percolate' } });
    expect(pod.metadata.labels).toEqual({ ...WORKER_LABELS, [PROBE_LABEL]: id });
    expect(pod.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: configMap.metadata.name, uid: 'cm-uid-1', controller: true }]);
    expect(pod.metadata.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(pod.spec).toMatchObject({
      restartPolicy: 'Never', serviceAccountName: 'percolate-worker', automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    const [container] = pod.spec.containers;
    expect(container.image).toBe(probeImage());
    expect(container.image).toMatch(/:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$/);
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.readinessProbe).toMatchObject({ exec: { command: ['false'] } });
    expect(container.ports).toBeUndefined();
    // The destination's pod IP and the port, as arguments of the one connect.
    expect(container.command.slice(-2)).toEqual(['10.0.0.9', '8080']);
    expect(container.command[2]).toMatch(/nc -z .*-w 3 /);
    expectCleanedUp();
  });

  it('allowed when the probe connected', async () => {
    const probe = await target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 });
    expect(probe).toMatchObject({ from: worker.metadata.name, to: 'percolate-db-small:8080', outcome: 'allowed' });
    expect(probe.detail).toContain('percolate-db-small-0 (10.0.0.9:8080)');
    expectCleanedUp();
  });

  it('refused when the connect failed, with nc\'s words and the connect bound in the detail', async () => {
    probeLog = 'PROBE failed 1 nc: 10.0.0.9 (10.0.0.9:9090): Connection timed out\n';
    const probe = await target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 9090 });
    expect(probe.outcome).toBe('refused');
    expect(probe.detail).toMatch(/within 3 s.*nc exit 1, nc: 10\.0\.0\.9 \(10\.0\.0\.9:9090\): Connection timed out.*NetworkPolicy drop is a connect timeout/);
    expectCleanedUp();
  });

  it('unanswered when the destination has no ready pod, and creates nothing', async () => {
    dbReady = false;
    const probe = await target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 });
    expect(probe).toMatchObject({ outcome: 'unanswered', detail: expect.stringMatching(/no ready pod of percolate-db-small/) });
    expect(requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('a probe pod that never finishes fails at the bound, naming it, and is deleted all the same', async () => {
    probePhase = 'Pending';
    await expect(target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 }, { timeoutMs: 1_000 }))
      .rejects.toThrow(/flow probe probe-\S+ \(percolate-worker-small-7d9f-x2 → percolate-db-small-0 \(10\.0\.0\.9:8080\)\): probe pod finished not within 1(\.0)? ?s; last seen Pending/);
    expectCleanedUp();
  });

  it('a probe pod that ends without a result line is an error, not a verdict, and is deleted', async () => {
    probePhase = 'Failed';
    probeLog = 'exec /bin/sh: no such file or directory\n';
    await expect(target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 })).rejects.toThrow(/pod Failed without a PROBE line; log: exec \/bin\/sh/);
    expectCleanedUp();
  });

  it('a cleanup that fails names the leftovers by label, and keeps the probe\'s own error', async () => {
    deletesFail = true;
    await expect(target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 }))
      .rejects.toThrow(new RegExp(`deleting its pod and ConfigMap failed \\(.*request timed out.*\\); they carry ${PROBE_LABEL}=probe-`));
    probePhase = 'Failed';
    probeLog = 'exec /bin/sh: no such file or directory\n';
    await expect(target.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 }))
      .rejects.toThrow(/pod Failed without a PROBE line; log: exec \/bin\/sh.*; and deleting its pod and ConfigMap failed/s);
  });

  it('sweeps, before its first probe, what a run that died mid-probe left, and leaves a live probe of another run alone', async () => {
    const probeObject = (kind: string, name: string, ageMs: number) => ({
      kind, apiVersion: 'v1', metadata: { name, namespace: 'percolate', labels: { [PROBE_LABEL]: name }, creationTimestamp: new Date(Date.now() - ageMs).toISOString() },
    });
    leftovers = {
      pods: [probeObject('Pod', 'probe-dead', STALE_PROBE_MS + 60_000), probeObject('Pod', 'probe-live', 5_000)],
      configMaps: [probeObject('ConfigMap', 'probe-dead', STALE_PROBE_MS + 60_000), probeObject('ConfigMap', 'probe-live', 5_000)],
    };
    const fresh = new KubeClusterTarget(api.kubeConfig, { kind: 'kube', endpoints: UNREACHABLE_ENDPOINTS });
    await fresh.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 });
    const lists = requests.filter((r) => r.method === 'GET' && r.url.includes('labelSelector='));
    expect(lists.map((r) => decodeURIComponent(r.url.split('?')[0]!))).toEqual(expect.arrayContaining([PODS, CONFIGMAPS]));
    expect(lists.every((r) => decodeURIComponent(r.url).includes(`labelSelector=${PROBE_LABEL}`))).toBe(true);
    const [probe] = created(PODS);
    expect(deleted().sort()).toEqual([`${CONFIGMAPS}/probe-dead`, `${CONFIGMAPS}/${probe.metadata.name}`, `${PODS}/probe-dead`, `${PODS}/${probe.metadata.name}`].sort());
    // Once per target: the next probe lists nothing again.
    requests.length = 0;
    await fresh.probeFlow(worker.metadata.name, { workload: 'percolate-db-small', port: 8080 });
    expect(requests.filter((r) => r.url.includes('labelSelector='))).toEqual([]);
  });

  it('is not offered where the options say the CNI does not enforce NetworkPolicies', () => {
    expect(capabilityOf(new KubeClusterTarget(api.kubeConfig, { kind: 'kube', endpoints: UNREACHABLE_ENDPOINTS, networkPolicies: false }), 'networkPolicies')).toBeUndefined();
    expect(capabilityOf(new KubeClusterTarget(api.kubeConfig, { kind: 'k3s', endpoints: UNREACHABLE_ENDPOINTS }), 'networkPolicies')).toBeDefined();
  });
});
