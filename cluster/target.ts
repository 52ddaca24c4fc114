/**
 * The one surface the test suite sees of a cluster (docs/design.md §3). A spec never knows whether
 * it runs against the embedded local runtime, a k3s testcontainer or a real cluster: it
 * asks its target for endpoints, workloads, pods and faults, and skips — saying why — when
 * the target lacks a capability the test needs.
 */

import type { EventFilter, ScaledObjectStatus, ScalingEvent } from './autoscaler/index.ts';
import type { ExperimentRecord } from './chaos/records.ts';
// Types only: the sidecar's fault model is the one network-fault vocabulary of the project
// (Chaos Mesh's NetworkChaos maps onto it), whichever target applies it.
import type { FaultScope, NetworkFault } from './local/network/sidecar.ts';

/** One autoscaler decision (KEDA poll, HPA sync, pause, resume); see cluster/autoscaler/events.ts. */
export type { ScalingEvent };
/** A ScaledObject as `kubectl get scaledobject` shows it, with its pause annotations and its target's replicas. */
export type ScaledObjectInfo = ScaledObjectStatus;

/** Where tests send traffic. Every URL is reachable from the machine that runs the tests. */
export interface ClusterEndpoints {
  /**
   * The database load balancer: the mesh entry that picks the tenant's tier from its token
   * and hashes the tenant header to one pod of that tier, whatever zone the pod is in
   * (a client outside the mesh).
   */
  loadBalancerUrl: string;
  /**
   * The same, as a client in each zone reaches it (its sidecar's place), by zone name:
   * pods in the client's zone get the share of tenants the DestinationRule's locality
   * `distribute` gives them, and the other zones take over when the zone's pods are down
   * (T3.3). Empty on a target that offers no per-zone entry.
   */
  zonalLoadBalancerUrls: Record<string, string>;
  /** The upload gateway (`POST /upload`, `GET /jobs/{id}`), never in the path of reads. */
  gatewayUrl: string;
  /** NATS client URL (JetStream enabled). */
  natsUrl: string;
  /** NATS HTTP monitoring (`/varz`, `/jsz`, `/healthz`) — what KEDA's NATS scaler reads. */
  natsMonitoringUrl: string;
  /** Prometheus HTTP API, the source of the database scaler's metric. */
  prometheusUrl: string;
  /** Extra endpoints a target may offer (e.g. the load balancer's own metrics), by name. */
  extra: Record<string, string>;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** A pod as `kubectl get pods -o wide` would show it, plus the address tests can reach. */
export interface PodInfo {
  name: string;
  /** The StatefulSet or Deployment that owns it. */
  workload: string;
  /** The pod's labels (from the workload's template). */
  labels: Record<string, string>;
  /** host:port reachable from the tests that lands on this pod (on the local target: the
   * inbound port of the pod's sidecar, so network faults apply to it as to mesh traffic). */
  address: string;
  zone: string;
  node: string;
  /** The readiness condition: probes pass and the node can report it. */
  ready: boolean;
  phase: PodPhase;
  /** A deletion is under way (SIGTERM sent, grace period running). */
  terminating: boolean;
  /** Container restarts since the pod was created (crash, kill). */
  restarts: number;
  /** When the pod object was created (ms since epoch). */
  createdAt: number;
  /** Who the container runs as: the running process's user (local), the admitted securityContext (a cluster). */
  user?: { uid: number; gid: number };
}

export interface WorkloadInfo {
  name: string;
  kind: 'StatefulSet' | 'Deployment';
  /** Desired replicas (`spec.replicas`). */
  replicas: number;
  /** Pods that exist and are ready (terminating pods excluded). */
  readyReplicas: number;
  /** All pods of the workload, terminating ones included. */
  pods: string[];
}

export interface NodeInfo {
  name: string;
  zone: string;
  /** Unschedulable (cordoned, e.g. by a drain). */
  cordoned: boolean;
  /** The node is up and reports its pods (false while its zone has failed). */
  ready: boolean;
}

export interface ZoneInfo {
  name: string;
  nodes: string[];
  /** The zone is cut off (`failZone`). */
  failed: boolean;
}

/** What a target can do beyond the basics; tests that need more skip with a reason. */
export type Capability =
  /** Secrets are encrypted at rest in etcd (T4.1 on a cluster). */
  | 'etcdEncryption'
  /** Chaos Mesh is installed and runs the resources in `chaos/`. */
  | 'chaosMesh'
  /** The target's own executor runs the experiments in `chaos/` (network faults in sidecars). */
  | 'localChaos'
  /** Signals can be delivered to a pod's process (`killPod` with a chosen signal). */
  | 'processSignals'
  /** Nodes can be cordoned and drained. */
  | 'nodeDrain'
  /** A whole zone can be failed and restored. */
  | 'zoneFailure'
  /** Pod security contexts are enforced by a kubelet (read-only root, non-root: T4.4). */
  | 'podSecurity';

export interface KillPodOptions extends WaitOptions {
  /** Signal for the container's process; default SIGKILL (a crash). The container restarts in place. */
  signal?: NodeJS.Signals;
}

export interface DeletePodOptions {
  /** Grace before SIGKILL; default the workload's terminationGracePeriodSeconds. 0 = kill now (Chaos Mesh pod-kill). */
  gracePeriodSeconds?: number;
}

export interface WaitOptions {
  /** Upper bound of the wait; the error names what was awaited and the bound. */
  timeoutMs?: number;
}

/** Thrown by operations that a target declares but does not implement yet. */
export class NotImplementedOnTarget extends Error {
  constructor(readonly target: string, readonly operation: string, detail = '') {
    super(`${operation} is not implemented on the ${target} target yet${detail ? `: ${detail}` : ''}`);
    this.name = 'NotImplementedOnTarget';
  }
}

/**
 * The target cannot run a chaos experiment with the meaning its kind has (the local target
 * cannot confine a StressChaos without cgroups): a test that needs it skips with `message`.
 */
export class ExperimentRefused extends Error {
  override name = 'ExperimentRefused';
}

/**
 * No cluster of the chosen target is running to attach to (or the one there may not be
 * used: its run is gone, or it is still starting). The message says how to get one.
 */
export class NoClusterError extends Error {
  override name = 'NoClusterError';
}

/** One server of the NATS cluster, as the target runs it. */
export interface NatsNodeInfo {
  /** Position in the cluster (0-based), the argument of `killNatsNode` / `restoreNatsNode`. */
  index: number;
  name: string;
  /** Answering its health check (`/healthz`). */
  up: boolean;
  /** The JetStream streams whose Raft leader it is, where the target can tell. */
  leads?: string[];
}

export interface ClusterTarget extends AsyncDisposable {
  /** `local`, `k3s` or `kube`: reports say where a run happened. */
  readonly kind: string;
  /** What this target can do; see `missingCapabilities`. */
  readonly capabilities: ReadonlySet<Capability>;

