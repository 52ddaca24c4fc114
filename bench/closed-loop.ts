import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { type Histogram, latencyHistogram, recordMs, summarize } from './hdr.ts';
import type { RequestSpec } from './open-model.ts';

/**
 * Closed-model HTTP load, as wrk drives it: `connections` keep-alive connections, each
 * sending its next request as soon as the previous answer is in. What it measures is the
 * most the server (and whatever sits in front of it) completes per second with that many
 * requests in flight — a throughput, where the open-model generator measures latency at a
 * given rate.
 */
export interface ClosedLoopRun {
  connections: number;
  durationMs: number;
  /** Builds request i (tenants may vary per request). */
  request: (i: number) => RequestSpec;
}

export interface ClosedLoopResult {
  /** Successful responses, latency in µs from send to the end of the body. */
  histogram: Histogram;
  ok: number;
  errors: number;
  errorReasons: Record<string, number>;
  /** Successful responses per second over the run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

export async function closedLoop(origin: string, run: ClosedLoopRun): Promise<ClosedLoopResult> {
  const pool = new Pool(origin, { connections: run.connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const histogram = latencyHistogram();
  const errorReasons: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + run.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const spec = run.request(next++);
      const sent = performance.now();
      try {
        const res = await pool.request({ path: spec.path, method: spec.method ?? 'GET', headers: spec.headers, body: spec.body });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok += 1;
          recordMs(histogram, performance.now() - sent);
        } else {
          errors += 1;
          errorReasons[`status ${res.statusCode}`] = (errorReasons[`status ${res.statusCode}`] ?? 0) + 1;
        }
      } catch (err) {
        errors += 1;
        const reason = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
        errorReasons[reason] = (errorReasons[reason] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: run.connections }, loop));
  } finally {
    await pool.close();
  }
  const elapsedS = (performance.now() - start) / 1000;
  const s = summarize(histogram);
  return { histogram, ok, errors, errorReasons, rps: ok / elapsedS, p50Ms: s.p50Ms, p99Ms: s.p99Ms };
}
