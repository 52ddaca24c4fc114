/** The shapes the rest of the project reads out of the rendered manifests. */

export type ProfileOverlay = 'fast' | 'realistic';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // Each kind has its own spec; readers narrow it where they use it.
  spec?: any;
  [k: string]: unknown;
}

export interface RenderedManifests {
  objects: K8sObject[];
  overlay: ProfileOverlay;
}

export interface WorkloadSpec {
  kind: 'StatefulSet' | 'Deployment';
  name: string;
  service: 'db-node' | 'worker' | 'gateway';
  /** The pod template's labels: what Services, PDBs, subsets and policies select. */
  labels: Record<string, string>;
  replicas: number;
  containerPort: number;
  /**
   * The container's environment with every value the manifest fixes resolved (literals,
   * the profile ConfigMap, and fieldRefs to labels of the pod template, such as TIER).
   * Left out: what a pod learns from its placement (fieldRef: POD_NAME, NODE_NAME,
   * ZONE), secrets and paths into secret volumes
   * (PERCOLATE_SECRETS_FILE), and the listen address (HOST, PORT), which a runtime
   * chooses per pod.
   */
  env: Record<string, string>;
  readinessPath: string;
  terminationGracePeriodSeconds: number;
  /** Who the container runs as: the container's securityContext over the pod's. */
  runAs?: { uid: number; gid: number; fsGroup?: number };
}

export type ScaledObjectTrigger =
  | { type: 'prometheus'; query: string; threshold: number; activationThreshold: number }
  | { type: 'nats-jetstream'; stream: string; consumer: string; account: string; lagThreshold: number; activationLagThreshold: number };

export interface ScaledObjectSpec {
  name: string;
  target: { kind: string; name: string };
  minReplicaCount: number;
  maxReplicaCount: number;
  pollingIntervalSeconds: number;
  cooldownPeriodSeconds: number;
  scaleDownStabilizationSeconds: number | undefined;
  scaleUpStabilizationSeconds: number | undefined;
  triggers: ScaledObjectTrigger[];
  /** `autoscaling.keda.sh/paused-replicas`: KEDA scales the target to this count and stops autoscaling. */
  pausedReplicas?: number;
  /** `autoscaling.keda.sh/paused: "true"`: KEDA stops autoscaling at the current count. */
  paused?: boolean;
}
