/**
 * The chaos resources of `chaos/`, as TypeScript types of our own: Chaos Mesh's PodChaos,
 * NetworkChaos, StressChaos and Workflow (`chaos-mesh.org/v1alpha1`, the fields the executor gives a
 * meaning to). A zone outage is a PodChaos selecting the zone's nodes; a node drain is a
 * Workflow whose Task runs `kubectl drain`, as on a cluster.
 */

export const CHAOS_MESH_API_VERSION = 'chaos-mesh.org/v1alpha1';

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

/** stress-ng's CPU stressor: `workers` processes, each busy `load` percent of the time. */
export interface CpuStressor { workers: number; load?: number; options?: string[] }
/** stress-ng's vm stressor: `workers` processes, each holding `size` of memory it keeps touching. */
export interface MemoryStressor { workers: number; size?: string; oomScoreAdj?: number; options?: string[] }

export interface StressChaosSpec extends PodSelector {
  duration?: string;
  stressors?: { cpu?: CpuStressor; memory?: MemoryStressor };
  /** Raw stress-ng arguments: Chaos Mesh passes them on; the local target has no stress-ng. */
  stressngStressors?: string;
  containerNames?: string[];
}

export const WORKFLOW_TEMPLATE_TYPES = ['Serial', 'Parallel', 'Suspend', 'PodChaos', 'NetworkChaos', 'Task'] as const;
export type WorkflowTemplateType = (typeof WORKFLOW_TEMPLATE_TYPES)[number];

export interface WorkflowTemplate {
  name: string;
  templateType: WorkflowTemplateType;
  /** How long the node runs: a chaos node's fault ends then, a Serial/Parallel node stops its children. */
  deadline?: string;
  children?: string[];
  podChaos?: PodChaosSpec;
  networkChaos?: NetworkChaosSpec;
  task?: TaskSpec;
}

/** A Task node runs one container to its end; the local executor runs `kubectl` node commands. */
export interface TaskSpec {
  container: { name: string; image: string; command?: string[]; args?: string[] };
}

export interface WorkflowSpec {
  entry: string;
  templates: WorkflowTemplate[];
}

export type PodChaos = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'PodChaos'; metadata: ObjectMeta; spec: PodChaosSpec };
export type NetworkChaos = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'NetworkChaos'; metadata: ObjectMeta; spec: NetworkChaosSpec };
export type StressChaos = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'StressChaos'; metadata: ObjectMeta; spec: StressChaosSpec };
export type Workflow = { apiVersion: typeof CHAOS_MESH_API_VERSION; kind: 'Workflow'; metadata: ObjectMeta; spec: WorkflowSpec };
export type ChaosResource = PodChaos | NetworkChaos | StressChaos | Workflow;
export type ChaosKind = ChaosResource['kind'];

/** The API version each kind belongs to. */
export const KIND_API_VERSION: Record<ChaosKind, string> = {
  PodChaos: CHAOS_MESH_API_VERSION,
  NetworkChaos: CHAOS_MESH_API_VERSION,
  StressChaos: CHAOS_MESH_API_VERSION,
  Workflow: CHAOS_MESH_API_VERSION,
};

/** A bad resource: every problem found, each with the path of the field. */
export class ChaosValidationError extends Error {
  constructor(readonly problems: string[], where = 'chaos resource') {
    super(`${where} is invalid: ${problems.join('; ')}`);
    this.name = 'ChaosValidationError';
  }
}
