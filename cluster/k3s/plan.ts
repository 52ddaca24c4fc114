import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { GATEWAY, GATEWAY_SERVICE, NAMESPACE, NATS, PART_OF, PART_OF_LABEL, SECRETS } from '../../lib/names.ts';
import type { K8sObject } from '../manifests.ts';
import type { ProfileOverlay } from '../manifests/types.ts';

/**
 * What the k3s target installs, in order, as data: a pure function of the pinned versions,
 * the images and the rendered overlay, so `npm test` can check the plan without Docker and
 * the k3s runner only carries it out (cluster/k3s/start.ts).
 */

export interface ChartPin {
  repo: string;
  chart: string;
  version: string;
  namespace: string;
  /** CRDs that exist once the chart is installed: the wait after it, and the kube preflight's check. */
  crds?: string[];
  values?: Record<string, unknown>;
}

export interface Versions {
  k3s: { image: string; tag: string };
  kubectl: { image: string; tag: string };
  k6: { image: string; tag: string };
  probe: { image: string; tag: string };
  order: string[];
  charts: Record<string, ChartPin>;
  nodePorts: { loadBalancer: number; gateway: number; nats: number; natsMonitoring: number; prometheus: number };
}

export const VERSIONS_FILE = new URL('./versions.yaml', import.meta.url);

export function loadVersions(file: URL | string = VERSIONS_FILE): Versions {
  const v = parse(readFileSync(file, 'utf8')) as Versions;
  for (const name of v.order) if (!v.charts[name]) throw new Error(`versions.yaml: order names "${name}", which has no entry under charts`);
  for (const [name, pin] of Object.entries(v.charts)) {
    if (!/^\d+\.\d+\.\d+$/.test(pin.version)) throw new Error(`versions.yaml: chart ${name} must pin an exact version, got "${pin.version}"`);
  }
  return v;
}

/** How long each kind of wait may take before the run fails with what it was waiting for. */
export const WAIT_BOUNDS_SECONDS = { chart: 300, crds: 120, rollout: 300 } as const;

export type WaitCheck =
  | { type: 'crds-established'; names: string[] }
  | { type: 'deployments-available'; namespace: string }
  | { type: 'workloads-ready'; namespace: string; workloads: { kind: 'Deployment' | 'StatefulSet'; name: string }[] };

export type InstallStep =
  | { kind: 'start-k3s'; image: string; args: string[]; exposedPorts: number[] }
  | { kind: 'import-images'; images: { ref: string; dockerfile: string }[] }
  | { kind: 'helm-chart'; name: string; pin: ChartPin; object: K8sObject }
  | { kind: 'apply'; what: string; objects: K8sObject[] }
  | { kind: 'wait'; what: string; check: WaitCheck; timeoutSeconds: number };

export interface PlanInput {
  versions: Versions;
  profile: ProfileOverlay;
  images: { ref: string; dockerfile: string }[];
  /** The rendered overlay (manifests/overlays/<profile>). */
  manifests: K8sObject[];
  /** The contents of the secrets file the services read (reference-services/shared/secrets.ts). */
  secretsJson: string;
}

export const PERCOLATE_NAMESPACE = NAMESPACE;

/** k3s's helm-controller installs a chart from this resource. */
export function helmChartObject(name: string, pin: ChartPin): K8sObject {
  return {
    apiVersion: 'helm.cattle.io/v1',
    kind: 'HelmChart',
    metadata: { name, namespace: 'kube-system' },
    spec: {
      repo: pin.repo,
      chart: pin.chart,
      version: pin.version,
      targetNamespace: pin.namespace,
      createNamespace: true,
      ...(pin.values ? { valuesContent: stringify(pin.values) } : {}),
    },
  };
}

