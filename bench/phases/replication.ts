import { SYNC_STREAM, syncSubject } from '../../reference-services/shared/nats.ts';
import type { ServiceProcess } from '../../tests/helpers/processes.ts';
import { eventually } from '../../lib/poll.ts';
import { type BenchEnv, progress, tenantHeaders } from '../cluster.ts';
import { OpenModelGenerator, type OpenModelResult } from '../open-model.ts';
import { type Sample, sampleValue, scrape } from '../prom-text.ts';

export interface ReplicationOptions { rate: number; seconds: number; tenants: number; contentBytes: number }
export interface ReplicationResult {
  writes: OpenModelResult;
  /** From node B's Summary (seconds → ms); undefined when the node does not export it. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Lag observations on node B during the phase (from the histogram's _count). */
  applied: number | undefined;
  /** Size of one of these writes in the sync stream, so the raw baseline can send the same. */
  syncMessageBytes: number | undefined;
}

const LAG_SUMMARY = 'percolate_replication_lag_quantile_seconds';
const LAG_HISTOGRAM_COUNT = 'percolate_replication_lag_seconds_count';

const quantileMs = (samples: Sample[], q: string) => {
  const v = sampleValue(samples, LAG_SUMMARY, { quantile: q });
  return v === undefined || Number.isNaN(v) ? undefined : v * 1000;
};

/**
 * Writes on node A at a fixed rate; node B applies them from the sync stream and
 * reports the lag (apply time on B − the write's timestamp taken on A before
 * publishing). Its floor, raw JetStream at the same rate, is raw-jetstream-lag.ts.
 */
export async function replication(env: BenchEnv, nodeA: ServiceProcess, nodeB: ServiceProcess, opts: ReplicationOptions): Promise<ReplicationResult> {
  const headers = await Promise.all(Array.from({ length: opts.tenants }, async (_, i) => ({
    ...await tenantHeaders(env, `bench-repl-${i}`), 'content-type': 'application/json',
  })));
  const content = 'r'.repeat(opts.contentBytes);
  const body = (i: number) => JSON.stringify({ title: `write ${i}`, content });
  // Open every tenant on A first: a cold open would be counted as write latency, not lag.
  for (const h of headers) {
    const res = await fetch(`${nodeA.url}/api/v1/resources`, { method: 'POST', headers: h, body: body(-1) });
    if (res.status !== 201) throw new Error(`replication warm-up write: HTTP ${res.status} ${await res.text()}`);
  }
  const appliedOnB = async () => sampleValue(await scrape(`${nodeB.url}/metrics`), LAG_HISTOGRAM_COUNT);
  const appliedBefore = await eventually('node B applied the warm-up writes', appliedOnB, (n) => n !== undefined && n >= opts.tenants,
    { timeoutMs: 10_000, intervalMs: 50 }).catch(() => undefined);

  const gen = new OpenModelGenerator(nodeA.url);
  let writes: OpenModelResult;
  try {
    progress(`replication: ${opts.rate} writes/s on ${nodeA.name} for ${opts.seconds}s, applied by ${nodeB.name}`);
    writes = await gen.run({
      rate: opts.rate, durationMs: opts.seconds * 1000,
      request: (i) => ({ path: '/api/v1/resources', method: 'POST', headers: headers[i % opts.tenants]!, body: body(i) }),
    });
  } finally {
    await gen.close();
  }
  progress(`replication: writes on A p50 ${writes.p50Ms.toFixed(3)} ms, p99 ${writes.p99Ms.toFixed(3)} ms, ${writes.ok} ok, ${writes.errors} errors`);
  // Every acknowledged write is in the stream; wait (bounded) until B has applied them all.
  const expected = (appliedBefore ?? 0) + writes.ok;
  const appliedAfter = await eventually(`node B applied ${writes.ok} writes`, appliedOnB, (n) => n !== undefined && n >= expected,
    { timeoutMs: 15_000, intervalMs: 50 }).catch(async (err: unknown) => { progress(String(err)); return appliedOnB(); });
  const samples = await scrape(`${nodeB.url}/metrics`);
  const { jsm } = await env.client();
  const stored = await jsm.streams.getMessage(SYNC_STREAM, { last_by_subj: syncSubject('bench-repl-0') }).catch(() => null);
  return {
    syncMessageBytes: stored?.data.length,
    writes,
    p50Ms: quantileMs(samples, '0.5'),
    p99Ms: quantileMs(samples, '0.99'),
    applied: appliedAfter !== undefined && appliedBefore !== undefined ? appliedAfter - appliedBefore : undefined,
  };
}
