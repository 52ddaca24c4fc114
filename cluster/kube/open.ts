import { KubeConfig } from '@kubernetes/client-node';
import { KUBE_ENDPOINT_VARS, type KubeConfigValues, type KubeEndpointName } from '../../lib/config.ts';
import type { ClusterEndpoints } from '../target.ts';
import { KubePreflightError, checkReachable, formatMissing, loadKubeConfig, missingOperators } from './preflight.ts';
import { KubeClusterTarget } from './target.ts';

/**
 * Where tests reach the cluster's services from (a cluster decides this, so it is
 * configured: PERCOLATE_LB_URL …, read by lib/config.ts); the error lists what is missing.
 */
export function kubeEndpoints(kube: KubeConfigValues): ClusterEndpoints {
  const missing = (Object.keys(KUBE_ENDPOINT_VARS) as KubeEndpointName[]).filter((k) => !kube.endpoints[k]).map((k) => KUBE_ENDPOINT_VARS[k]);
  if (missing.length) {
    throw new KubePreflightError(`PERCOLATE_TARGET=kube: set ${missing.join(', ')} to URLs reachable from this machine (the Istio ingress gateway's address, or \`kubectl -n percolate port-forward svc/<name> <port>\`; README "Run on your cluster")`);
  }
  const { loadBalancerUrl, gatewayUrl, natsUrl, natsMonitoringUrl, prometheusUrl } = kube.endpoints as Record<KubeEndpointName, string>;
  return { loadBalancerUrl, gatewayUrl, natsUrl, natsMonitoringUrl, prometheusUrl, zonalLoadBalancerUrls: {}, extra: {} };
}

/** The operators without which the suite cannot run at all; the others only remove capabilities. */
const REQUIRED = new Set(['istio-base', 'istiod', 'keda']);

/**
 * Preflight, then the target: the cluster answers within seconds, the operators the suite
 * needs are installed (each missing one listed with its pinned `helm` command), and the
 * endpoints are configured.
 */
export async function preflightKube(env: NodeJS.ProcessEnv = process.env): Promise<{ kc: KubeConfig; version: string; warnings: string[] }> {
  const kc = loadKubeConfig(env);
  const version = await checkReachable(kc);
  const missing = await missingOperators(kc);
  const fatal = missing.filter((m) => REQUIRED.has(m.chart));
  if (fatal.length) throw new KubePreflightError(`PERCOLATE_TARGET=kube: the cluster lacks operators the suite needs; install them:\n${formatMissing(missing)}`);
  const warnings = missing.map((m) => `${m.chart} is not installed: tests that need it skip (${m.install})`);
  return { kc, version, warnings };
}

export async function openKubeTarget(kube: KubeConfigValues): Promise<KubeClusterTarget> {
  const endpoints = kubeEndpoints(kube);
  const { kc } = await preflightKube();
  return new KubeClusterTarget(kc, { kind: 'kube', endpoints, namespace: kube.namespace });
}

/** A target over a kubeconfig given as text (the k3s container's). */
export function kubeTargetFromConfig(kubeconfig: string, endpoints: ClusterEndpoints, kind: 'k3s' | 'kube', onClose?: () => Promise<void>): KubeClusterTarget {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  return new KubeClusterTarget(kc, { kind, endpoints, ...(onClose ? { onClose } : {}) });
}
