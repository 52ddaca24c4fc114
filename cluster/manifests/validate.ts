import * as istioNetworkingV1alpha3 from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import * as istioNetworkingV1beta1 from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import * as istioSecurityV1 from '@kubernetes-models/istio/security.istio.io/v1';
import * as istioSecurityV1beta1 from '@kubernetes-models/istio/security.istio.io/v1beta1';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import type { K8sObject } from './types.ts';

interface Validatable { validate(): void }
interface ModelClass { new (data: unknown): Validatable; apiVersion: string; kind: string }

function isModelClass(value: unknown): value is ModelClass {
  const candidate = value as Partial<ModelClass> | undefined;
  return typeof value === 'function' && typeof candidate?.apiVersion === 'string' && typeof candidate.kind === 'string';
}

// Core kinds, KEDA and Istio: every API group the manifests (and chaos/) may use.
// A kind outside these has no schema here, and is reported rather than waved through.
const MODULES: readonly object[] = [
  coreV1, appsV1, batchV1, autoscalingV2, networkingV1, policyV1, rbacV1,
  kedaV1alpha1, istioNetworkingV1beta1, istioNetworkingV1alpha3, istioSecurityV1, istioSecurityV1beta1,
];

const MODELS = new Map<string, ModelClass>();
for (const mod of MODULES) {
  for (const value of Object.values(mod)) {
    if (isModelClass(value)) MODELS.set(`${value.apiVersion}/${value.kind}`, value);
  }
}

/** The `apiVersion/kind` pairs that validateObjects knows schemas for. */
export function knownKinds(): string[] {
  return [...MODELS.keys()].sort();
}

/**
 * kubernetes-models' schemas do not forbid unknown properties, yet the API server
 * (kubectl's default field validation: Strict) rejects them, and a misspelt field is
 * the commonest manifest error. The generated validators read every property their
 * schema defines, so running one over a proxy and collecting the keys it never read
 * finds the unknown fields. An object the validator enumerated is a map (labels,
 * data, trigger metadata) and an object it never looked into is free-form: neither
 * is checked.
 */
function unknownFields(model: Validatable): { error: string | undefined; unknown: string[] } {
  const reads = new Map<object, Set<string>>();
  const enumerated = new Set<object>();
  const paths = new Map<object, string>();
  const proxies = new WeakMap<object, object>();

  const wrap = (target: unknown, path: string): unknown => {
    if (target === null || typeof target !== 'object') return target;
    const existing = proxies.get(target);
    if (existing) return existing;
    const seen = new Set<string>();
    reads.set(target, seen);
    paths.set(target, path);
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        const value = Reflect.get(t, key, receiver);
        if (typeof key !== 'string') return value;
        seen.add(key);
        return Object.hasOwn(t, key) ? wrap(value, `${path}/${key}`) : value;
      },
      has(t, key) {
        if (typeof key === 'string') seen.add(key);
        return Reflect.has(t, key);
      },
      ownKeys(t) {
        enumerated.add(t);
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };

  let error: string | undefined;
  try {
    model.validate.call(wrap(model, '') as Validatable);
  } catch (err) {
    error = (err as Error).message;
  }
  const unknown: string[] = [];
  for (const [target, seen] of reads) {
    if (Array.isArray(target) || enumerated.has(target) || seen.size === 0) continue;
    for (const key of Object.keys(target)) if (!seen.has(key)) unknown.push(`${paths.get(target)}/${key}`.slice(1));
  }
  return { error, unknown };
}

/**
 * Validates each object offline against its kind's schema (kubernetes-models, with
 * its KEDA and Istio packages): types, required fields, formats such as resource
 * quantities, and unknown fields. Returns one message per problem; empty means valid.
 */
export function validateObjects(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const identities = new Set<string>();
  for (const obj of objects) {
    const name = `${obj.kind}/${obj.metadata?.name ?? '<unnamed>'}`;
    if (typeof obj.metadata?.name !== 'string' || obj.metadata.name === '') {
      errors.push(`${name}: metadata.name is required`);
    }
    const identity = `${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;
    if (identities.has(identity)) errors.push(`${name}: defined twice in namespace "${obj.metadata?.namespace ?? ''}"`);
    identities.add(identity);

    const Model = MODELS.get(`${obj.apiVersion}/${obj.kind}`);
    if (!Model) {
      errors.push(`${name}: no schema for ${obj.apiVersion} ${obj.kind} (unknown kind or API version)`);
      continue;
    }
    const { error, unknown } = unknownFields(new Model(obj));
    if (error) errors.push(`${name}: ${error}`);
    for (const field of unknown) errors.push(`${name}: unknown field ${field}`);
  }
  return errors;
}
