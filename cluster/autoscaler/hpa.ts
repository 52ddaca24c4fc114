import { type AutoscalerConfig, type HpaScalingRules, triggerThreshold } from './config.ts';
import { type TriggerReading, toMilli } from './readings.ts';

/**
 * The HorizontalPodAutoscaler KEDA creates for a ScaledObject: 1 ↔ N. Follows
 * kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/ ("Algorithm details",
 * "Scaling on multiple metrics", "Configurable scaling behavior", "Implicit maintenance-mode
 * deactivation") and, for the details the page leaves out, the HPA controller
 * (pkg/controller/podautoscaler: replica_calculator.go GetExternalPerPodMetricReplicas,
 * horizontal.go stabilizeRecommendationWithBehaviors and convertDesiredReplicasWithBehaviorRate).
 */

export interface TimedValue { at: number; value: number }

export interface HpaState {
  /** Unstabilized recommendations, for the stabilization windows. */
  recommendations: TimedValue[];
  /** Replicas the HPA itself added / removed, for the rate policies. */
  scaleUpEvents: TimedValue[];
  scaleDownEvents: TimedValue[];
}

export type HpaReason =
  /** The target sits at 0 while minReplicas > 0: the HPA stands aside (KEDA owns 0). */
  | 'scaling-disabled'
  | 'above-max'
  | 'below-min'
  /** Metrics could not be read, or some could not and the rest say scale down: no change. */
  | 'metric-error'
  | 'scale-up'
  | 'scale-down'
  /** The metrics ask for fewer pods, but a higher recommendation is still in the window. */
  | 'scale-down-stabilized'
  /** The metrics ask for more pods, but a lower recommendation is still in the scale-up window. */
  | 'scale-up-stabilized'
  /** The metrics ask for more (fewer) pods but the count already sits at maxReplicas (minReplicas). */
  | 'at-max'
  | 'at-min'
  /** The scaling policies allow no further change in their period yet. */
  | 'rate-limited'
  /** Every metric is within tolerance of its target. */
  | 'within-tolerance'
  | 'no-change';

export interface HpaDecision {
  replicas: number;
  reason: HpaReason;
  /** What the metrics asked for before stabilization and policies (undefined when not computed). */
  metricReplicas: number | undefined;
  /** Index of the trigger whose proposal won. */
  drivingTrigger: number | undefined;
  /** Per-trigger proposals, undefined for a trigger whose read failed. */
  proposals: Array<number | undefined>;
  state: HpaState;
}

