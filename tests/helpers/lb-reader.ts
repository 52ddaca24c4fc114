import type { ClusterTarget } from '../../cluster/target.ts';

export interface LbAnswer { status: number; pod: string | null; body: string; ms: number }

/** A search for `tenant` through the cluster's load balancer, timed; tokens are minted once per tenant. */
export function lbReader(cluster: () => Pick<ClusterTarget, 'mintToken'> & { getLoadBalancerUrl(): string }): (tenant: string) => Promise<LbAnswer> {
  const tokens = new Map<string, string>();
  return async (tenant) => {
    if (!tokens.has(tenant)) tokens.set(tenant, await cluster().mintToken(tenant));
    const started = performance.now();
    const res = await fetch(`${cluster().getLoadBalancerUrl()}/api/v1/resources?query=x`, {
      headers: { authorization: `Bearer ${tokens.get(tenant)}`, 'x-tenant-id': tenant },
    });
    const body = await res.text();
    return { status: res.status, pod: res.headers.get('x-served-by'), body, ms: performance.now() - started };
  };
}
