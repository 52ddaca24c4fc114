import type { ScaledObjectSpec, ScaledObjectTrigger } from '../manifests.ts';

/**
 * What one ScaledObject means to the autoscaler: KEDA's own fields (polling, activation,
 * cooldown) and the HorizontalPodAutoscaler KEDA would create for it (min/max, tolerance,
 * behavior). Built from the rendered manifests, with the Kubernetes defaults filled in where
 * the ScaledObject is silent.
 */

export type PolicyType = 'Pods' | 'Percent';
export interface HpaScalingPolicy { type: PolicyType; value: number; periodSeconds: number }
export type SelectPolicy = 'Max' | 'Min' | 'Disabled';
export interface HpaScalingRules { stabilizationWindowSeconds: number; selectPolicy: SelectPolicy; policies: HpaScalingPolicy[] }
export interface HpaBehavior { scaleUp: HpaScalingRules; scaleDown: HpaScalingRules }

/**
 * kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/ ("Default Behavior",
 * "Algorithm details"): the values an HPA uses for whatever its `behavior` leaves out.
 */
export const HPA_DEFAULTS = {
  /** --horizontal-pod-autoscaler-tolerance */
  tolerance: 0.1,
  /** --horizontal-pod-autoscaler-sync-period */
  syncPeriodSeconds: 15,
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }],
  },
  scaleDown: {
    // --horizontal-pod-autoscaler-downscale-stabilization
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  },
} as const satisfies { tolerance: number; syncPeriodSeconds: number } & HpaBehavior;

export interface AutoscalerConfig {
  /** The ScaledObject's name. */
  name: string;
  /** The StatefulSet or Deployment it scales. */
  workload: string;
  workloadKind: string;
  minReplicaCount: number;
  maxReplicaCount: number;
  pollingIntervalMs: number;
  cooldownPeriodMs: number;
  /** KEDA's initialCooldownPeriod: before any trigger was ever active, how long to wait after creation before scaling to zero. */
  initialCooldownPeriodMs: number;
  hpa: {
    /** KEDA gives its HPA max(minReplicaCount, 1): the HPA never goes below one, KEDA does 1 → 0. */
    minReplicas: number;
    maxReplicas: number;
    tolerance: number;
    syncPeriodMs: number;
    behavior: HpaBehavior;
  };
  triggers: ScaledObjectTrigger[];
}

export interface ConfigOptions {
  /**
   * How often the HPA part evaluates. Kubernetes syncs every 15 s; the default here is the
   * ScaledObject's pollingInterval, because a 15 s sync would hide the fast profile's 5 s
   * stabilization window entirely. Pass 15 for Kubernetes' timing.
   */
  hpaSyncPeriodSeconds?: number;
  tolerance?: number;
  initialCooldownPeriodSeconds?: number;
  /** HPA policies and windows beyond what ScaledObjectSpec carries; merged over the defaults field by field. */
  behavior?: { scaleUp?: Partial<HpaScalingRules>; scaleDown?: Partial<HpaScalingRules> };
}

export class InvalidScaledObject extends Error {
  constructor(readonly scaledObject: string, reason: string) {
    super(`ScaledObject/${scaledObject}: ${reason}`);
    this.name = 'InvalidScaledObject';
  }
}

function rules(defaults: HpaScalingRules, ...layers: Array<Partial<HpaScalingRules> | undefined>): HpaScalingRules {
  const merged: HpaScalingRules = { ...defaults, policies: [...defaults.policies] };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.stabilizationWindowSeconds !== undefined) merged.stabilizationWindowSeconds = layer.stabilizationWindowSeconds;
    if (layer.selectPolicy !== undefined) merged.selectPolicy = layer.selectPolicy;
    if (layer.policies !== undefined) merged.policies = [...layer.policies];
  }
  return merged;
}

export function triggerThreshold(trigger: ScaledObjectTrigger): number {
  return trigger.type === 'prometheus' ? trigger.threshold : trigger.lagThreshold;
}

export function triggerActivationThreshold(trigger: ScaledObjectTrigger): number {
  return trigger.type === 'prometheus' ? trigger.activationThreshold : trigger.activationLagThreshold;
}

