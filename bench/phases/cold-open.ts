import type { ServiceProcess } from '../../tests/helpers/processes.ts';
import { type BenchEnv, progress, tenantHeaders } from '../cluster.ts';
import { OpenModelGenerator, type OpenModelResult } from '../open-model.ts';
import { sampleValue, scrape } from '../prom-text.ts';

export interface ColdOpenOptions { tenants: number; rate: number }
export interface ColdOpenResult { result: OpenModelResult; misses: number | undefined }

/**
 * The first request of each of many fresh tenants, at a modest fixed rate so the
 * opens overlap little (a cold open waits COLD_OPEN_MS, it does not burn CPU). The
 * node's cache-miss counter tells whether every one of them really was a cold open.
 */
export async function coldOpen(env: BenchEnv, node: ServiceProcess, opts: ColdOpenOptions): Promise<ColdOpenResult> {
  const run = Date.now().toString(36);
  const headers = await Promise.all(Array.from({ length: opts.tenants }, (_, i) => tenantHeaders(env, `bench-cold-${run}-${i}`)));
  const misses = async () => sampleValue(await scrape(`${node.url}/metrics`), 'percolate_tenant_cache_lookups_total', { result: 'miss' });
  const before = await misses();
  const gen = new OpenModelGenerator(node.url, { timeoutMs: 10_000 });
  try {
    progress(`cold open: first request of ${opts.tenants} fresh tenants at ${opts.rate} req/s`);
    const result = await gen.run({
      rate: opts.rate, durationMs: (opts.tenants / opts.rate) * 1000, maxRequests: opts.tenants,
      request: (i) => ({ path: '/api/v1/resources?limit=1', headers: headers[i]! }),
    });
    const after = await misses();
    return { result, misses: after === undefined ? undefined : after - (before ?? 0) };
  } finally {
    await gen.close();
  }
}