export function initialHpaState(): HpaState {
  return { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
}

/**
 * One external metric with an AverageValue target (what KEDA asks for by default): the
 * target is per pod, so the proposal is ceil(total / target), unless total / (target ×
 * current pods) is within tolerance of 1, in which case the pod count stays.
 */
export function averageValueProposal(value: number, threshold: number, statusReplicas: number, tolerance: number): number {
  if (withinTolerance(value, threshold, statusReplicas, tolerance)) return statusReplicas;
  return Math.ceil(toMilli(value) / toMilli(threshold));
}

/** |1 − total / (target × pods)| ≤ tolerance. NaN (0 / 0) compares false in Go as here, so 0 pods with 0 load is "within". */
export function withinTolerance(value: number, threshold: number, statusReplicas: number, tolerance: number): boolean {
  const ratio = toMilli(value) / (toMilli(threshold) * statusReplicas);
  return !(Math.abs(1 - ratio) > tolerance);
}

/** The largest proposal over all metrics; errors block only a scale-down (or everything if all fail). */
export function replicasForMetrics(
  readings: TriggerReading[], specReplicas: number, statusReplicas: number, tolerance: number,
): { ok: true; replicas: number; driving: number; proposals: Array<number | undefined> } | { ok: false; proposals: Array<number | undefined>; error: string } {
  const proposals = readings.map((r) => (r.error === undefined ? averageValueProposal(r.value, triggerThreshold(r.trigger), statusReplicas, tolerance) : undefined));
  let replicas = 0;
  let driving = -1;
  proposals.forEach((p, i) => {
    if (p !== undefined && (driving < 0 || p > replicas)) { replicas = p; driving = i; }
  });
  const invalid = proposals.filter((p) => p === undefined).length;
  if (invalid === readings.length || (invalid > 0 && replicas < specReplicas)) {
    const first = readings.find((r) => r.error !== undefined);
    return { ok: false, proposals, error: first?.error ?? 'no metrics' };
  }
  return { ok: true, replicas, driving, proposals };
}

/**
 * Stabilization: the result stays at the current count unless every recommendation in the
 * scale-up window is above it (then the lowest of them) or every one in the scale-down
 * window is below it (then the highest of them). The new recommendation joins the window.
 */
export function stabilize(
  up: HpaScalingRules, down: HpaScalingRules, history: TimedValue[], current: number, desired: number, now: number,
): { replicas: number; history: TimedValue[] } {
  const upCutoff = now - up.stabilizationWindowSeconds * 1000;
  const downCutoff = now - down.stabilizationWindowSeconds * 1000;
  let upLimit = desired;
  let downLimit = desired;
  for (const rec of history) {
    if (rec.at > upCutoff) upLimit = Math.min(upLimit, rec.value);
    if (rec.at > downCutoff) downLimit = Math.max(downLimit, rec.value);
  }
  let replicas = current;
  if (replicas < upLimit) replicas = upLimit;
  if (replicas > downLimit) replicas = downLimit;
  // Samples older than both windows can never matter again.
  const kept = history.filter((r) => r.at >= upCutoff || r.at >= downCutoff);
  return { replicas, history: [...kept, { at: now, value: desired }] };
}

function changeWithin(periodSeconds: number, events: TimedValue[], now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.reduce((sum, e) => (e.at > cutoff ? sum + e.value : sum), 0);
}

/** The most replicas the scale-up policies allow now, counted from the start of each policy's period. */
export function scaleUpLimit(current: number, rules: HpaScalingRules, ups: TimedValue[], downs: TimedValue[], now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  for (const policy of rules.policies) {
    const periodStart = current - changeWithin(policy.periodSeconds, ups, now) + changeWithin(policy.periodSeconds, downs, now);
    const proposed = policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** The fewest replicas the scale-down policies allow now. */
export function scaleDownLimit(current: number, rules: HpaScalingRules, ups: TimedValue[], downs: TimedValue[], now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // Min selects the smallest change, which for scaling down is the highest floor.
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const policy of rules.policies) {
    const periodStart = current - changeWithin(policy.periodSeconds, ups, now) + changeWithin(policy.periodSeconds, downs, now);
    const proposed = policy.type === 'Pods' ? periodStart - policy.value : Math.trunc(periodStart * (1 - policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

function recordScaleEvent(state: HpaState, config: AutoscalerConfig, before: number, after: number, now: number): HpaState {
  const longest = (rules: HpaScalingRules) => Math.max(0, ...rules.policies.map((p) => p.periodSeconds)) * 1000;
  const { scaleUp, scaleDown } = config.hpa.behavior;
  const ups = state.scaleUpEvents.filter((e) => e.at > now - longest(scaleUp));
  const downs = state.scaleDownEvents.filter((e) => e.at > now - longest(scaleDown));
  if (after > before) ups.push({ at: now, value: after - before });
  else if (after < before) downs.push({ at: now, value: before - after });
  return { ...state, scaleUpEvents: ups, scaleDownEvents: downs };
}

/**
 * One HPA sync. `statusReplicas` is the number of pods that exist (status.replicas); the
 * local runtime creates pods at once, so it defaults to the desired count.
 */
export function hpaDecide(
  config: AutoscalerConfig, state: HpaState, readings: TriggerReading[], currentReplicas: number, now: number, statusReplicas = currentReplicas,
): HpaDecision {
  const { minReplicas, maxReplicas, tolerance, behavior } = config.hpa;
  const outcome = (replicas: number, reason: HpaReason, extra: Partial<HpaDecision> = {}): HpaDecision => {
    const next = replicas !== currentReplicas ? recordScaleEvent(extra.state ?? state, config, currentReplicas, replicas, now) : (extra.state ?? state);
    return { metricReplicas: undefined, drivingTrigger: undefined, proposals: [], ...extra, replicas, reason, state: next };
  };

  if (currentReplicas === 0 && minReplicas !== 0) return outcome(0, 'scaling-disabled');
  if (currentReplicas > maxReplicas) return outcome(maxReplicas, 'above-max');
  if (currentReplicas < minReplicas) return outcome(minReplicas, 'below-min');

  const metrics = replicasForMetrics(readings, currentReplicas, statusReplicas, tolerance);
  if (!metrics.ok) return outcome(currentReplicas, 'metric-error', { proposals: metrics.proposals });
  const desired = metrics.replicas;

  const stabilized = stabilize(behavior.scaleUp, behavior.scaleDown, state.recommendations, currentReplicas, desired, now);
  const afterWindow: HpaState = { ...state, recommendations: stabilized.history };
  let replicas = stabilized.replicas;
  let limitedBy: 'bounds' | 'policy' | undefined;
  if (replicas > currentReplicas) {
    const limit = Math.max(scaleUpLimit(currentReplicas, behavior.scaleUp, state.scaleUpEvents, state.scaleDownEvents, now), currentReplicas);
    const ceiling = Math.min(maxReplicas, limit);
    if (replicas > ceiling) { limitedBy = maxReplicas <= limit ? 'bounds' : 'policy'; replicas = ceiling; }
  } else if (replicas < currentReplicas) {
    const limit = Math.min(scaleDownLimit(currentReplicas, behavior.scaleDown, state.scaleUpEvents, state.scaleDownEvents, now), currentReplicas);
    const floor = Math.max(minReplicas, limit);
    if (replicas < floor) { limitedBy = minReplicas >= limit ? 'bounds' : 'policy'; replicas = floor; }
  }

  let reason: HpaReason;
  if (replicas > currentReplicas) reason = 'scale-up';
  else if (replicas < currentReplicas) reason = 'scale-down';
  else if (limitedBy === 'bounds') reason = stabilized.replicas > currentReplicas ? 'at-max' : 'at-min';
  else if (limitedBy === 'policy') reason = 'rate-limited';
  else if (desired < currentReplicas) reason = 'scale-down-stabilized';
  else if (desired > currentReplicas) reason = 'scale-up-stabilized';
  else if (readings.every((r) => r.error === undefined && withinTolerance(r.value, triggerThreshold(r.trigger), statusReplicas, tolerance))) reason = 'within-tolerance';
  else reason = 'no-change';
  return outcome(replicas, reason, { metricReplicas: desired, drivingTrigger: metrics.driving, proposals: metrics.proposals, state: afterWindow });
}