  /**
   * The optional parts of the target, by name (see `Capabilities`): the capability's
   * interface, or undefined when this target has no such thing. Prefer the free function
   * `capabilityOf(target, name)`, which also answers for targets without this method.
   */
  capability?<K extends CapabilityName>(name: K): Capabilities[K] | undefined;

  /** The URLs tests use. Stable for the life of the target. */
  getEndpoints(): Promise<ClusterEndpoints>;

  /** Desired replicas of a workload (`percolate-db-small`, `percolate-worker-small`, `percolate-gateway`). */
  getReplicas(workload: string): Promise<number>;
  /** All workloads with their desired and ready replicas. */
  listWorkloads(): Promise<WorkloadInfo[]>;
  /**
   * Sets desired replicas, as `kubectl scale` does; returns once the change is accepted, not
   * when pods are ready (use `waitForReplicasReady`). StatefulSets add and remove ordinals
   * at the top, Deployments remove not-ready then newest pods first.
   *
   * A workload a ScaledObject scales (the databases, the workers) belongs to the autoscaler:
   * unless that ScaledObject is paused, its next poll or sync overrides a manual scale, as
   * KEDA and the HPA do on a cluster. To hold a count, use `pauseAutoscaling(name, n)`.
   */
  scale(workload: string, replicas: number): Promise<void>;
  /**
   * Resolves when the workload has exactly `replicas` pods, all ready and none terminating
   * — the state a test wants before it measures anything. Rejects after the bound.
   */
  waitForReplicasReady(workload: string, replicas: number, options?: WaitOptions): Promise<PodInfo[]>;

  /**
   * Pods, optionally filtered by a label selector (`{ 'app.kubernetes.io/name': 'percolate-db' }`)
   * or a workload name (`{ workload: 'percolate-worker-small' }`).
   */
  listPods(selector?: PodSelector): Promise<PodInfo[]>;
  listNodes(): Promise<NodeInfo[]>;
  listZones(): Promise<ZoneInfo[]>;

  /**
   * Sends a signal to the pod's container process (SIGKILL by default: a crash). The
   * container restarts in place — same pod name, node and address — as a kubelet restarts
   * a crashed container; `restarts` increases.
   */
  killPod(name: string, options?: KillPodOptions): Promise<void>;
  /**
   * Deletes the pod gracefully (SIGTERM, then SIGKILL after the grace period); its
   * controller recreates it — a StatefulSet under the same name, a Deployment under a new one.
   */
  deletePod(name: string, options?: DeletePodOptions): Promise<void>;

