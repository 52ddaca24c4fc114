import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  AppsV1Api, CoreV1Api, type CoreV1Event, type KubeConfig, KubernetesObjectApi, PatchStrategy, type V1Pod, setHeaderOptions,
} from '@kubernetes/client-node';
import { SECRETS } from '../../lib/names.ts';
import { mintAdminToken, mintTenantToken } from '../../reference-services/shared/auth.ts';
import { type Secrets, loadSecrets } from '../../reference-services/shared/secrets.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';
import { loadChaosFile, parseChaosYaml } from '../chaos/parse.ts';
import type { ExperimentRecord } from '../chaos/records.ts';
import type { EventFilter } from '../autoscaler/index.ts';
import { PERCOLATE_NAMESPACE } from '../k3s/plan.ts';
import {
  type Capabilities, type Capability, type CapabilityName, type ClusterEndpoints, type ClusterTarget, type DeletePodOptions,
  type DistributedLoadResult, type DistributedLoadRun, type FlowProbe, type KillPodOptions,
  type NodeInfo, NotImplementedOnTarget, type PodInfo, type PodSelector, type ScaledObjectInfo, type ScalingEvent, type WaitOptions,
  type WorkloadInfo, type ZoneInfo, matchesSelector,
} from '../target.ts';
import { FIELD_MANAGER, applyObjects, errorText } from './apply.ts';
import { KUBE_FLOW_PROBE_TIMEOUT_MS, PROBE_CONNECT_TIMEOUT_S, PROBE_LABEL, STALE_PROBE_MS, newProbeId, probeImage, probeLogResult, probeOwner, probePod } from './flow-probe.ts';
import { Fatal, eventually } from '../../lib/poll.ts';
import { KUBE_CONTAINER_RESTART_TIMEOUT_MS, KUBE_DRAIN_TIMEOUT_MS, KUBE_REPLICAS_READY_TIMEOUT_MS } from '../../lib/time.ts';
import { CHAOS_MESH_API_VERSION } from '../chaos/types.ts';

const ZONE_LABEL = 'topology.kubernetes.io/zone';
const TESTRUN_API_VERSION = 'k6.io/v1alpha1';
const PAUSED = 'autoscaling.keda.sh/paused';
const PAUSED_REPLICAS = 'autoscaling.keda.sh/paused-replicas';
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** The kinds of Chaos Mesh this target applies. */
const CHAOS_MESH_KINDS = new Set(['PodChaos', 'NetworkChaos', 'StressChaos', 'IOChaos', 'TimeChaos', 'Workflow']);

const ZONE_OUTAGE_FILE = new URL('../../chaos/zone-a-pod-failure.yaml', import.meta.url).pathname;
/** An outage lasts until restoreZone; this bounds it if nobody calls that. */
const ZONE_OUTAGE_MAX = '10m';
const zoneOutageName = (zone: string): string => `${zone}-pod-failure`;

export interface KubeTargetOptions {
  kind?: 'kube' | 'k3s';
  endpoints: ClusterEndpoints;
  namespace?: string;
  /** Called by close(): the k3s target stops its container here. */
  onClose?: () => Promise<void>;
  /**
   * Whether the cluster's CNI enforces NetworkPolicies, so that `networkPolicies` (T4.5's
   * flows tried from probe pods) is offered. Default true: k3s runs its embedded
   * NetworkPolicy controller (kube-router), and a cluster for this suite is expected to run
   * a CNI that enforces them (Calico, Cilium, …). Set false where it does not (flannel alone):
   * there every forbidden flow connects, so T4.5 would fail on the CNI rather than skip.
   */
  networkPolicies?: boolean;
}


/**
 * A ClusterTarget over the Kubernetes API (`@kubernetes/client-node`): the `kube` target
 * (any cluster in KUBECONFIG) and, with the kubeconfig of its container, the `k3s` target.
 * Chaos goes through Chaos Mesh's own resources, drains through the eviction API, scaling
 * history from the events KEDA and the HPA controller record, tokens from the services'
 * own secret in the cluster.
 */
