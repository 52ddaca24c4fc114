import { KubeConfig } from '@kubernetes/client-node';
import { NAMESPACE } from '../../lib/names.ts';
import type { ClusterEndpoints } from '../target.ts';
import { KubePreflightError, checkReachable, formatMissing, loadKubeConfig, missingOperators } from './preflight.ts';
import { KubeClusterTarget } from './target.ts';

/** Where tests reach the cluster's services from; a cluster decides this, so it is configured. */
const ENDPOINT_ENV: Record<Exclude<keyof ClusterEndpoints, 'zonalLoadBalancerUrls' | 'extra'>, string> = {
  loadBalancerUrl: 'PERCOLATE_LB_URL',
  gatewayUrl: 'PERCOLATE_GATEWAY_URL',
  natsUrl: 'PERCOLATE_NATS_URL',
  natsMonitoringUrl: 'PERCOLATE_NATS_MONITORING_URL',
  prometheusUrl: 'PERCOLATE_PROMETHEUS_URL',
};

export function endpointsFromEnv(env: NodeJS.ProcessEnv): ClusterEndpoints {
  const missing = Object.values(ENDPOINT_ENV).filter((name) => !env[name]);
  if (missing.length) {
    throw new KubePreflightError(`PERCOLATE_TARGET=kube: set ${missing.join(', ')} to URLs reachable from this machine (the Istio ingress gateway's address, or \`kubectl -n percolate port-forward svc/<name> <port>\`; README "Run on your cluster")`);
  }
  const get = (k: keyof typeof ENDPOINT_ENV) => env[ENDPOINT_ENV[k]]!;
  return {
    loadBalancerUrl: get('loadBalancerUrl'), gatewayUrl: get('gatewayUrl'), natsUrl: get('natsUrl'),
    natsMonitoringUrl: get('natsMonitoringUrl'), prometheusUrl: get('prometheusUrl'), zonalLoadBalancerUrls: {}, extra: {},
  };
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

export async function openKubeTarget(env: NodeJS.ProcessEnv = process.env): Promise<KubeClusterTarget> {
  const endpoints = endpointsFromEnv(env);
  const { kc } = await preflightKube(env);
  return new KubeClusterTarget(kc, { kind: 'kube', endpoints, namespace: env.PERCOLATE_NAMESPACE ?? NAMESPACE });
}

/** A target over a kubeconfig given as text (the k3s container's). */
export function kubeTargetFromConfig(kubeconfig: string, endpoints: ClusterEndpoints, kind: 'k3s' | 'kube', onClose?: () => Promise<void>): KubeClusterTarget {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  return new KubeClusterTarget(kc, { kind, endpoints, ...(onClose ? { onClose } : {}) });
}