  /**
   * `kubectl drain`: cordons the node, then evicts its pods one at a time, each recreated
   * on another node and ready before the next goes (a PodDisruptionBudget of maxUnavailable 1).
   * Resolves when the node is empty.
   */
  drainNode(node: string, options?: WaitOptions): Promise<void>;
  /** Makes a cordoned node schedulable again. Evicted pods stay where they were recreated. */
  uncordonNode(node: string): Promise<void>;

  /**
   * A zone outage: every pod in the zone becomes unreachable (its traffic in and out is cut,
   * connections fail) and not ready, and its nodes stop taking pods. Pods are not moved:
   * a StatefulSet does not replace pods on unreachable nodes on its own.
   */
  failZone(zone: string): Promise<void>;
  /** Ends a zone outage: traffic flows again, pods become ready once their probes pass. */
  restoreZone(zone: string): Promise<void>;

  /** The pod's container log (stdout and stderr), as `kubectl logs`. */
  getPodLogs(name: string): Promise<string>;

  /** A bearer token for a tenant of the given tier, signed with the cluster's secrets. */
  mintToken(tenant: string, tier?: 'small' | 'medium' | 'large'): Promise<string>;
  /** A bearer token with the admin role (key rotation and other operator endpoints). */
  mintAdminToken(): Promise<string>;
  /**
   * Signs any claims with the cluster's issuer key (expired, another issuer…), so that edge
   * tests can present tokens the issuer did sign but the edge must still refuse. Absent
   * where the tests do not hold the issuer's private key.
   */
  signToken?(claims: Record<string, unknown>, options: { subject: string; issuedAt?: number; expiresAt?: number; issuer?: string }): Promise<string>;

  /** Applies a chaos experiment from `chaos/` (one resource per file). */
  applyExperiment(file: string): Promise<void>;
  /** Removes every applied experiment and lets the cluster heal. */
  recover(): Promise<void>;

  /**
   * Pauses a ScaledObject, with KEDA's semantics: with `replicas`, its target is scaled to that
   * count and held there (`autoscaling.keda.sh/paused-replicas: "<n>"`); without, it is held
   * at whatever count it has (`autoscaling.keda.sh/paused: "true"`). A paused ScaledObject
   * makes no decisions — demand at zero included — until resumed; a manual `scale()` of its
   * target then sticks. Resolves once the target has been scaled (not once its pods are
   * ready). On a cluster: `kubectl annotate scaledobject <name> <annotation>=<value> --overwrite`.
   */
  pauseAutoscaling(scaledObject: string, replicas?: number): Promise<void>;
  /**
   * Removes both pause annotations: KEDA recreates the HPA (with no history of
   * recommendations) and polls at once, so the count moves to what the metrics ask for.
   * On a cluster: `kubectl annotate scaledobject <name> autoscaling.keda.sh/paused- autoscaling.keda.sh/paused-replicas-`.
   */
  resumeAutoscaling(scaledObject: string): Promise<void>;
  /**
   * The autoscaler's decisions, oldest first: every KEDA poll and HPA sync (filter on
   * `replicasBefore !== replicasAfter` for scale events), every pause and resume. `since`
   * keeps those at or after a time (ms since the epoch). On a cluster, KEDA and the HPA
   * controller report them as Kubernetes events and in their logs.
   */
  getScalingEvents(options?: { since?: number }): Promise<ScalingEvent[]>;
  /** Every ScaledObject: its target, whether it is paused (and at what count), and the target's replicas. */
  listScaledObjects(): Promise<ScaledObjectInfo[]>;

  /**
   * Optional: the NATS servers of the cluster. A target without it (or with fewer than three
   * servers) cannot run T6.4, which needs a JetStream R3 cluster to lose one node and then quorum.
   */
  natsNodes?(): Promise<NatsNodeInfo[]>;
  /** Optional: stops one NATS server (SIGKILL; on a cluster, its pod deleted and kept from restarting). */
  killNatsNode?(index: number): Promise<void>;
  /** Optional: starts a stopped NATS server again on its own store; it rejoins the cluster. */
  restoreNatsNode?(index: number): Promise<void>;