/** NodePort Services beside the manifests' own, so the machine running the tests reaches them. */
function exposeServices(v: Versions, manifests: K8sObject[]): K8sObject[] {
  const selectorOf = (name: string): Record<string, string> => {
    const svc = manifests.find((o) => o.kind === 'Service' && o.metadata.name === name);
    if (!svc) throw new Error(`the rendered manifests have no Service "${name}" to expose`);
    return svc.spec.selector as Record<string, string>;
  };
  const nodePort = (name: string, selectorFrom: string, ports: { name: string; port: number; nodePort: number }[]): K8sObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: PERCOLATE_NAMESPACE, labels: { [PART_OF_LABEL]: PART_OF, 'percolate.dev/exposed-by': 'k3s-target' } },
    spec: { type: 'NodePort', selector: selectorOf(selectorFrom), ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, nodePort: p.nodePort, protocol: 'TCP' })) },
  });
  const p = v.nodePorts;
  return [
    nodePort(`${GATEWAY}-nodeport`, GATEWAY_SERVICE, [{ name: 'http', port: 8082, nodePort: p.gateway }]),
    nodePort(`${NATS}-nodeport`, NATS, [{ name: 'tcp-client', port: 4222, nodePort: p.nats }, { name: 'http-monitoring', port: 8222, nodePort: p.natsMonitoring }]),
    nodePort('prometheus-nodeport', 'prometheus', [{ name: 'http', port: 9090, nodePort: p.prometheus }]),
  ];
}

/** The install, in order. Pure: same input, same plan. */
export function installPlan(input: PlanInput): InstallStep[] {
  const { versions: v, manifests } = input;
  const steps: InstallStep[] = [];
  const np = v.nodePorts;
  steps.push({
    kind: 'start-k3s',
    image: `${v.k3s.image}:${v.k3s.tag}`,
    // One node in zone-a of region-1: the localities the DestinationRules name. Traefik is
    // off (Istio's gateway is the ingress); servicelb is off (NodePorts are published).
    args: ['server', '--disable=traefik', '--disable=servicelb',
      '--node-label=topology.kubernetes.io/region=region-1', '--node-label=topology.kubernetes.io/zone=zone-a'],
    exposedPorts: [6443, np.loadBalancer, np.gateway, np.nats, np.natsMonitoring, np.prometheus],
  });
  steps.push({ kind: 'import-images', images: input.images });

  for (const name of v.order) {
    const pin = v.charts[name]!;
    steps.push({ kind: 'helm-chart', name, pin, object: helmChartObject(name, pin) });
    if (pin.crds?.length) steps.push({ kind: 'wait', what: `${name}: CRDs established`, check: { type: 'crds-established', names: pin.crds }, timeoutSeconds: WAIT_BOUNDS_SECONDS.crds });
    steps.push({ kind: 'wait', what: `${name}: deployments in ${pin.namespace} available`, check: { type: 'deployments-available', namespace: pin.namespace }, timeoutSeconds: WAIT_BOUNDS_SECONDS.chart });
  }

  const namespaces = manifests.filter((o) => o.kind === 'Namespace');
  steps.push({ kind: 'apply', what: 'namespaces', objects: namespaces });
  steps.push({
    kind: 'apply',
    what: 'the services\' secrets (never committed: generated per run)',
    objects: [{
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: SECRETS, namespace: PERCOLATE_NAMESPACE },
      stringData: { 'secrets.json': input.secretsJson },
    }],
  });
  steps.push({ kind: 'apply', what: `manifests/overlays/${input.profile}`, objects: manifests.filter((o) => o.kind !== 'Namespace') });
  steps.push({ kind: 'apply', what: 'NodePorts for the tests', objects: exposeServices(v, manifests) });

  // The databases and workers start at zero (KEDA owns them); what must be up is the rest.
  const always = manifests.filter((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.namespace === PERCOLATE_NAMESPACE && (o.spec?.replicas ?? 1) > 0)
    .map((o) => ({ kind: o.kind as 'Deployment' | 'StatefulSet', name: o.metadata.name }));
  steps.push({ kind: 'wait', what: 'percolate: workloads ready', check: { type: 'workloads-ready', namespace: PERCOLATE_NAMESPACE, workloads: always }, timeoutSeconds: WAIT_BOUNDS_SECONDS.rollout });
  return steps;
}

/** One line per step, for logs and for a person reading what a run will do. */
export function describePlan(steps: InstallStep[]): string[] {
  return steps.map((s, i) => {
    const n = `${String(i + 1).padStart(2)}.`;
    switch (s.kind) {
      case 'start-k3s': return `${n} start ${s.image} (${s.args.slice(1).join(' ')}), publish ${s.exposedPorts.join(', ')}`;
      case 'import-images': return `${n} build and import ${s.images.map((i) => i.ref).join(', ')}`;
      case 'helm-chart': return `${n} helm ${s.pin.chart} ${s.pin.version} → ${s.pin.namespace}`;
      case 'apply': return `${n} apply ${s.what} (${s.objects.length} objects)`;
      case 'wait': return `${n} wait ≤ ${s.timeoutSeconds} s: ${s.what}`;
    }
  });
}
