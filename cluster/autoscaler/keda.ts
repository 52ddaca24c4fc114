import type { AutoscalerConfig } from './config.ts';
import { type TriggerReading, isTriggerActive } from './readings.ts';

/**
 * KEDA's own part of scaling: 0 ↔ 1 (activation and deactivation). Everything between 1 and
 * N belongs to the HPA (hpa.ts). Follows keda.sh/docs/2.15/concepts/scaling-deployments/
 * ("Activating and Scaling thresholds"), keda.sh/docs/2.15/reference/scaledobject-spec/
 * (cooldownPeriod, minReplicaCount) and the order of cases in KEDA's
 * pkg/scaling/executor/scale_scaledobjects.go (RequestScale, scaleToZeroOrIdle).
 */

export interface KedaState {
  /** When the ScaledObject started (its creationTimestamp), for initialCooldownPeriod. */
  createdAt: number;
  /** status.lastActiveTime: the last poll that found a trigger active with replicas > 0, or the last activation. */
  lastActiveTime: number | undefined;
}

export type KedaReason =
  /** 0 → max(minReplicaCount, 1): a trigger is active. */
  | 'activated'
  /** → 0: no trigger active for longer than cooldownPeriod. */
  | 'deactivated'
  /** Raised to minReplicaCount while idle (someone scaled below it). */
  | 'raised-to-min'
  /** Active with replicas > 0: lastActiveTime moves, the HPA does the rest. */
  | 'active'
  /** Active, but another trigger failed: KEDA changes nothing, not even lastActiveTime. */
  | 'active-with-errors'
  /** Inactive, but within cooldownPeriod of the last activity. */
  | 'cooling-down'
  /** Inactive and a trigger failed: without a `fallback`, KEDA leaves the replicas alone. */
  | 'trigger-error'
  /** Inactive and nothing to do (already at zero, or minReplicaCount > 0 keeps it up). */
  | 'idle';

export interface KedaDecision {
  replicas: number;
  reason: KedaReason;
  isActive: boolean;
  isError: boolean;
  /** Indexes of the triggers that were active. */
  activeTriggers: number[];
  state: KedaState;
}

export function initialKedaState(createdAt: number): KedaState {
  return { createdAt, lastActiveTime: undefined };
}

/**
 * One KEDA poll. `pushedActive` stands for an external-push scaler reporting activity (what
 * KEDA's HTTP add-on does when a request arrives at zero): it counts as an active trigger.
 */
export function kedaDecide(
  config: AutoscalerConfig, state: KedaState, readings: TriggerReading[], currentReplicas: number, now: number, pushedActive = false,
): KedaDecision {
  const activeTriggers = readings.flatMap((r, i) => (isTriggerActive(r) ? [i] : []));
  const isActive = pushedActive || activeTriggers.length > 0;
  const isError = readings.some((r) => r.error !== undefined);
  const decide = (replicas: number, reason: KedaReason, next: KedaState = state): KedaDecision =>
    ({ replicas, reason, isActive, isError, activeTriggers, state: next });

  if (isActive) {
    if (currentReplicas === 0) {
      return decide(Math.max(config.minReplicaCount, 1), 'activated', { ...state, lastActiveTime: now });
    }
    if (isError) return decide(currentReplicas, 'active-with-errors');
    return decide(currentReplicas, 'active', { ...state, lastActiveTime: now });
  }
  if (isError) return decide(currentReplicas, 'trigger-error');
  if (currentReplicas > 0 && config.minReplicaCount === 0) {
    // KEDA compares with Go's Before (strict): at exactly lastActive + cooldown it still waits.
    // It scales straight to 0 from whatever the HPA left, not only from 1.
    const due = state.lastActiveTime === undefined
      ? now - state.createdAt >= config.initialCooldownPeriodMs
      : state.lastActiveTime + config.cooldownPeriodMs < now;
    return due ? decide(0, 'deactivated') : decide(currentReplicas, 'cooling-down');
  }
  if (currentReplicas < config.minReplicaCount) return decide(config.minReplicaCount, 'raised-to-min');
  return decide(currentReplicas, 'idle');
}
