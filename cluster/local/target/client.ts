import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type SignOptions, mintAdminToken, mintTenantToken, signToken } from '../../../reference-services/shared/auth.ts';
import { loadSecrets } from '../../../reference-services/shared/secrets.ts';
import type { Tier } from '../../../reference-services/shared/tenant-id.ts';
import {
  type Capabilities, type CapabilityName, type Capability, type ClusterEndpoints, type ClusterTarget, type DeletePodOptions, type KillPodOptions, type NodeInfo,
  type PodSelector, type WaitOptions, type WorkloadInfo, type ZoneInfo, ExperimentRefused, NoClusterError, matchesSelector,
} from '../../target.ts';
import { downLocalCluster } from '../control/launcher.ts';
import { eventually } from '../../../lib/poll.ts';
import { CONTROL_API_MARGIN_MS, CONTROL_API_TIMEOUT_MS, NATS_RESTORE_TIMEOUT_MS, NODE_DRAIN_TIMEOUT_MS, REPLICAS_READY_TIMEOUT_MS } from '../../../lib/time.ts';
import { defaultStateDir } from '../process/paths.ts';
import type { LocalPodInfo } from '../components/pod.ts';
import type { LocalStatus } from '../runtime.ts';
import type { FaultScope, NetworkFault } from '../network/sidecar.ts';
import type { ExperimentRecord } from '../../chaos/records.ts';
import type { EventFilter } from '../../autoscaler/index.ts';
import type { FlowProbe, NatsNodeInfo, ScaledObjectInfo, ScalingEvent } from '../../target.ts';
import { type LocalState, readState } from '../process/state.ts';
import { daemonAlive, ownerGone } from '../process/sweep.ts';

/** Pods as a timeout shows them: `db-0 (not ready), db-1 (terminating)`. */
function showPods(pods: LocalPodInfo[]): string {
  return pods.map((p) => `${p.name}${p.ready ? '' : ' (not ready)'}${p.routable ? '' : ' (not routable)'}${p.terminating ? ' (terminating)' : ''}`).join(', ') || 'no pods';
}

/** What the local target can do. */
export const LOCAL_CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['processSignals', 'nodeDrain', 'zoneFailure', 'localChaos']);

/** An answer from the control API that was not a success, with the daemon's reason. */
export class ControlApiError extends Error {
  constructor(readonly status: number, readonly reason: string, what: string) {
    super(`${what}: ${status} ${reason}`);
    this.name = 'ControlApiError';
  }
}

/**
 * The `local` ClusterTarget: a client of the daemon's control API. One that started its
 * cluster (LocalClusterBuilder.start) stops it on close; one that attached to a running
 * cluster (attachLocalCluster) only lets go.
 */
export class LocalClusterTarget implements ClusterTarget {
  readonly kind = 'local';
  readonly capabilities: ReadonlySet<Capability>;
  private closed = false;

  constructor(readonly state: LocalState, readonly stateDir: string, private readonly owned: boolean, private readonly onClosed: () => void = () => {}) {
    if (!state.control) throw new Error(`the state file in ${stateDir} has no control API address: is the cluster still starting?`);
    // Pods run as the manifests' users only where the runtime could start them so (root).
    this.capabilities = state.podUsers?.enforced ? new Set<Capability>([...LOCAL_CAPABILITIES, 'podSecurity']) : LOCAL_CAPABILITIES;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = CONTROL_API_TIMEOUT_MS): Promise<T> {
    const { url, token } = this.state.control!;
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // fetch says only "fetch failed": the reason (refused, reset, timed out) is its cause.
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      throw new Error(`local cluster control API (${url}) unreachable for ${method} ${path}: ${err instanceof Error ? err.message : String(err)}${cause}; is the daemon running? (log: ${this.state.daemon.log})`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      let reason = text;
      try { reason = (JSON.parse(text) as { reason?: string }).reason ?? text; } catch { /* plain text */ }
      throw new ControlApiError(res.status, reason, `${method} ${path}`);
    }
    return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
  }

  // ---- testcontainers-style accessors (endpoints do not change during a run) --------

