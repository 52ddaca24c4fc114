import type { K8sObject, RenderedManifests, WorkloadSpec } from './types.ts';

type Service = WorkloadSpec['service'];
const SERVICES: readonly Service[] = ['db-node', 'worker', 'gateway'];
// The listen address is the runtime's to choose per pod; containerPort carries the port.
const ADDRESS_ENV = new Set(['HOST', 'PORT']);
const DEFAULT_TERMINATION_GRACE_SECONDS = 30; // Kubernetes' default

// Manifests are untyped JSON; each reader checks the fields it relies on.
type Json = any;

export const WORKLOAD_KINDS = ['StatefulSet', 'Deployment', 'DaemonSet', 'ReplicaSet', 'Job'] as const;

/** The pod spec of a workload object (its template), or undefined for other kinds. */
export function podSpecOf(obj: K8sObject): Json | undefined {
  if (!(WORKLOAD_KINDS as readonly string[]).includes(obj.kind)) return undefined;
  return obj.spec?.template?.spec;
}

/** `registry/org/db-node:0.1.0@sha256:…` → `db-node`. */
export function imageBaseName(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const repo = colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
  return repo.slice(repo.lastIndexOf('/') + 1);
}

function asService(image: unknown): Service | undefined {
  if (typeof image !== 'string') return undefined;
  const base = imageBaseName(image);
  return (SERVICES as readonly string[]).includes(base) ? (base as Service) : undefined;
}

function configMapData(m: RenderedManifests, namespace: string | undefined, name: string): Record<string, string> | undefined {
  const cm = m.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name && o.metadata.namespace === namespace);
  return cm ? ((cm.data as Record<string, string> | undefined) ?? {}) : undefined;
}

function secretMountPaths(pod: Json, container: Json): string[] {
  const secretVolumes = new Set<string>(
    (pod.volumes ?? [])
      .filter((v: Json) => v.secret || v.projected?.sources?.some((s: Json) => s.secret))
      .map((v: Json) => v.name),
  );
  return (container.volumeMounts ?? []).filter((vm: Json) => secretVolumes.has(vm.name)).map((vm: Json) => String(vm.mountPath));
}

/**
 * A fieldRef to one of the pod's labels that the template itself sets (TIER from
 * percolate.io/tier): every pod of the workload gets the same value. Labels the cluster
 * adds at placement (topology.kubernetes.io/zone) are not in the template: undefined.
 */
function templateLabelOf(obj: K8sObject, fieldPath: unknown): string | undefined {
  const key = typeof fieldPath === 'string' ? /^metadata\.labels\['([^']+)'\]$/.exec(fieldPath)?.[1] : undefined;
  const value: unknown = key === undefined ? undefined : obj.spec?.template?.metadata?.labels?.[key];
  return typeof value === 'string' ? value : undefined;
}

function resolveEnv(m: RenderedManifests, obj: K8sObject, pod: Json, container: Json): Record<string, string> {
  const where = `${obj.kind}/${obj.metadata.name}`;
  const ns = obj.metadata.namespace;
  const secretPaths = secretMountPaths(pod, container);
  const inSecretVolume = (value: string) => secretPaths.some((p) => value === p || value.startsWith(p.endsWith('/') ? p : `${p}/`));
  const env: Record<string, string> = {};

  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) continue; // secretRef: secrets stay out
    const data = configMapData(m, ns, source.configMapRef.name);
    if (!data) {
      if (source.configMapRef.optional) continue;
      throw new Error(`${where}: envFrom names ConfigMap "${source.configMapRef.name}", which the manifests do not contain`);
    }
    for (const [key, value] of Object.entries(data)) env[`${source.prefix ?? ''}${key}`] = String(value);
  }

  for (const entry of container.env ?? []) {
    const name = String(entry.name);
    if (ADDRESS_ENV.has(name)) continue;
    if (entry.valueFrom === undefined) {
      const value = String(entry.value ?? '');
      if (!inSecretVolume(value)) env[name] = value;
      continue;
    }
    const label = templateLabelOf(obj, entry.valueFrom.fieldRef?.fieldPath);
    if (label !== undefined) {
      env[name] = label;
      continue;
    }
    const ref = entry.valueFrom.configMapKeyRef;
    if (!ref) continue; // other fieldRefs, resourceFieldRef, secretKeyRef: decided by the cluster or secret
    const value = configMapData(m, ns, ref.name)?.[ref.key];
    if (value === undefined) {
      if (ref.optional) continue;
      throw new Error(`${where}: env ${name} reads key "${ref.key}" of ConfigMap "${ref.name}", which the manifests do not contain`);
    }
    env[name] = String(value);
  }
  return env;
}

function workloadOf(m: RenderedManifests, obj: K8sObject): WorkloadSpec | undefined {
  if (obj.kind !== 'StatefulSet' && obj.kind !== 'Deployment') return undefined;
  const pod = podSpecOf(obj);
  const container = (pod?.containers ?? []).find((c: Json) => asService(c.image));
  if (!container) return undefined; // nats, prometheus: infrastructure, not our services
  const where = `${obj.kind}/${obj.metadata.name}`;
  const ports: Json[] = container.ports ?? [];
  const port = ports.find((p) => p.name === 'http') ?? ports[0];
  if (typeof port?.containerPort !== 'number') throw new Error(`${where}: container ${container.name} declares no containerPort`);
  const readinessPath = container.readinessProbe?.httpGet?.path;
  if (typeof readinessPath !== 'string') throw new Error(`${where}: container ${container.name} has no HTTP readiness probe`);
  return {
    kind: obj.kind,
    name: obj.metadata.name,
    service: asService(container.image) as Service,
    labels: { ...(obj.spec?.template?.metadata?.labels ?? {}) },
    replicas: obj.spec?.replicas ?? 1,
    containerPort: port.containerPort,
    env: resolveEnv(m, obj, pod, container),
    readinessPath,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS,
    ...runAsOf(pod, container),
  };
}

/** The user and group the container runs as, when the manifests fix them. */
function runAsOf(pod: Json, container: Json): Pick<WorkloadSpec, 'runAs'> {
  const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? uid;
  const fsGroup = pod.securityContext?.fsGroup;
  if (typeof uid !== 'number') return {};
  return { runAs: { uid, gid, ...(typeof fsGroup === 'number' ? { fsGroup } : {}) } };
}

/** The database StatefulSets, the worker and the gateway, as the local runtime runs them. */
export function workloads(m: RenderedManifests): WorkloadSpec[] {
  return m.objects.map((o) => workloadOf(m, o)).filter((w): w is WorkloadSpec => w !== undefined);
}

/** The container ports of a workload in the rendered manifests (the ports its policies speak of), with their names. */
export function containerPorts(m: RenderedManifests, kind: string, name: string): Array<{ port: number; name?: string }> {
  const obj = m.objects.find((o) => o.kind === kind && o.metadata.name === name);
  const containers: Array<{ ports?: Array<{ containerPort?: number; name?: string }> }> = obj?.spec?.template?.spec?.containers ?? [];
  return containers.flatMap((c) => (c.ports ?? []).flatMap((p) => typeof p.containerPort === 'number' ? [{ port: p.containerPort, ...(p.name ? { name: p.name } : {}) }] : []));
}
