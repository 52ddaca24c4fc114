/**
 * A T5 script as a k6-operator `TestRun` (k6.io/v1alpha1): the script's single-file bundle
 * in a ConfigMap (the operator mounts one file), the tokens in a Secret, and the TestRun
 * that starts `parallelism` runner pods, each running its share of the plan's arrivals
 * (k6 execution segments). Every runner prints its LoadSummary as one JSON line
 * (SUMMARY_STDOUT=json); `mergeRunnerSummaries` makes the run's summary of them.
 *
 * Rendered here, applied by the kube target (`cluster/kube/target.ts`, capability
 * `loadOperator`), validated offline against the operator's own CRD schema
 * (`cluster/k6-operator/crd/`, tests/unit/testrun.test.ts).
 */
import { loadVersions } from '../../cluster/k3s/plan.ts';
import type { DistributedLoadRun } from '../../cluster/target.ts';
import { type LoadPlan, peakRate, planDurationS } from '../lib/scenarios.ts';

/** Where the runners run: their own namespace, so the percolate namespace's default-deny policies stay as they are. */
export const LOAD_NAMESPACE = 'percolate-load';

/**
 * The in-cluster address the runners send to: the Istio ingress gateway, the path every
 * client outside the mesh takes (`PERCOLATE_K6_BASE_URL` overrides it).
 */
export const IN_CLUSTER_BASE_URL = 'http://istio-ingressgateway.istio-system.svc.cluster.local';

/**
 * Arrivals per second one runner pod is given at most. A k6 runner keeps well above this
 * on one core; the bound keeps each runner's share of a spike inside what its resources
 * (below) hold, so a distributed run does not measure its own runners.
 */
export const RATE_PER_RUNNER = 250;

/** Runners for a plan on a cluster of `nodes` schedulable nodes: enough for its peak rate, at most one per node. */
export function parallelismFor(plan: LoadPlan, nodes: number): number {
  return Math.max(1, Math.min(Math.max(1, nodes), Math.ceil(peakRate(plan) / RATE_PER_RUNNER)));
}

/** Kubernetes names: lower case, digits and '-', at most 63 characters, alphanumeric at both ends. */
function dnsLabel(raw: string): string {
  const label = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  if (!label) throw new Error(`"${raw}" gives no usable Kubernetes name`);
  return label;
}

export interface TestRunInput {
  plan: LoadPlan;
  /** The script's bundle (`load/dist/<script>.js`, or built in memory by esbuild). */
  bundle: string;
  parallelism: number;
  /** Tenant → bearer token, for the plan's tenants. */
  tokens: Record<string, string>;
  /** Marks the run (names and the data it writes). */
  runTag: string;
  baseUrl?: string;
  namespace?: string;
}

/** The objects the kube target applies (`DistributedLoadRun`); its bound is the plan's duration plus the runners' start and the summary. */
export function renderTestRun(input: TestRunInput): DistributedLoadRun {
  const { plan } = input;
  const namespace = input.namespace ?? LOAD_NAMESPACE;
  const name = dnsLabel(`percolate-${plan.script}-${input.runTag}`);
  const file = `${plan.script}.js`;
  const labels = { 'app.kubernetes.io/part-of': 'percolate', 'percolate.dev/load-script': plan.script, 'percolate.dev/run': dnsLabel(input.runTag) };
  const metadata = (suffix: string) => ({ name: dnsLabel(`${name}${suffix}`), namespace, labels });
  const versions = loadVersions();
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata('-script'), data: { [file]: input.bundle } };
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: metadata('-tokens'), type: 'Opaque', stringData: { tokens: JSON.stringify(input.tokens) } };
  const testRun = {
    apiVersion: 'k6.io/v1alpha1',
    kind: 'TestRun',
    metadata: metadata(''),
    spec: {
      parallelism: input.parallelism,
      // The runners' end-of-test summary is the record; nothing else is sent anywhere.
      arguments: '--quiet',
      script: { configMap: { name: configMap.metadata.name, file } },
      runner: {
        image: `${versions.k6.image}:${versions.k6.tag}`,
        metadata: { labels },
        env: [
          { name: 'BASE_URL', value: (input.baseUrl ?? IN_CLUSTER_BASE_URL).replace(/\/$/, '') },
          { name: 'TOKENS', valueFrom: { secretKeyRef: { name: secret.metadata.name, key: 'tokens' } } },
          { name: 'PERCOLATE_PROFILE', value: plan.profile },
          { name: 'RUN_TAG', value: input.runTag },
          // handleSummary's files go to the pod's scratch volume; the log carries the summary out.
          { name: 'SUMMARY_DIR', value: '/tmp/summary' },
          { name: 'SUMMARY_STDOUT', value: 'json' },
        ],
        securityContext: { runAsNonRoot: true, runAsUser: 12345, runAsGroup: 12345, seccompProfile: { type: 'RuntimeDefault' } },
        containerSecurityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '64Mi' } }],
        volumeMounts: [{ name: 'scratch', mountPath: '/tmp' }],
        resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      },
    },
  };
  const timeoutMs = (planDurationS(plan) + 180) * 1000;
  return { name: testRun.metadata.name, namespace, objects: [configMap, secret, testRun], timeoutMs };
}