  getLoadBalancerUrl(): string { return this.state.endpoints!.loadBalancerUrl; }
  getGatewayUrl(): string { return this.state.endpoints!.gatewayUrl; }
  getNatsUrl(): string { return this.state.endpoints!.natsUrl; }
  getNatsMonitoringUrl(): string { return this.state.endpoints!.natsMonitoringUrl; }
  getPrometheusUrl(): string { return this.state.endpoints!.prometheusUrl; }
  /** Where the logs of every component and pod are (`<name>.log`). */
  getLogDir(): string { return `${this.state.runDir}/logs`; }

  // ---- ClusterTarget ------------------------------------------------------------------

  /** Everything but raw store access (tenant stores live in the pods' memory). */
  private readonly capabilityMap: Partial<Capabilities> = {
    network: { setNetworkFault: (pod, scope, fault) => this.setNetworkFault(pod, scope, fault) },
    networkPolicies: { probeFlow: (pod, to) => this.probeFlow(pod, to) },
    nodes: { drainNode: (node, options) => this.drainNode(node, options), uncordonNode: (node) => this.uncordonNode(node) },
    zones: { failZone: (zone) => this.failZone(zone), restoreZone: (zone) => this.restoreZone(zone) },
    chaos: {
      engine: 'local-executor',
      applyExperimentFile: (file) => this.applyExperimentFile(file),
      applyExperimentResource: (resource) => this.applyExperimentResource(resource),
      listExperiments: () => this.listExperiments(),
      recoverExperiments: (name) => this.recoverExperiments(name),
    },
    scalingHistory: { complete: true, getScalingEvents: (filter) => this.getScalingEvents(filter) },
    issuerKeys: {
      issuerKeys: () => this.call('GET', '/issuer/keys'),
      rotateIssuerKey: () => this.call('POST', '/issuer/rotate'),
      // A ControlApiError: 404 for a kid the JWKS does not hold, 409 for the signing key.
      retireIssuerKey: (kid) => this.call('POST', '/issuer/retire', { kid }),
    },
  };

  capability<K extends CapabilityName>(name: K): Capabilities[K] | undefined {
    return this.capabilityMap[name];
  }

  async getEndpoints(): Promise<ClusterEndpoints> { return (await this.status()).endpoints; }

  /** Everything the daemon knows: pods, nodes, zones, workloads, components and their memory. */
  status(): Promise<LocalStatus> { return this.call('GET', '/status'); }

  async listWorkloads(): Promise<WorkloadInfo[]> { return (await this.status()).workloads; }

  async getReplicas(workload: string): Promise<number> {
    const w = (await this.listWorkloads()).find((x) => x.name === workload);
    if (!w) throw new Error(`no workload "${workload}"`);
    return w.replicas;
  }

  /** See ClusterTarget.scale: the autoscaler overrides it unless the workload's ScaledObject is paused. */
  async scale(workload: string, replicas: number): Promise<void> {
    await this.call('POST', `/workloads/${encodeURIComponent(workload)}/scale`, { replicas });
  }

  // ---- autoscaling (KEDA + HPA over the rendered ScaledObjects) ---------------------

  async pauseAutoscaling(scaledObject: string, replicas?: number): Promise<void> {
    await this.call('POST', `/scaling/scaledobjects/${encodeURIComponent(scaledObject)}/pause`, replicas === undefined ? {} : { replicas });
  }

  async resumeAutoscaling(scaledObject: string): Promise<void> {
    await this.call('POST', `/scaling/scaledobjects/${encodeURIComponent(scaledObject)}/resume`, {});
  }

  /** Also filters by ScaledObject and to scale events only (`replicasBefore !== replicasAfter`). */
  getScalingEvents(options: EventFilter = {}): Promise<ScalingEvent[]> {
    const query = new URLSearchParams();
    if (options.since !== undefined) query.set('since', String(options.since));
    if (options.scaledObject !== undefined) query.set('scaledObject', options.scaledObject);
    if (options.scaleOnly !== undefined) query.set('scaleOnly', String(options.scaleOnly));
    return this.call('GET', `/scaling/events${query.size ? `?${query}` : ''}`);
  }