export class KubeClusterTarget implements ClusterTarget {
  readonly kind: 'kube' | 'k3s';
  // Enforced by the cluster itself: a kubelet applies securityContexts; Chaos Mesh and
  // drains are checked for in the preflight. NetworkPolicies depend on the CNI and are not
  // claimed here: the `networkPolicies` capability follows the option of that name.
  readonly capabilities: ReadonlySet<Capability>;
  private readonly ns: string;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly objects: KubernetesObjectApi;
  private secrets: Secrets | undefined;
  private readonly experiments = new Map<string, ExperimentRecord>();
  private closed = false;
  private staleProbesSwept: Promise<void> | undefined;

  constructor(readonly kc: KubeConfig, private readonly options: KubeTargetOptions) {
    this.kind = options.kind ?? 'kube';
    // k3s runs one node in one zone: losing it is losing the cluster, not failing over.
    this.capabilities = new Set<Capability>(['chaosMesh', 'nodeDrain', 'podSecurity', ...(this.kind === 'kube' ? ['zoneFailure' as const] : [])]);
    this.ns = options.namespace ?? PERCOLATE_NAMESPACE;
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    if (options.networkPolicies !== false) this.capabilityMap.networkPolicies = { probeFlow: (pod, to) => this.probeFlow(pod, to) };
  }

  private readonly capabilityMap: Partial<Capabilities> = {
    nodes: { drainNode: (n, o) => this.drainNode(n, o), uncordonNode: (n) => this.uncordonNode(n) },
    zones: { failZone: (z) => this.failZone(z), restoreZone: (z) => this.restoreZone(z) },
    chaos: {
      engine: 'chaos-mesh',
      applyExperimentFile: (file) => this.applyExperimentFile(file),
      applyExperimentResource: (r) => this.applyExperimentResource(r),
      listExperiments: async () => [...this.experiments.values()].reverse(),
      recoverExperiments: (name) => this.recoverExperiments(name),
    },
    scalingHistory: { complete: false, getScalingEvents: (f) => this.getScalingEvents(f) },
    loadOperator: { runTestRun: (run, onProgress) => this.runTestRun(run, onProgress) },
  };

  capability<K extends CapabilityName>(name: K): Capabilities[K] | undefined { return this.capabilityMap[name]; }

  async getEndpoints(): Promise<ClusterEndpoints> { return this.options.endpoints; }

  // ---- workloads and pods ------------------------------------------------------------

  async listWorkloads(): Promise<WorkloadInfo[]> {
    const [sts, deps, pods] = await Promise.all([
      this.apps.listNamespacedStatefulSet({ namespace: this.ns }), this.apps.listNamespacedDeployment({ namespace: this.ns }), this.listPods(),
    ]);
    const of = (kind: WorkloadInfo['kind']) => (o: { metadata?: { name?: string }; spec?: { replicas?: number } }): WorkloadInfo => {
      const name = o.metadata?.name ?? '';
      const mine = pods.filter((p) => p.workload === name);
      return { name, kind, replicas: o.spec?.replicas ?? 0, readyReplicas: mine.filter((p) => p.ready && !p.terminating).length, pods: mine.map((p) => p.name) };
    };
    return [...sts.items.map(of('StatefulSet')), ...deps.items.map(of('Deployment'))];
  }

  async getReplicas(workload: string): Promise<number> {
    const w = (await this.listWorkloads()).find((x) => x.name === workload);
    if (!w) throw new Error(`no workload "${workload}" in namespace ${this.ns}`);
    return w.replicas;
  }

