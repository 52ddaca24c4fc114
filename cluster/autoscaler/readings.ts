import type { ScaledObjectTrigger } from '../manifests.ts';
import { triggerActivationThreshold } from './config.ts';

/** One trigger's metric at one poll: a value, or why there is none. */
export type TriggerReading =
  | { trigger: ScaledObjectTrigger; value: number; error?: undefined }
  | { trigger: ScaledObjectTrigger; value?: undefined; error: string };

/**
 * keda.sh/docs/2.15/concepts/scaling-deployments/ ("Activating and Scaling thresholds"): a
 * trigger is active only when its metric is strictly greater than its activation value.
 */
export function isTriggerActive(reading: TriggerReading): boolean {
  return reading.error === undefined && reading.value > triggerActivationThreshold(reading.trigger);
}

/**
 * KEDA hands the HPA its metrics as milli-quantities, truncating (GenerateMetricInMili), and
 * the HPA computes on those integers.
 */
export function toMilli(value: number): number {
  return Math.trunc(value * 1000);
}