  listScaledObjects(): Promise<ScaledObjectInfo[]> { return this.call('GET', '/scaling/scaledobjects'); }

  /** The ScaledObject that scales a workload, if any. */
  async scaledObjectFor(workload: string): Promise<ScaledObjectInfo | undefined> {
    return (await this.listScaledObjects()).find((so) => so.target.name === workload);
  }

  async waitForReplicasReady(workload: string, replicas: number, options: WaitOptions = {}): Promise<LocalPodInfo[]> {
    const pods = await eventually(`${workload}: ${replicas} pods ready and routable, none terminating`,
      async () => (await this.status()).pods.filter((p) => p.workload === workload),
      (pods) => pods.length === replicas && pods.every((p) => p.ready && p.routable && !p.terminating),
      { timeoutMs: options.timeoutMs ?? REPLICAS_READY_TIMEOUT_MS, intervalMs: 50, show: showPods });
    return pods;
  }

  async listPods(selector?: PodSelector): Promise<LocalPodInfo[]> {
    return (await this.status()).pods.filter((p) => matchesSelector(p, selector));
  }

  async listNodes(): Promise<NodeInfo[]> { return (await this.status()).nodes; }
  async listZones(): Promise<ZoneInfo[]> { return (await this.status()).zones; }

  async killPod(name: string, options: KillPodOptions = {}): Promise<void> {
    await this.call('POST', `/pods/${encodeURIComponent(name)}/kill`, { signal: options.signal ?? 'SIGKILL' });
  }

