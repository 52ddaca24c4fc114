import type { K8sObject, RenderedManifests, ScaledObjectSpec, ScaledObjectTrigger } from './types.ts';

/** KEDA's documented defaults for fields a ScaledObject may leave out. */
export const KEDA_DEFAULTS = {
  pollingInterval: 30,
  cooldownPeriod: 300,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  activation: 0,
  natsAccount: '$G',
  natsLagThreshold: 10, // the nats-jetstream scaler's default when lagThreshold is absent
  targetKind: 'Deployment',
} as const;

/**
 * KEDA's pause annotations on a ScaledObject (keda.sh/docs/2.15/concepts/scaling-deployments/,
 * "Pause autoscaling"): `paused-replicas` scales the target to that count and stops
 * autoscaling; `paused` stops it at whatever count the target has. With both, paused-replicas
 * wins. Removing them (or `paused: "false"`) resumes autoscaling.
 */
export const PAUSED_ANNOTATION = 'autoscaling.keda.sh/paused';
export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas';

// Go's strconv.ParseBool, which KEDA applies to the paused annotation.
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** The pause a ScaledObject's annotations ask for, or undefined when it autoscales. */
export function pauseFromAnnotations(where: string, annotations: Record<string, string> | undefined): { pausedReplicas?: number; paused?: boolean } | undefined {
  const replicas = annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (replicas !== undefined) {
    if (!/^\d+$/.test(replicas.trim()) || Number(replicas) > 2 ** 31 - 1) {
      throw new Error(`${where}: ${PAUSED_REPLICAS_ANNOTATION} must be a whole number of replicas, got ${JSON.stringify(replicas)}`);
    }
    return { pausedReplicas: Number(replicas) };
  }
  const paused = annotations?.[PAUSED_ANNOTATION];
  if (paused === undefined) return undefined;
  if (GO_TRUE.has(paused)) return { paused: true };
  if (GO_FALSE.has(paused)) return undefined;
  throw new Error(`${where}: ${PAUSED_ANNOTATION} must be "true" or "false", got ${JSON.stringify(paused)}`);
}

function number(where: string, field: string, raw: unknown, fallback?: number): number {
  if (raw === undefined || raw === null || raw === '') {
    if (fallback === undefined) throw new Error(`${where}: ${field} is required`);
    return fallback;
  }
  const value = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isFinite(value)) throw new Error(`${where}: ${field} must be a number, got ${JSON.stringify(raw)}`);
  return value;
}

function text(where: string, field: string, raw: unknown, fallback?: string): string {
  if (typeof raw === 'string' && raw !== '') return raw;
  if (fallback !== undefined) return fallback;
  throw new Error(`${where}: ${field} is required`);
}

function trigger(where: string, raw: { type?: unknown; metadata?: Record<string, unknown> }): ScaledObjectTrigger {
  const md = raw.metadata ?? {};
  switch (raw.type) {
    case 'prometheus':
      return {
        type: 'prometheus',
        query: text(where, 'prometheus query', md.query),
        threshold: number(where, 'prometheus threshold', md.threshold),
        activationThreshold: number(where, 'prometheus activationThreshold', md.activationThreshold, KEDA_DEFAULTS.activation),
      };
    case 'nats-jetstream':
      return {
        type: 'nats-jetstream',
        stream: text(where, 'nats-jetstream stream', md.stream),
        consumer: text(where, 'nats-jetstream consumer', md.consumer),
        account: text(where, 'nats-jetstream account', md.account, KEDA_DEFAULTS.natsAccount),
        lagThreshold: number(where, 'nats-jetstream lagThreshold', md.lagThreshold, KEDA_DEFAULTS.natsLagThreshold),
        activationLagThreshold: number(where, 'nats-jetstream activationLagThreshold', md.activationLagThreshold, KEDA_DEFAULTS.activation),
      };
    default:
      throw new Error(`${where}: trigger type ${JSON.stringify(raw.type)} is not one the runtime implements (prometheus, nats-jetstream)`);
  }
}

function scaledObjectOf(obj: K8sObject): ScaledObjectSpec {
  const where = `ScaledObject/${obj.metadata.name}`;
  const spec = obj.spec ?? {};
  const target = spec.scaleTargetRef ?? {};
  const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  const optional = (field: string, raw: unknown) => (raw === undefined ? undefined : number(where, field, raw));
  return {
    name: obj.metadata.name,
    target: { kind: text(where, 'scaleTargetRef.kind', target.kind, KEDA_DEFAULTS.targetKind), name: text(where, 'scaleTargetRef.name', target.name) },
    minReplicaCount: number(where, 'minReplicaCount', spec.minReplicaCount, KEDA_DEFAULTS.minReplicaCount),
    maxReplicaCount: number(where, 'maxReplicaCount', spec.maxReplicaCount, KEDA_DEFAULTS.maxReplicaCount),
    pollingIntervalSeconds: number(where, 'pollingInterval', spec.pollingInterval, KEDA_DEFAULTS.pollingInterval),
    cooldownPeriodSeconds: number(where, 'cooldownPeriod', spec.cooldownPeriod, KEDA_DEFAULTS.cooldownPeriod),
    scaleDownStabilizationSeconds: optional('scaleDown.stabilizationWindowSeconds', behavior?.scaleDown?.stabilizationWindowSeconds),
    scaleUpStabilizationSeconds: optional('scaleUp.stabilizationWindowSeconds', behavior?.scaleUp?.stabilizationWindowSeconds),
    triggers: ((spec.triggers ?? []) as Array<{ type?: unknown; metadata?: Record<string, unknown> }>).map((t) => trigger(where, t)),
    ...pauseFromAnnotations(where, obj.metadata.annotations),
  };
}

/** Every ScaledObject, with KEDA's defaults filled in where the manifest leaves a field out. */
export function scaledObjects(m: RenderedManifests): ScaledObjectSpec[] {
  return m.objects.filter((o) => o.kind === 'ScaledObject').map(scaledObjectOf);
}