  /**
   * Releases the target. A target that started its cluster (a builder's `start()`) stops it
   * and everything it started; one that attached to a running cluster only lets go of it.
   */
  close(): Promise<void>;
}

/** A label selector, or `workload` for the owning workload's name. */
export type PodSelector = Record<string, string> & { workload?: string };

export function matchesSelector(pod: PodInfo, selector: PodSelector | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([key, value]) => (key === 'workload' ? pod.workload === value : pod.labels[key] === value));
}

/** The capabilities a test needs that the target lacks (empty: run the test). */
export function missingCapabilities(target: Pick<ClusterTarget, 'capabilities' | 'kind'>, ...needed: Capability[]): Capability[] {
  return needed.filter((c) => !target.capabilities.has(c));
}

/**
 * A skip decision with its reason, shaped for both runners:
 * `test.skip(s.skip, s.reason)` (Playwright) or `it.skipIf(s.skip)` + the reason in the title (vitest).
 */
export function skipUnless(target: Pick<ClusterTarget, 'capabilities' | 'kind'>, ...needed: Capability[]): { skip: boolean; reason: string } {
  const missing = missingCapabilities(target, ...needed);
  return {
    skip: missing.length > 0,
    reason: missing.length ? `the ${target.kind} target lacks ${missing.join(', ')}` : '',
  };
}

// ---- Optional capabilities ----------------------------------------------------------
//
// The core above is what every target has. What only some targets can do is reached
// through `capabilityOf(target, name)`, which returns the capability's interface or
// undefined; a spec that needs one asks for it and skips with the reason when it is
// absent (suites/fixtures/target.ts: `requireCapability`). The flat methods of the core
// that overlap (drainNode, failZone, applyExperiment, …) stay for the specs that use them
// and throw NotImplementedOnTarget where the capability is missing.

export type { FaultScope as NetworkFaultScope, NetworkFault };

/** Faults on a pod's links, in either direction: delay, jitter, loss, bandwidth, partition. */
export interface NetworkFaultsCapability {
  /** Sets (or with `fault` undefined clears) a fault on the pod's links within `scope`. */
  setNetworkFault(pod: string, scope: FaultScope, fault: NetworkFault | undefined): Promise<void>;
}

/** One connection tried from a pod to a port of the cluster, and what the network did with it. */
export interface FlowProbe {
  /** The pod it left from. */
  from: string;
  /** `<workload>:<containerPort>`, as the manifests name the port. */
  to: string;
  /**
   * `allowed`: it connected and the other side answered. `refused`: the network policy
   * stopped it. `unanswered`: neither — nothing behind the port answered (no ready pod), so
   * the probe says nothing about the policy.
   */
  outcome: 'allowed' | 'refused' | 'unanswered';
  /** What happened: the policy that refused it, or how the connection ended. */
  detail: string;
}

/**
 * The manifests' NetworkPolicies enforced on the pods' traffic (a CNI on a cluster, the
 * sidecars locally), and a way to try a flow from a pod as a probe pod would (T4.5).
 */
export interface NetworkPoliciesCapability {
  probeFlow(fromPod: string, to: { workload: string; port: number }): Promise<FlowProbe>;
}

/** Node faults: cordon and drain (evictions that respect PodDisruptionBudgets). */
export interface NodeFaultsCapability {
  drainNode(node: string, options?: WaitOptions): Promise<void>;
  uncordonNode(node: string): Promise<void>;
}

/** A whole zone cut off and restored. */
export interface ZoneFaultsCapability {
  failZone(zone: string): Promise<void>;
  restoreZone(zone: string): Promise<void>;
}

/** The experiments of `chaos/`, run by Chaos Mesh on a cluster or by the local executor. */
export interface ChaosCapability {
  /** Who runs them: `chaos-mesh` (the resources are applied for real) or `local-executor`. */
  readonly engine: 'chaos-mesh' | 'local-executor';
  /** Applies one resource file of `chaos/` and returns what was done. */
  applyExperimentFile(file: string): Promise<ExperimentRecord>;
  /** Applies a resource given as an object (a parsed file, or one built in a test). */
  applyExperimentResource(resource: unknown): Promise<ExperimentRecord>;
  /** The experiments of this run, newest first. */
  listExperiments(): Promise<ExperimentRecord[]>;
  /** Undoes one experiment (`name` or `namespace/name`), or every one in force. */
  recoverExperiments(name?: string): Promise<ExperimentRecord[]>;
}

/**
 * Direct access to what a database pod has stored, below its API: the bytes at rest of
 * one tenant (T4.1's local counterpart: no plaintext in them). No target offers it yet.
 */
export interface RawStoreCapability {
  readStoredBytes(pod: string, tenant: string): Promise<Uint8Array[]>;
}