  async deletePod(name: string, options: DeletePodOptions = {}): Promise<void> {
    await this.call('POST', `/pods/${encodeURIComponent(name)}/delete`, options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds });
  }

  async drainNode(node: string, options: WaitOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? NODE_DRAIN_TIMEOUT_MS;
    await this.call('POST', `/nodes/${encodeURIComponent(node)}/drain`, { timeoutMs }, timeoutMs + CONTROL_API_MARGIN_MS);
  }

  async uncordonNode(node: string): Promise<void> { await this.call('POST', `/nodes/${encodeURIComponent(node)}/uncordon`, {}); }
  natsNodes(): Promise<NatsNodeInfo[]> { return this.call('GET', '/nats'); }
  private async natsNodeName(index: number): Promise<string> {
    const node = (await this.natsNodes()).find((n) => n.index === index);
    if (!node) throw new Error(`no NATS server at index ${index}`);
    return node.name;
  }
  async killNatsNode(index: number): Promise<void> { await this.call('POST', `/nats/${encodeURIComponent(await this.natsNodeName(index))}/kill`, {}); }
  async restoreNatsNode(index: number): Promise<void> { await this.call('POST', `/nats/${encodeURIComponent(await this.natsNodeName(index))}/restore`, {}, NATS_RESTORE_TIMEOUT_MS); }
  async failZone(zone: string): Promise<void> { await this.call('POST', `/zones/${encodeURIComponent(zone)}/fail`, {}); }
  async restoreZone(zone: string): Promise<void> { await this.call('POST', `/zones/${encodeURIComponent(zone)}/restore`, {}); }

  getPodLogs(name: string): Promise<string> { return this.call('GET', `/pods/${encodeURIComponent(name)}/logs`); }

  /** Tries a flow from the pod through its sidecar, where the local target enforces the NetworkPolicies. */
  async probeFlow(pod: string, to: { workload: string; port: number }): Promise<FlowProbe> {
    return this.call<FlowProbe>('POST', `/pods/${encodeURIComponent(pod)}/probe`, to);
  }

  /**
   * A network fault in one pod's sidecar (local only; the chaos executor builds on it):
   * `fault` undefined clears the scope.
   */
  async setNetworkFault(pod: string, scope: FaultScope, fault: NetworkFault | undefined): Promise<void> {
    await this.call('POST', `/pods/${encodeURIComponent(pod)}/network`, { link: scope.link ?? 'all', flow: scope.flow ?? 'both', fault: fault ?? null });
  }

  async mintToken(tenant: string, tier: Tier = 'small'): Promise<string> {
    return mintTenantToken(loadSecrets({ PERCOLATE_SECRETS_FILE: this.state.secretsFile }), tenant, tier);
  }

  async signToken(claims: Record<string, unknown>, options: SignOptions): Promise<string> {
    return signToken(loadSecrets({ PERCOLATE_SECRETS_FILE: this.state.secretsFile }), claims, options);
  }

  async mintAdminToken(): Promise<string> {
    return mintAdminToken(loadSecrets({ PERCOLATE_SECRETS_FILE: this.state.secretsFile }));
  }

  /**
   * Applies one resource of `chaos/` (read here, so a relative path is the caller's) and
   * returns what the daemon's executor did. Rejects with a ControlApiError: 400 for a bad
   * resource (every problem listed), 422 for one the local target cannot run with its
   * meaning, 409 when it selects nothing or is already in force.
   */
  async applyExperiment(file: string): Promise<void> {
    await this.applyExperimentFile(file);
  }

  /** `applyExperiment`, returning the executor's record (what it picked and did). */
  async applyExperimentFile(file: string): Promise<ExperimentRecord> {
    let yaml: string;
    try {
      yaml = await readFile(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the experiment ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return this.call<ExperimentRecord>('POST', '/chaos/apply', { yaml, source: resolve(file) }).catch((err: unknown) => {
      // 422: the executor cannot give the resource its meaning here, and says why (the
      // target-neutral error a spec skips on; the control API's own status stays on `cause`).
      if (err instanceof ControlApiError && err.status === 422) throw new ExperimentRefused(`${file}: ${err.reason}`, { cause: err });
      throw err;
    });
  }

  /** Applies a resource given as an object (a parsed file, or one built in a test): the control API's answer as it is. */
  async applyExperimentResource(resource: unknown): Promise<ExperimentRecord> {
    return this.call('POST', '/chaos/apply', { resource });
  }

  /** Every experiment of this run (in force, finished or recovered), newest first. */
  async listExperiments(): Promise<ExperimentRecord[]> {
    return (await this.call<{ experiments: ExperimentRecord[] }>('GET', '/chaos')).experiments;
  }

  /** Undoes one experiment (`name` or `namespace/name`), or every one in force. */
  async recover(name?: string): Promise<void> {
    await this.recoverExperiments(name);
  }

  /** `recover`, returning the records of what was undone. */
  async recoverExperiments(name?: string): Promise<ExperimentRecord[]> {
    return (await this.call<{ recovered: ExperimentRecord[] }>('POST', '/chaos/recover', name === undefined ? {} : { name })).recovered;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.owned) await downLocalCluster({ stateDir: this.stateDir });
    } finally {
      this.onClosed();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> { await this.close(); }
}

const START_HINT = 'start one with `npx percolate test-topology up`';

/**
 * Attaches to the running local cluster of a state dir (closing the target leaves it
 * running). The one attach: the CLI, `openTarget` and the suite's global setup all come
 * here. Refused, with a NoClusterError that says why and what to do, when no daemon runs
 * there, when the run that owned the cluster is gone (it is going away and is never
 * reused: the next `up` sweeps it), and — unless `anyPhase` (`status` shows a cluster
 * while it starts or stops) — when it is not ready.
 */
export function attachLocalCluster(stateDir: string = defaultStateDir(), { anyPhase = false }: { anyPhase?: boolean } = {}): LocalClusterTarget {
  const state = readState(stateDir);
  if (!state || !daemonAlive(state)) throw new NoClusterError(`no local cluster is running (state dir ${stateDir}): ${START_HINT}`);
  if (ownerGone(state)) throw new NoClusterError(`the local cluster in ${stateDir} belonged to a run that is gone (pid ${state.owner!.pid}); it will be swept: ${START_HINT}`);
  if (!anyPhase && state.phase !== 'ready') throw new NoClusterError(`the local cluster in ${stateDir} is ${state.phase}: wait for it, or \`npx percolate test-topology down\` and start again`);
  if (!state.control) throw new NoClusterError(`the local cluster in ${stateDir} has no control API yet (it is ${state.phase}): wait for it`);
  return new LocalClusterTarget(state, stateDir, false);
}
