/**
 * The chaos resources of `chaos/`, as TypeScript types of our own: Chaos Mesh's PodChaos,
 * NetworkChaos and Workflow (`chaos-mesh.org/v1alpha1`, the fields the executor gives a
 * meaning to), and two kinds of ours for what Chaos Mesh has no resource for — a node drain
 * and a zone outage (`percolate.io/v1alpha1`), which every target runs as its own operations.
 */

export const CHAOS_MESH_API_VERSION = 'chaos-mesh.org/v1alpha1';
export const PERCOLATE_CHAOS_API_VERSION = 'percolate.io/v1alpha1';

export const SELECTOR_MODES = ['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent'] as const;
export type SelectorMode = (typeof SELECTOR_MODES)[number];

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** Chaos Mesh's PodSelectorSpec. Every field given must match (AND). */
export interface PodSelectorSpec {
  /** Defaults to the resource's namespace (Chaos Mesh's webhook does the same). */
  namespaces?: string[];
  labelSelectors?: Record<string, string>;
  expressionSelectors?: LabelRequirement[];
  annotationSelectors?: Record<string, string>;
  fieldSelectors?: Record<string, string>;
  nodes?: string[];
  /** namespace → pod names; when given, only these pods are considered. */
  pods?: Record<string, string[]>;
  /** Labels of the node the pod runs on (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`). */
  nodeSelectors?: Record<string, string>;
  podPhaseSelectors?: string[];
}

export interface PodSelector {
  selector: PodSelectorSpec;
  mode: SelectorMode;
  /** For fixed (a count) and fixed-percent / random-max-percent (0–100), as a string. */
  value?: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export const POD_CHAOS_ACTIONS = ['pod-kill', 'pod-failure', 'container-kill'] as const;
export type PodChaosAction = (typeof POD_CHAOS_ACTIONS)[number];

export interface PodChaosSpec extends PodSelector {
  action: PodChaosAction;
  /** Required for pod-failure; one-shot actions ignore it. */
  duration?: string;
  /** pod-kill: seconds before SIGKILL (default 0: at once). */
  gracePeriod?: number;
  /** container-kill: which containers (required). */
  containerNames?: string[];
}

export const NETWORK_CHAOS_ACTIONS = ['netem', 'delay', 'loss', 'duplicate', 'corrupt', 'partition', 'bandwidth'] as const;
export type NetworkChaosAction = (typeof NETWORK_CHAOS_ACTIONS)[number];
export type Direction = 'to' | 'from' | 'both';

export interface DelaySpec { latency: string; jitter?: string; correlation?: string; reorder?: { reorder: string; correlation?: string; gap: number } }
export interface LossSpec { loss: string; correlation?: string }
export interface DuplicateSpec { duplicate: string; correlation?: string }
export interface CorruptSpec { corrupt: string; correlation?: string }
export interface BandwidthSpec { rate: string; limit: number; buffer: number; peakrate?: number; minburst?: number }

export interface NetworkChaosSpec extends PodSelector {
  action: NetworkChaosAction;
  duration?: string;
  /** Default `to`: packets from the selected pods (to the target, if any). */
  direction?: Direction;
  /** A second set of pods: the fault applies only between the two sets. */
  target?: PodSelector;
  /** Peers outside Kubernetes (IPs or host names). */
  externalTargets?: string[];
  device?: string;
  targetDevice?: string;
  delay?: DelaySpec;
  loss?: LossSpec;
  duplicate?: DuplicateSpec;
  corrupt?: CorruptSpec;
  bandwidth?: BandwidthSpec;
}

/** Which nodes a NodeChaos picks from; every field given must match. */
export interface NodeSelectorSpec {
  nodes?: string[];
  /** Node labels: `kubernetes.io/hostname`, `topology.kubernetes.io/zone`. */
  nodeSelectors?: Record<string, string>;
  /** Only nodes that run at least one pod matching this selector (e.g. "a node with a database pod"). */
  podSelector?: PodSelectorSpec;
}

export interface NodeChaosSpec {
  action: 'node-drain';
  mode: SelectorMode;
  value?: string;
  selector: NodeSelectorSpec;
  /** How long the node stays cordoned; recovery uncordons it (evicted pods stay where they went). */
  duration: string;
}

export interface ZoneChaosSpec {
  action: 'zone-outage';
  mode: SelectorMode;
  value?: string;
  selector: { zones?: string[] };
  duration: string;
}

export const WORKFLOW_TEMPLATE_TYPES = ['Serial', 'Parallel', 'Suspend', 'PodChaos', 'NetworkChaos'] as const;
export type WorkflowTemplateType = (typeof WORKFLOW_TEMPLATE_TYPES)[number];

export interface WorkflowTemplate {
  name: string;
  templateType: WorkflowTemplateType;
  /** How long the node runs: a chaos node's fault ends then, a Serial/Parallel node stops its children. */
  deadline?: string;
  children?: string[];
  podChaos?: PodChaosSpec;
  networkChaos?: NetworkChaosSpec;
}

export interface WorkflowSpec {
  entry: string;
  templates: WorkflowTemplate[];
}

export type PodChaos = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'PodChaos'; metadata: ObjectMeta; spec: PodChaosSpec };
export type NetworkChaos = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'NetworkChaos'; metadata: ObjectMeta; spec: NetworkChaosSpec };
export type Workflow = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'Workflow'; metadata: ObjectMeta; spec: WorkflowSpec };
export type NodeChaos = { apiVersion: typeof PERCOLATE_CHAOS_API_VERSION; kind: 'NodeChaos'; metadata: ObjectMeta; spec: NodeChaosSpec };
export type ZoneChaos = { apiVersion: typeof PERCOLATE_CHAOS_API_VERSION; kind: 'ZoneChaos'; metadata: ObjectMeta; spec: ZoneChaosSpec };

export type ChaosResource = PodChaos | NetworkChaos | Workflow | NodeChaos | ZoneChaos;
export type ChaosKind = ChaosResource['kind'];

/** The API version each kind belongs to. */
export const KIND_API_VERSION: Record<ChaosKind, string> = {
  PodChaos: CHAOS_MESH_API_VERSION,
  NetworkChaos: CHAOS_MESH_API_VERSION,
  Workflow: CHAOS_MESH_API_VERSION,
  NodeChaos: PERCOLATE_CHAOS_API_VERSION,
  ZoneChaos: PERCOLATE_CHAOS_API_VERSION,
};

/** A bad resource: every problem found, each with the path of the field. */
export class ChaosValidationError extends Error {
  constructor(readonly problems: string[], where = 'chaos resource') {
    super(`${where} is invalid: ${problems.join('; ')}`);
    this.name = 'ChaosValidationError';
  }
}