  async scale(workload: string, replicas: number): Promise<void> {
    const w = (await this.listWorkloads()).find((x) => x.name === workload);
    if (!w) throw new Error(`no workload "${workload}" in namespace ${this.ns}`);
    await this.objects.patch({ apiVersion: 'apps/v1', kind: w.kind, metadata: { name: workload, namespace: this.ns }, spec: { replicas } },
      undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  }

  async waitForReplicasReady(workload: string, replicas: number, options: WaitOptions = {}): Promise<PodInfo[]> {
    return eventually(`${workload}: ${replicas} pods ready, none terminating`, () => this.listPods({ workload }),
      (pods) => pods.length === replicas && pods.every((p) => p.ready && !p.terminating), {
        timeoutMs: options.timeoutMs ?? KUBE_REPLICAS_READY_TIMEOUT_MS, intervalMs: 1_000,
        show: (pods) => pods.map((p) => `${p.name}${p.ready ? '' : ' (not ready)'}${p.terminating ? ' (terminating)' : ''}`).join(', ') || 'no pods',
      });
  }

  async listPods(selector?: PodSelector): Promise<PodInfo[]> {
    const [pods, nodes] = await Promise.all([this.core.listNamespacedPod({ namespace: this.ns }), this.listNodes()]);
    const zoneOf = new Map(nodes.map((n) => [n.name, n.zone]));
    return pods.items.map((p) => toPodInfo(p, zoneOf)).filter((p) => matchesSelector(p, selector));
  }

  async listNodes(): Promise<NodeInfo[]> {
    return (await this.core.listNode()).items.map((n) => ({
      name: n.metadata?.name ?? '',
      zone: n.metadata?.labels?.[ZONE_LABEL] ?? '',
      cordoned: n.spec?.unschedulable === true,
      ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    }));
  }

  async listZones(): Promise<ZoneInfo[]> {
    const byZone = new Map<string, string[]>();
    for (const n of await this.listNodes()) byZone.set(n.zone, [...(byZone.get(n.zone) ?? []), n.name]);
    return [...byZone].map(([name, nodes]) => ({ name, nodes, failed: false }));
  }

  /**
   * A crash of the pod's container: Chaos Mesh's container-kill (SIGKILL), then the kubelet
   * restarts it in place; returns once its restart count has gone up. Other signals would
   * need an exec into the container (pods/exec rights the suite does not otherwise need).
   */
  async killPod(name: string, options: KillPodOptions = {}): Promise<void> {
    const signal = options.signal ?? 'SIGKILL';
    if (signal !== 'SIGKILL') throw new NotImplementedOnTarget(this.kind, `killPod(${signal})`, 'only SIGKILL, through Chaos Mesh container-kill; other signals need an exec into the container');
    const restarts = async () => {
      const pod = await this.core.readNamespacedPod({ name, namespace: this.ns });
      const container = pod.spec?.containers.find((c) => c.name !== 'istio-proxy')?.name;
      if (!container) throw new Fatal(`pod ${name} has no container of ours`);
      return { container, count: pod.status?.containerStatuses?.find((c) => c.name === container)?.restartCount ?? 0 };
    };
    const before = await restarts();
    const chaosName = `container-kill-${name}-${Date.now().toString(36)}`.slice(0, 253);
    await this.applyParsed({
      apiVersion: CHAOS_MESH_API_VERSION, kind: 'PodChaos', metadata: { name: chaosName, namespace: this.ns },
      spec: { action: 'container-kill', mode: 'all', containerNames: [before.container], selector: { pods: { [this.ns]: [name] } } },
    });
    try {
      await eventually(`${name}: container ${before.container} restarted after container-kill`, restarts, (now) => now.count > before.count,
        { timeoutMs: options.timeoutMs ?? KUBE_CONTAINER_RESTART_TIMEOUT_MS, intervalMs: 100, show: (now) => `restart count ${now.count}, was ${before.count}` });
    } finally {
      await this.recoverExperiments(chaosName);
    }
  }

  async deletePod(name: string, options: DeletePodOptions = {}): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace: this.ns, ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }) });
  }

  async getPodLogs(name: string): Promise<string> {
    return this.core.readNamespacedPodLog({ name, namespace: this.ns });
  }

  // ---- NetworkPolicies: flows tried from probe pods --------------------------------------

  /**
   * One TCP connection from a probe pod that the NetworkPolicies take for `fromPod` (its
   * labels and service account) to a ready pod of `to.workload`. The probe and its owning
   * ConfigMap are deleted whatever happens; both carry PROBE_LABEL with the probe's id.
   */
  async probeFlow(fromPod: string, to: { workload: string; port: number }, options: WaitOptions = {}): Promise<FlowProbe> {
    const flow = { from: fromPod, to: `${to.workload}:${to.port}` };
    const source = await this.core.readNamespacedPod({ name: fromPod, namespace: this.ns }).catch((err: unknown) => {
      throw new Error(`flow probe ${fromPod} → ${flow.to}: reading the source pod ${this.ns}/${fromPod}: ${errorText(err)}`, { cause: err });
    });
    const dest = (await this.core.listNamespacedPod({ namespace: this.ns })).items.find((p) => {
      const info = toPodInfo(p, new Map());
      return info.workload === to.workload && info.ready && !info.terminating && !!p.status?.podIP;
    });
    if (!dest) return { ...flow, outcome: 'unanswered', detail: `no ready pod of ${to.workload} to connect to, so nothing to say of the policies` };
    const destination = `${dest.metadata?.name} (${dest.status!.podIP}:${to.port})`;
    await this.sweepStaleProbes();
    const id = newProbeId();
    const timeoutMs = options.timeoutMs ?? KUBE_FLOW_PROBE_TIMEOUT_MS;
    let probeError: { error: unknown } | undefined;
    try {
      const owner = await this.core.createNamespacedConfigMap({ namespace: this.ns, body: probeOwner(id, this.ns) });
      await this.core.createNamespacedPod({
        namespace: this.ns,
        body: probePod({ id, namespace: this.ns, source, owner: { name: id, uid: owner.metadata!.uid! }, ip: dest.status!.podIP!, port: to.port, image: probeImage() }),
      });
      const ended = await eventually(`flow probe ${id} (${fromPod} → ${destination}): probe pod finished`,
        () => this.core.readNamespacedPod({ name: id, namespace: this.ns }),
        (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed',
        { timeoutMs, intervalMs: 500, show: (p) => `${p.status?.phase ?? 'no phase'}${waitingReason(p)}` });
      const log = await this.core.readNamespacedPodLog({ name: id, namespace: this.ns });
      const result = probeLogResult(log);
      if (!result) throw new Error(`flow probe ${id} (${fromPod} → ${destination}): pod ${ended.status?.phase} without a PROBE line; log: ${log.trim() || '(empty)'}`);
      if (result.connected) return { ...flow, outcome: 'allowed', detail: `connected to ${destination} from a probe pod labelled as ${fromPod}` };
      return {
        ...flow, outcome: 'refused',
        detail: `no connection to ${destination} within ${PROBE_CONNECT_TIMEOUT_S} s from a probe pod labelled as ${fromPod}: nc exit ${result.exitCode}${result.message ? `, ${result.message}` : ''} (a NetworkPolicy drop is a connect timeout; a refusal would mean nothing listens)`,
      };
    } catch (err) {
      probeError = { error: err };
      throw err;
    } finally {
      // The ConfigMap alone would take the pod with it, but only when the garbage collector gets to it.
      const failed = (await Promise.allSettled([
        this.core.deleteNamespacedPod({ name: id, namespace: this.ns, gracePeriodSeconds: 0 }),
        this.core.deleteNamespacedConfigMap({ name: id, namespace: this.ns }),
      ])).flatMap((r) => (r.status === 'rejected' && (r.reason as { code?: number }).code !== 404 ? [errorText(r.reason)] : []));
      if (failed.length) {
        const leftovers = `deleting its pod and ConfigMap failed (${failed.join('; ')}); they carry ${PROBE_LABEL}=${id}`;
        // Thrown from here it replaces the probe's own error: both are said, the probe's first.
        throw probeError
          ? new Error(`${errorText(probeError.error)}; and ${leftovers}`, { cause: probeError.error })
          : new Error(`flow probe ${id}: ${leftovers}`);
      }
    }
  }

  /** Once per target: the probe pods and ConfigMaps a run that died mid-probe left behind. */
  private sweepStaleProbes(): Promise<void> {
    this.staleProbesSwept ??= (async () => {
      const cutoff = Date.now() - STALE_PROBE_MS;
      const staleNames = (items: Array<{ metadata?: { name?: string; creationTimestamp?: Date | string } }>) => items
        .filter((o) => o.metadata?.name && o.metadata.creationTimestamp && new Date(o.metadata.creationTimestamp).getTime() < cutoff)
        .map((o) => o.metadata!.name!);
      const [pods, owners] = await Promise.all([
        this.core.listNamespacedPod({ namespace: this.ns, labelSelector: PROBE_LABEL }),
        this.core.listNamespacedConfigMap({ namespace: this.ns, labelSelector: PROBE_LABEL }),
      ]);
      const failed = (await Promise.allSettled([
        ...staleNames(pods.items).map((name) => this.core.deleteNamespacedPod({ name, namespace: this.ns, gracePeriodSeconds: 0 })),
        ...staleNames(owners.items).map((name) => this.core.deleteNamespacedConfigMap({ name, namespace: this.ns })),
      ])).flatMap((r) => (r.status === 'rejected' && (r.reason as { code?: number }).code !== 404 ? [errorText(r.reason)] : []));
      if (failed.length) throw new Error(failed.join('; '));
    })().catch((err: unknown) => {
      this.staleProbesSwept = undefined;
      throw new Error(`flow probes: sweeping those an earlier run left (${PROBE_LABEL}, older than ${STALE_PROBE_MS / 1000} s) failed: ${errorText(err)}`, { cause: err });
    });
    return this.staleProbesSwept;
  }

  // ---- distributed load (k6-operator) ----------------------------------------------------

  /**
   * Applies a rendered TestRun (its ConfigMap and Secret first), waits for the operator to
   * take it to `finished` or `error` within the run's bound, reads every runner pod's log
   * and removes what it applied, pass or fail.
   */
  async runTestRun(run: DistributedLoadRun, onProgress?: (stage: string) => void): Promise<DistributedLoadResult> {
    await this.core.createNamespace({ body: { metadata: { name: run.namespace, labels: { 'app.kubernetes.io/part-of': 'percolate' } } } })
      .catch((err: unknown) => { if ((err as { code?: number }).code !== 409) throw err; });
    try {
      await applyObjects(this.kc, run.objects as never);
      let seen = '';
      const stage = await eventually(`TestRun ${run.namespace}/${run.name} finished`, async () => {
        const current = await this.objects.read({ apiVersion: TESTRUN_API_VERSION, kind: 'TestRun', metadata: { name: run.name, namespace: run.namespace } });
        const now = String((current as { status?: { stage?: string } }).status?.stage ?? 'pending');
        if (now !== seen) { seen = now; onProgress?.(now); }
        return now;
      }, (now) => now === 'finished' || now === 'error', { timeoutMs: run.timeoutMs, intervalMs: 2_000, show: (now) => `stage ${now}` });
      const pods = (await this.core.listNamespacedPod({ namespace: run.namespace, labelSelector: `k6_cr=${run.name},runner=true` })).items;
      const runnerLogs = await Promise.all(pods.map(async (pod) => {
        const name = pod.metadata?.name ?? '';
        return { pod: name, log: await this.core.readNamespacedPodLog({ name, namespace: run.namespace }) };
      }));
      return { stage, runnerLogs };
    } finally {
      for (const object of [...run.objects].reverse()) {
        await this.objects.delete(object as never).catch((err: unknown) => { if ((err as { code?: number }).code !== 404) throw err; });
      }
    }
  }

  // ---- nodes (eviction API) -------------------------------------------------------------

  async drainNode(node: string, options: WaitOptions = {}): Promise<void> {
    await this.core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, MERGE);
    // Each round evicts what is still on the node; the wait ends when nothing is.
    await eventually(`drain of ${node}: every pod evicted`, async () => {
      const pods = (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items
        .filter((p) => !p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet') && !p.metadata?.deletionTimestamp);
      for (const p of pods) {
        try {
          await this.core.createNamespacedPodEviction({
            name: p.metadata!.name!, namespace: p.metadata!.namespace!,
            body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata!.name!, namespace: p.metadata!.namespace! } },
          });
        } catch (err) {
          // 429: a PodDisruptionBudget holds this pod for now; the next round asks again.
          if ((err as { code?: number }).code !== 429) throw new Fatal(`evicting ${p.metadata?.namespace}/${p.metadata?.name}: ${errorText(err)}`);
        }
      }
      return pods.map((p) => p.metadata?.name ?? '?');
    }, (left) => left.length === 0, { timeoutMs: options.timeoutMs ?? KUBE_DRAIN_TIMEOUT_MS, intervalMs: 2_000, show: (left) => `${left.length} pods still on it (${left.join(', ')})` });
  }

  async uncordonNode(node: string): Promise<void> {
    await this.core.patchNode({ name: node, body: { spec: { unschedulable: false } } }, MERGE);
  }

  /**
   * A zone outage as chaos/zone-a-pod-failure.yaml has it, for any zone: Chaos Mesh's
   * pod-failure on every pod of the zone's nodes, until restoreZone (or its bounded duration).
   */
  async failZone(zone: string): Promise<void> {
    const r = loadChaosFile(ZONE_OUTAGE_FILE);
    if (r.kind !== 'PodChaos') throw new Error(`${ZONE_OUTAGE_FILE}: expected a PodChaos, found ${r.kind}`);
    await this.applyParsed({
      ...r, metadata: { ...r.metadata, name: zoneOutageName(zone) },
      spec: { ...r.spec, duration: ZONE_OUTAGE_MAX, selector: { ...r.spec.selector, nodeSelectors: { [ZONE_LABEL]: zone } } },
    });
  }

  async restoreZone(zone: string): Promise<void> {
    await this.recoverExperiments(zoneOutageName(zone));
  }

  // ---- tokens: the same issuer as the services (their secret in the cluster) ----------

  private async loadClusterSecrets(): Promise<Secrets> {
    if (this.secrets) return this.secrets;
    const secret = await this.core.readNamespacedSecret({ name: SECRETS, namespace: this.ns });
    const raw = secret.data?.['secrets.json'];
    if (!raw) throw new Error(`secret ${this.ns}/${SECRETS} has no secrets.json`);
    const file = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { tokenRoot: string; adminSecret: string; masterKeys: Record<string, string>; currentMasterKeyVersion: number };
    this.secrets = loadSecrets({
      PERCOLATE_TOKEN_ROOT: file.tokenRoot, PERCOLATE_ADMIN_SECRET: file.adminSecret,
      PERCOLATE_MASTER_KEY: file.masterKeys[String(file.currentMasterKeyVersion)],
    });
    return this.secrets;
  }

  async mintToken(tenant: string, tier: Tier = 'small'): Promise<string> { return mintTenantToken(await this.loadClusterSecrets(), tenant, tier); }
  async mintAdminToken(): Promise<string> { return mintAdminToken(await this.loadClusterSecrets()); }

  // ---- chaos through Chaos Mesh ------------------------------------------------------

  async applyExperiment(file: string): Promise<void> { await this.applyExperimentFile(file); }

  async applyExperimentFile(file: string): Promise<ExperimentRecord> {
    const text = await readFile(file, 'utf8');
    return this.applyParsed(parseChaosYaml(text, file) as unknown as Record<string, any>, resolve(file));
  }

  async applyExperimentResource(resource: unknown): Promise<ExperimentRecord> {
    return this.applyParsed(resource as Record<string, any>);
  }

  private async applyParsed(resource: Record<string, any>, source?: string): Promise<ExperimentRecord> {
    if (!CHAOS_MESH_KINDS.has(resource.kind)) {
      throw new NotImplementedOnTarget(this.kind, `chaos ${resource.kind}`, `not a Chaos Mesh kind this target applies (${[...CHAOS_MESH_KINDS].join(', ')})`);
    }
    const namespace = resource.metadata?.namespace ?? this.ns;
    const object = { ...resource, metadata: { ...resource.metadata, namespace } };
    await applyObjects(this.kc, [object as any]);
    const record = {
      id: `${namespace}/${resource.metadata.name}`, name: resource.metadata.name, namespace, kind: resource.kind, action: resource.spec?.action,
      ...(source ? { source } : {}), phase: 'injected', appliedAt: Date.now(), selected: [], steps: [], errors: [], resource,
    } as unknown as ExperimentRecord;
    this.experiments.set(record.id, record);
    return record;
  }

  async recover(name?: string): Promise<void> { await this.recoverExperiments(name); }

  /** Deletes the experiments (Chaos Mesh undoes what they did as it removes them). */
  async recoverExperiments(name?: string): Promise<ExperimentRecord[]> {
    const chosen = [...this.experiments.values()].filter((r) => r.phase === 'injected' && (!name || r.id === name || r.name === name));
    for (const r of chosen) {
      try {
        await this.objects.delete({ apiVersion: (r.resource as { apiVersion: string }).apiVersion, kind: r.kind, metadata: { name: r.name, namespace: r.namespace } });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) r.errors.push(errorText(err));
      }
      Object.assign(r, { phase: 'recovered', recoveredAt: Date.now(), recoveredBy: 'request' });
    }
    return chosen;
  }

  // ---- KEDA ----------------------------------------------------------------------------

  async pauseAutoscaling(scaledObject: string, replicas?: number): Promise<void> {
    const annotations: Record<string, string> = replicas === undefined ? { [PAUSED]: 'true' } : { [PAUSED_REPLICAS]: String(replicas) };
    await this.patchScaledObject(scaledObject, annotations);
  }

  async resumeAutoscaling(scaledObject: string): Promise<void> {
    await this.patchScaledObject(scaledObject, { [PAUSED]: null, [PAUSED_REPLICAS]: null });
  }

  private async patchScaledObject(name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.objects.patch({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name, namespace: this.ns, annotations: annotations as Record<string, string> } },
      undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  }

  async listScaledObjects(): Promise<ScaledObjectInfo[]> {
    const list = await this.objects.list<any>('keda.sh/v1alpha1', 'ScaledObject', this.ns);
    const workloads = await this.listWorkloads();
    return list.items.map((so) => {
      const a = so.metadata?.annotations ?? {};
      const target = { kind: so.spec.scaleTargetRef.kind ?? 'Deployment', name: so.spec.scaleTargetRef.name };
      return {
        name: so.metadata.name, target, minReplicaCount: so.spec.minReplicaCount ?? 0, maxReplicaCount: so.spec.maxReplicaCount ?? 100,
        paused: a[PAUSED] === 'true' || a[PAUSED_REPLICAS] !== undefined,
        ...(a[PAUSED_REPLICAS] !== undefined ? { pausedReplicas: Number(a[PAUSED_REPLICAS]) } : {}),
        replicas: workloads.find((w) => w.name === target.name)?.replicas ?? 0,
      };
    });
  }

  /**
   * Scale changes as the cluster reports them: the HPA's SuccessfulRescale (KEDA names its
   * HPA `keda-hpa-<scaledobject>`) and KEDA's activation events. Kubernetes keeps events
   * for about an hour, and records decisions that changed nothing not at all.
   */
  async getScalingEvents(filter: EventFilter = {}): Promise<ScalingEvent[]> {
    const events = (await this.core.listNamespacedEvent({ namespace: this.ns })).items;
    const objects = await this.listScaledObjects();
    const out = events.flatMap((e) => scalingEventOf(e, objects)).filter((e) =>
      (filter.since === undefined || e.at >= filter.since) && (!filter.scaledObject || e.scaledObject === filter.scaledObject)
      && (!filter.scaleOnly || e.replicasBefore !== e.replicasAfter));
    out.sort((a, b) => a.at - b.at);
    // An HPA event gives the new size only: the count before is the previous event's after.
    const last = new Map<string, number>();
    for (const e of out) {
      const before = last.get(e.scaledObject);
      if (before !== undefined && e.actor === 'hpa') e.replicasBefore = before;
      last.set(e.scaledObject, e.replicasAfter);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try { await this.recoverExperiments(); } catch { /* the cluster may be gone already */ }
    await this.options.onClose?.();
  }

  async [Symbol.asyncDispose](): Promise<void> { await this.close(); }
}