/** The autoscaler's decision history, filtered by ScaledObject and to scale events only. */
export interface ScalingHistoryCapability {
  /**
   * `complete`: every KEDA poll and HPA sync is recorded (the local autoscaler). Otherwise
   * only what the cluster reports as events (scale changes, activation), which Kubernetes
   * keeps for about an hour.
   */
  readonly complete: boolean;
  getScalingEvents(filter?: EventFilter): Promise<ScalingEvent[]>;
}

/** A k6-operator `TestRun` as the kube target applies it (load/tools/testrun.ts renders one). */
export interface DistributedLoadRun {
  name: string;
  namespace: string;
  /** ConfigMap, Secret, TestRun, applied in this order. */
  objects: Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace: string } }>;
  timeoutMs: number;
}

/** How a TestRun ended: its last stage and each runner pod's log (where its summary is). */
export interface DistributedLoadResult {
  stage: string;
  runnerLogs: Array<{ pod: string; log: string }>;
}

/** k6 run in the cluster by the k6-operator: a TestRun applied, waited for, its runners' logs read, and removed. */
export interface LoadOperatorCapability {
  runTestRun(run: DistributedLoadRun, onProgress?: (stage: string) => void): Promise<DistributedLoadResult>;
}

/** The token issuer's keys: every key id of the JWKS, and the one that signs now. */
export interface IssuerKeys {
  current: string;
  kids: string[];
}

/**
 * The token issuer's key rotated on the running cluster, as an identity provider does it:
 * the new key joins the JWKS that the edge and every service verify with, then signs new
 * tokens; tokens of the keys before it still verify until retired. The local target only:
 * on a cluster the keys are in a Secret the pods mount and inline in the
 * RequestAuthentication (or at an identity provider its jwksUri names), which this suite
 * does not rotate.
 */
export interface IssuerKeysCapability {
  issuerKeys(): Promise<IssuerKeys>;
  /** Resolves once the edge verifies with the new JWKS (the services look a new kid up at once). */
  rotateIssuerKey(): Promise<IssuerKeys>;
  /** What the key signed is refused at the edge once this resolves, and by the services soon after. The signing key cannot be retired. */
  retireIssuerKey(kid: string): Promise<IssuerKeys>;
}

export interface Capabilities {
  network: NetworkFaultsCapability;
  networkPolicies: NetworkPoliciesCapability;
  nodes: NodeFaultsCapability;
  zones: ZoneFaultsCapability;
  chaos: ChaosCapability;
  rawStore: RawStoreCapability;
  scalingHistory: ScalingHistoryCapability;
  loadOperator: LoadOperatorCapability;
  issuerKeys: IssuerKeysCapability;
}
export type CapabilityName = keyof Capabilities;
export const CAPABILITY_NAMES: readonly CapabilityName[] = ['network', 'networkPolicies', 'nodes', 'zones', 'chaos', 'rawStore', 'scalingHistory', 'loadOperator', 'issuerKeys'];

/** What each capability is, for skip reasons. */
const CAPABILITY_TEXT: Record<CapabilityName, string> = {
  network: 'network faults on pod links',
  networkPolicies: 'NetworkPolicy enforcement with a way to try flows from a pod',
  nodes: 'node drain and cordon',
  zones: 'zone failure',
  chaos: 'chaos experiments (Chaos Mesh or the local executor)',
  rawStore: 'raw access to the stored bytes of a tenant',
  scalingHistory: 'the autoscaler\'s decision history',
  loadOperator: 'k6 runners in the cluster (the k6-operator)',
  issuerKeys: 'issuer key rotation (on a cluster the Secret and the RequestAuthentication\'s jwks are rotated by hand or by your identity provider)',
};

/** The capability's interface, or undefined when the target lacks it. */
export function capabilityOf<K extends CapabilityName>(target: Pick<ClusterTarget, 'capability'>, name: K): Capabilities[K] | undefined {
  return target.capability?.(name);
}

/** Why a test that needs `name` cannot run on `target` ('' when it can). */
export function capabilityMissingReason(target: Pick<ClusterTarget, 'capability' | 'kind'>, name: CapabilityName): string {
  return capabilityOf(target, name) ? '' : `the ${target.kind} target has no ${CAPABILITY_TEXT[name]} (capability '${name}')`;
}

/** Like capabilityOf, for code that cannot go on without it (the CLI): the error says why. */
export function mustHaveCapability<K extends CapabilityName>(target: Pick<ClusterTarget, 'capability' | 'kind'>, name: K): Capabilities[K] {
  const found = capabilityOf(target, name);
  if (!found) throw new NotImplementedOnTarget(target.kind, name, capabilityMissingReason(target, name));
  return found;
}
