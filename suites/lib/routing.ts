import type { TenantClient } from '../../lib/http.ts';
import { mapConcurrent, tally } from './concurrency.ts';

/** Where each tenant's requests land: tenant → pods that answered, with counts. */
export async function placement(clients: TenantClient[], requestsPerTenant: number, concurrency = 32): Promise<Map<string, Map<string, number>>> {
  const jobs = clients.flatMap((c) => Array.from({ length: requestsPerTenant }, () => c));
  const answers = await mapConcurrent(jobs, concurrency, async (c) => {
    const res = await c.request('GET', '/api/v1/resources?limit=1');
    if (res.status !== 200 || !res.servedBy) throw new Error(`${c.tenantId}: ${res.status} ${res.text.slice(0, 200)}`);
    return { tenant: c.tenantId, pod: res.servedBy };
  });
  const byTenant = new Map<string, Map<string, number>>();
  for (const c of clients) byTenant.set(c.tenantId, tally(answers.filter((a) => a.tenant === c.tenantId).map((a) => a.pod)));
  return byTenant;
}

/** The single pod of each tenant; throws naming a tenant that was split across pods. */
export function homePods(byTenant: Map<string, Map<string, number>>): Map<string, string> {
  const homes = new Map<string, string>();
  for (const [tenant, pods] of byTenant) {
    if (pods.size !== 1) throw new Error(`${tenant} was served by ${pods.size} pods: ${JSON.stringify([...pods])}`);
    homes.set(tenant, [...pods.keys()][0]!);
  }
  return homes;
}

/** max |n_i − mean| / mean over the pods (pods with no tenant count as 0). */
export function skew(homes: Map<string, string>, pods: string[]): number {
  const counts = tally(homes.values());
  const mean = homes.size / pods.length;
  return Math.max(...pods.map((p) => Math.abs((counts.get(p) ?? 0) - mean))) / mean;
}
