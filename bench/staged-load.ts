import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { requestFor, seedRequest, tenantFor } from '../load/lib/mix.ts';
import { type LoadPlan, type Stage, peakRate, phaseAt, planDurationS } from '../load/lib/scenarios.ts';
import type { MetricValues, SummaryMetrics } from '../load/lib/summary.ts';
import { tenantHeaders } from '../lib/http.ts';
import { SERVED_BY_HEADER, dbWorkload, isPodOf } from '../lib/names.ts';
import { type Histogram, latencyHistogram, recordMs } from './hdr.ts';

/**
 * The suite's own executor of a T5 load plan where k6 is not installed: the same arrivals
 * as k6's arrival-rate executors (rate moving linearly through the stages, requests
 * started on time whatever earlier ones do), at most as many in flight as k6 would have
 * VUs (an arrival beyond that is dropped and counted, as k6 counts dropped_iterations),
 * the same request mix and tags. Latency is measured from the send, as k6's
 * http_req_duration; the result is k6's end-of-test metrics shape, so one `summarize`
 * judges both executors.
 */

export interface StagedRunOptions {
  plan: LoadPlan;
  baseUrl: string;
  /** Bearer token per tenant of the plan. */
  tokens: Record<string, string>;
  /** Marks what the run writes. */
  runTag: string;
  timeoutMs?: number;
}

/** One second of the run: how many requests started in it, how many failed, how many were slower than the SLO's p95 bound. */
export interface SecondBucket { second: number; requests: number; errors: number; slow: number }

export interface StagedRunResult {
  metrics: SummaryMetrics;
  durationSeconds: number;
  timeline: SecondBucket[];
  /** When the plan has a spike phase: seconds after it until every later second met the SLO. */
  recoverySeconds?: number;
}

/** Offsets (s) of arrivals: for a stage moving r0 → r1 over D, arrival n falls where ∫rate = n. */
export function* arrivals(startRate: number, stages: Stage[]): Generator<number> {
  let t0 = 0;
  let r0 = startRate;
  let due = 0; // arrivals owed so far (fractional carry between stages)
  let next = 0;
  for (const { target: r1, durationS: d } of stages) {
    const a = (r1 - r0) / (2 * d);
    const total = r0 * d + a * d * d;
    while (next < due + total) {
      const n = next - due;
      // Solve a·t² + r0·t = n for t in [0, d].
      const t = a === 0 ? n / r0 : (-r0 + Math.sqrt(r0 * r0 + 4 * a * n)) / (2 * a);
      yield t0 + t;
      next += 1;
    }
    due += total;
    t0 += d;
    r0 = r1;
  }
}

class Trend {
  readonly h: Histogram = latencyHistogram();
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  add(ms: number) { recordMs(this.h, ms); this.sum += ms; this.min = Math.min(this.min, ms); }
  values(): MetricValues {
    const n = this.h.totalCount;
    if (!n) return { count: 0 };
    return { count: n, avg: this.sum / n, min: this.min, med: this.h.getValueAtPercentile(50) / 1000, max: this.h.maxValue / 1000, 'p(95)': this.h.getValueAtPercentile(95) / 1000, 'p(99)': this.h.getValueAtPercentile(99) / 1000 };
  }
}
class Rate {
  passes = 0;
  fails = 0;
  add(v: boolean) { if (v) this.passes += 1; else this.fails += 1; }
  values() { const n = this.passes + this.fails; return { rate: n ? this.passes / n : 0, passes: this.passes, fails: this.fails }; }
}