function toPodInfo(p: V1Pod, zoneOf: Map<string, string>): PodInfo {
  const labels = p.metadata?.labels ?? {};
  const owner = p.metadata?.ownerReferences?.[0];
  // A Deployment's pods belong to a ReplicaSet `<deployment>-<pod-template-hash>`.
  const hash = labels['pod-template-hash'];
  const workload = owner?.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`) ? owner.name.slice(0, -hash.length - 1) : owner?.name ?? '';
  const port = p.spec?.containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort;
  const node = p.spec?.nodeName ?? '';
  return {
    name: p.metadata?.name ?? '',
    workload,
    labels,
    address: p.status?.podIP && port ? `${p.status.podIP}:${port}` : '',
    zone: zoneOf.get(node) ?? labels[ZONE_LABEL] ?? '',
    node,
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    phase: (p.status?.phase ?? 'Unknown') as PodInfo['phase'],
    terminating: !!p.metadata?.deletionTimestamp,
    restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
    createdAt: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : 0,
    ...userOf(p),
  };
}

/** Why the pod's first waiting container waits (` (ImagePullBackOff)`), for a wait's last-seen. */
function waitingReason(p: V1Pod): string {
  const reason = p.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  return reason ? ` (${reason})` : '';
}

/** The user the pod's own container runs as, from its admitted securityContext (container over pod). */
function userOf(p: V1Pod): Pick<PodInfo, 'user'> {
  const c = p.spec?.containers.find((x) => x.name !== 'istio-proxy');
  const uid = c?.securityContext?.runAsUser ?? p.spec?.securityContext?.runAsUser;
  const gid = c?.securityContext?.runAsGroup ?? p.spec?.securityContext?.runAsGroup ?? uid;
  return uid === undefined || gid === undefined ? {} : { user: { uid, gid } };
}

/** One Kubernetes event as a ScalingEvent, when it is one (HPA rescale, KEDA activation). */
export function scalingEventOf(e: CoreV1Event, objects: Pick<ScaledObjectInfo, 'name' | 'target'>[]): ScalingEvent[] {
  const at = new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
  const base = { at, time: new Date(at).toISOString(), trigger: null, metricValue: null, metrics: [] };
  const involved = e.involvedObject?.name ?? '';
  if (e.involvedObject?.kind === 'HorizontalPodAutoscaler' && e.reason === 'SuccessfulRescale') {
    const so = objects.find((o) => `keda-hpa-${o.name}` === involved);
    const size = /New size: (\d+)/.exec(e.message ?? '');
    if (!so || !size) return [];
    const after = Number(size[1]);
    // The event carries the new size only; the HPA's reason says the direction, and
    // getScalingEvents replaces this first guess of the count before with the previous event's.
    const up = /above target/.test(e.message ?? '');
    return [{ ...base, scaledObject: so.name, workload: so.target.name, actor: 'hpa', reason: up ? 'scale-up' : 'scale-down', replicasBefore: up ? after - 1 : after + 1, replicasAfter: after }];
  }
  if (e.involvedObject?.kind === 'ScaledObject' && (e.reason === 'KEDAScaleTargetActivated' || e.reason === 'KEDAScaleTargetDeactivated')) {
    const so = objects.find((o) => o.name === involved);
    if (!so) return [];
    const activated = e.reason === 'KEDAScaleTargetActivated';
    return [{ ...base, scaledObject: so.name, workload: so.target.name, actor: 'keda', reason: activated ? 'activated' : 'deactivated', replicasBefore: activated ? 0 : 1, replicasAfter: activated ? 1 : 0 }];
  }
  return [];
}
