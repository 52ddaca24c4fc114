import type { ClusterTarget } from '../../cluster/target.ts';
import { sendRequest } from '../../lib/http.ts';

export interface LbAnswer { status: number; pod: string | null; body: string; ms: number }

/** A search for `tenant` through the cluster's load balancer, timed; tokens are minted once per tenant. */
export function lbReader(cluster: () => Pick<ClusterTarget, 'mintToken'> & { getLoadBalancerUrl(): string }): (tenant: string) => Promise<LbAnswer> {
  const tokens = new Map<string, string>();
  return async (tenant) => {
    if (!tokens.has(tenant)) tokens.set(tenant, await cluster().mintToken(tenant));
    const started = performance.now();
    const res = await sendRequest(cluster().getLoadBalancerUrl(), { tenant, token: tokens.get(tenant)! }, { method: 'GET', path: '/api/v1/resources?query=x' });
    return { status: res.status, pod: res.servedBy, body: res.text, ms: performance.now() - started };
  };
}