export async function runStaged(opts: StagedRunOptions): Promise<StagedRunResult> {
  const { plan } = opts;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxInFlight = Math.max(50, peakRate(plan) * 2);
  const pool = new Pool(opts.baseUrl, { connections: maxInFlight, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const headers = (tenantId: string) => tenantHeaders({ tenant: tenantId, token: opts.tokens[tenantId]! }, { 'content-type': 'application/json' });

  try {
    // setup(): the resource each tenant's reads ask for.
    for (const tenant of plan.tenants) {
      const req = seedRequest(tenant);
      const res = await pool.request({ path: req.path, method: req.method, headers: headers(tenant.id), body: req.body ?? null });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`seeding ${tenant.id} failed: ${res.statusCode} ${text.slice(0, 200)}`);
    }

    const durations = new Map<string, Trend>();
    const failures = new Map<string, Rate>();
    const checks = new Rate();
    const trend = (key: string) => { let t = durations.get(key); if (!t) durations.set(key, (t = new Trend())); return t; };
    const rate = (key: string) => { let r = failures.get(key); if (!r) failures.set(key, (r = new Rate())); return r; };
    const timeline: SecondBucket[] = [];
    const bucket = (s: number) => { while (timeline.length <= s) timeline.push({ second: timeline.length, requests: 0, errors: 0, slow: 0 }); return timeline[s]!; };
    let requests = 0;
    let dropped = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();

    const fire = (i: number, offsetS: number) => {
      if (inFlight >= maxInFlight) { dropped += 1; return; }
      const tenant = tenantFor(i, plan.tenants);
      const req = requestFor(i, tenant, opts.runTag);
      const phase = phaseAt(plan, offsetS);
      const keys = ['', `{tier:${tenant.tier}}`, `{phase:${phase}}`];
      const b = bucket(Math.floor(offsetS));
      inFlight += 1;
      requests += 1;
      b.requests += 1;
      const sentAt = performance.now();
      const settle = (status: number, servedBy: string) => {
        const ms = performance.now() - sentAt;
        const failed = !(status >= 200 && status < 400);
        for (const k of keys) { trend(`http_req_duration${k}`).add(ms); rate(`http_req_failed${k}`).add(failed); }
        checks.add(!failed);
        checks.add(isPodOf(servedBy, dbWorkload(tenant.tier)));
        if (failed) b.errors += 1;
        if (ms >= plan.slo.p95Ms) b.slow += 1;
      };
      const p = pool.request({ path: req.path, method: req.method, headers: headers(tenant.id), body: req.body ?? null })
        .then(async (res) => { await res.body.dump(); settle(res.statusCode, String(res.headers[SERVED_BY_HEADER] ?? '')); }, () => settle(0, ''))
        .finally(() => { inFlight -= 1; pending.delete(p); });
      pending.add(p);
    };

    const start = performance.now();
    const schedule = arrivals(plan.startRate, plan.stages);
    await new Promise<void>((resolve) => {
      let i = 0;
      let next = schedule.next();
      const tick = () => {
        const nowS = (performance.now() - start) / 1000;
        while (!next.done && next.value <= nowS) { fire(i, next.value); i += 1; next = schedule.next(); }
        if (next.done) { resolve(); return; }
        setTimeout(tick, Math.max(0, next.value * 1000 - (performance.now() - start)));
      };
      tick();
    });
    await Promise.all([...pending]);
    const durationSeconds = Math.max((performance.now() - start) / 1000, planDurationS(plan));

    const metrics: SummaryMetrics = {
      http_reqs: { values: { count: requests, rate: requests / durationSeconds } },
      dropped_iterations: { values: { count: dropped } },
      checks: { values: checks.values() },
    };
    for (const [k, t] of durations) metrics[k] = { values: t.values() };
    for (const [k, r] of failures) metrics[k] = { values: r.values() };
    const spike = plan.phases.find((p) => p.name === 'spike');
    return { metrics, durationSeconds, timeline, ...(spike ? { recoverySeconds: recoveryAfter(timeline, spike.toS, plan.slo) } : {}) };
  } finally {
    await pool.close();
  }
}

/**
 * Seconds from `fromS` until the first second from which every later second met the SLO
 * (no more errors than its rate allows, at most 5 % of requests at or over the p95 bound);
 * Infinity when the last second still did not.
 */
export function recoveryAfter(timeline: SecondBucket[], fromS: number, slo: { p95Ms: number; errorRate: number }): number {
  const healthy = (b: SecondBucket) => b.requests === 0 || (b.errors <= slo.errorRate * b.requests && b.slow <= 0.05 * b.requests);
  const first = Math.floor(fromS);
  let recoveredAt = first;
  for (let s = first; s < timeline.length; s += 1) if (!healthy(timeline[s]!)) recoveredAt = s + 1;
  if (recoveredAt >= timeline.length && timeline.length > first && !healthy(timeline[timeline.length - 1]!)) return Number.POSITIVE_INFINITY;
  return recoveredAt - fromS < 0 ? 0 : recoveredAt - fromS;
}
