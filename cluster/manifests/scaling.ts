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
  };
}

/** Every ScaledObject, with KEDA's defaults filled in where the manifest leaves a field out. */
export function scaledObjects(m: RenderedManifests): ScaledObjectSpec[] {
  return m.objects.filter((o) => o.kind === 'ScaledObject').map(scaledObjectOf);
}