/** A short name for events and logs. */
export function triggerLabel(trigger: ScaledObjectTrigger): string {
  return trigger.type === 'prometheus' ? `prometheus(${trigger.query})` : `nats-jetstream(${trigger.stream}/${trigger.consumer})`;
}

export function autoscalerConfig(spec: ScaledObjectSpec, options: ConfigOptions = {}): AutoscalerConfig {
  const fail = (reason: string): never => { throw new InvalidScaledObject(spec.name, reason); };
  if (spec.minReplicaCount < 0 || !Number.isInteger(spec.minReplicaCount)) fail(`minReplicaCount must be a whole number ≥ 0, got ${spec.minReplicaCount}`);
  if (spec.maxReplicaCount < 1 || !Number.isInteger(spec.maxReplicaCount)) fail(`maxReplicaCount must be a whole number ≥ 1, got ${spec.maxReplicaCount}`);
  if (spec.minReplicaCount > spec.maxReplicaCount) fail(`minReplicaCount (${spec.minReplicaCount}) exceeds maxReplicaCount (${spec.maxReplicaCount})`);
  if (!(spec.pollingIntervalSeconds > 0)) fail(`pollingInterval must be > 0, got ${spec.pollingIntervalSeconds}`);
  if (!(spec.cooldownPeriodSeconds >= 0)) fail(`cooldownPeriod must be ≥ 0, got ${spec.cooldownPeriodSeconds}`);
  if (spec.triggers.length === 0) fail('has no triggers');
  for (const t of spec.triggers) {
    // An AverageValue target of zero or less would make every ratio infinite.
    if (!(triggerThreshold(t) > 0)) fail(`${triggerLabel(t)}: the scaling threshold must be > 0, got ${triggerThreshold(t)}`);
  }
  const syncSeconds = options.hpaSyncPeriodSeconds ?? spec.pollingIntervalSeconds;
  if (!(syncSeconds > 0)) fail(`the HPA sync period must be > 0, got ${syncSeconds}`);
  const fromSpec = {
    scaleUp: spec.scaleUpStabilizationSeconds === undefined ? undefined : { stabilizationWindowSeconds: spec.scaleUpStabilizationSeconds },
    scaleDown: spec.scaleDownStabilizationSeconds === undefined ? undefined : { stabilizationWindowSeconds: spec.scaleDownStabilizationSeconds },
  };
  return {
    name: spec.name,
    workload: spec.target.name,
    workloadKind: spec.target.kind,
    minReplicaCount: spec.minReplicaCount,
    maxReplicaCount: spec.maxReplicaCount,
    pollingIntervalMs: spec.pollingIntervalSeconds * 1000,
    cooldownPeriodMs: spec.cooldownPeriodSeconds * 1000,
    initialCooldownPeriodMs: (options.initialCooldownPeriodSeconds ?? 0) * 1000,
    hpa: {
      minReplicas: Math.max(spec.minReplicaCount, 1),
      maxReplicas: spec.maxReplicaCount,
      tolerance: options.tolerance ?? HPA_DEFAULTS.tolerance,
      syncPeriodMs: syncSeconds * 1000,
      behavior: {
        scaleUp: rules(HPA_DEFAULTS.scaleUp as HpaScalingRules, fromSpec.scaleUp, options.behavior?.scaleUp),
        scaleDown: rules(HPA_DEFAULTS.scaleDown as HpaScalingRules, fromSpec.scaleDown, options.behavior?.scaleDown),
      },
    },
    triggers: spec.triggers,
  };
}

/**
 * Upper bounds on how long each kind of decision can take once its condition holds, for
 * tests that derive deadlines from the manifests instead of constants.
 */
export function decisionBounds(config: AutoscalerConfig): { activationMs: number; scaleUpMs: number; scaleDownMs: number; toZeroMs: number } {
  return {
    activationMs: config.pollingIntervalMs,
    scaleUpMs: config.hpa.syncPeriodMs + config.hpa.behavior.scaleUp.stabilizationWindowSeconds * 1000,
    scaleDownMs: config.hpa.syncPeriodMs + config.hpa.behavior.scaleDown.stabilizationWindowSeconds * 1000,
    toZeroMs: config.cooldownPeriodMs + 2 * config.pollingIntervalMs,
  };
}
