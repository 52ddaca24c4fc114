/**
 * One summary shape for a T5 run, whichever executor ran it. Both executors first produce
 * metrics in k6's end-of-test shape (`{ 'http_req_duration{tier:small}': { values: {…} } }`);
 * `summarize` turns that into a LoadSummary and judges the plan's thresholds on it, so k6's
 * verdict and the suite's generator's verdict come from the same expressions.
 */
import type { LoadPlan, Threshold } from './scenarios.ts';

/** `k6-operator`: k6 runners on a cluster, one summary per runner merged by `mergeRunnerSummaries`. */
export type Executor = 'k6' | 'open-model' | 'k6-operator';

export interface MetricValues { [stat: string]: number }
export interface SummaryMetric { values: MetricValues; thresholds?: Record<string, { ok: boolean }> }
export type SummaryMetrics = Record<string, SummaryMetric>;

export interface SliceFigures { requests: number; errorRate: number; p95Ms: number }

export interface LoadSummary {
  script: string;
  executor: Executor;
  profile: string;
  baseUrl: string;
  durationSeconds: number;
  requests: number;
  errorRate: number;
  /** Successful responses per second of the pool under test. */
  throughputRps: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  tiers: Record<string, SliceFigures>;
  phases: Record<string, SliceFigures>;
  /** T5.2: seconds from the end of the spike until every following second meets the SLO. */
  recoverySeconds?: number;
  /** T5.4: time to first response from zero pods, seconds. */
  ttfr?: { samples: number; p95Seconds: number; maxSeconds: number };
  thresholds: Array<{ metric: string; expression: string; ok: boolean }>;
  /** Dropped arrivals (the generator could not keep the rate): a run that drops is not the plan. */
  droppedIterations: number;
}

const THRESHOLD = /^\s*(p\(\d+(?:\.\d+)?\)|rate|avg|min|max|med|count)\s*(<=|<|>=|>|===|==|!=)\s*(-?[\d.]+)\s*$/;

export const expressionOf = (t: Threshold): string => (typeof t === 'string' ? t : t.threshold);

/** Judges one k6 threshold expression (`p(95)<500`, `rate<0.001`) on a metric's values. */
export function holds(expression: string, values: MetricValues | undefined): boolean {
  const m = THRESHOLD.exec(expression);
  if (!m) throw new Error(`unsupported threshold expression "${expression}"`);
  const actual = values?.[m[1]!];
  if (actual === undefined || Number.isNaN(actual)) return false;
  const bound = Number(m[3]);
  switch (m[2]) {
    case '<': return actual < bound;
    case '<=': return actual <= bound;
    case '>': return actual > bound;
    case '>=': return actual >= bound;
    case '!=': return actual !== bound;
    default: return actual === bound;
  }
}

const slice = (metrics: SummaryMetrics, tag: string): SliceFigures | undefined => {
  const d = metrics[`http_req_duration{${tag}}`]?.values;
  const f = metrics[`http_req_failed{${tag}}`]?.values;
  if (!d && !f) return undefined;
  const requests = f ? (f.passes ?? 0) + (f.fails ?? 0) : d?.count ?? 0;
  return { requests, errorRate: f?.rate ?? 0, p95Ms: d?.['p(95)'] ?? Number.NaN };
};

export function summarize(plan: LoadPlan, metrics: SummaryMetrics, meta: { executor: Executor; baseUrl: string; durationSeconds: number; recoverySeconds?: number }): LoadSummary {
  const d = metrics.http_req_duration?.values ?? {};
  const failed = metrics.http_req_failed?.values ?? {};
  const requests = metrics.http_reqs?.values.count ?? (failed.passes ?? 0) + (failed.fails ?? 0);
  const errorRate = failed.rate ?? 0;
  const tiers: Record<string, SliceFigures> = {};
  for (const t of new Set(plan.tenants.map((x) => x.tier))) { const s = slice(metrics, `tier:${t}`); if (s) tiers[t] = s; }
  const phases: Record<string, SliceFigures> = {};
  for (const p of plan.phases) { const s = slice(metrics, `phase:${p.name}`); if (s) phases[p.name] = s; }
  const thresholds = Object.entries(plan.thresholds).flatMap(([metric, list]) => list.map((t) => {
    const expression = expressionOf(t);
    const k6Verdict = metrics[metric]?.thresholds?.[expression];
    return { metric, expression, ok: k6Verdict ? k6Verdict.ok : holds(expression, metrics[metric]?.values) };
  }));
  const ttfr = metrics.ttfr?.values;
  return {
    script: plan.script, executor: meta.executor, profile: plan.profile, baseUrl: meta.baseUrl,
    durationSeconds: meta.durationSeconds, requests, errorRate,
    throughputRps: meta.durationSeconds > 0 ? (requests * (1 - errorRate)) / meta.durationSeconds : 0,
    latencyMs: { p50: d.med ?? Number.NaN, p95: d['p(95)'] ?? Number.NaN, p99: d['p(99)'] ?? Number.NaN, max: d.max ?? Number.NaN },
    tiers, phases,
    ...(meta.recoverySeconds === undefined ? {} : { recoverySeconds: meta.recoverySeconds }),
    ...(ttfr ? { ttfr: { samples: ttfr.count ?? 0, p95Seconds: (ttfr['p(95)'] ?? Number.NaN) / 1000, maxSeconds: (ttfr.max ?? Number.NaN) / 1000 } } : {}),
    thresholds,
    droppedIterations: metrics.dropped_iterations?.values.count ?? 0,
  };
}

/**
 * Marks the line a k6 runner prints with its LoadSummary as JSON (SUMMARY_STDOUT=json), so
 * the summaries of a distributed run can be read back from the runners' logs.
 */
export const SUMMARY_LINE_PREFIX = 'percolate-load-summary: ';

/** The summaries printed in a runner's log (normally one). */
export function summariesInLog(log: string): LoadSummary[] {
  return log.split('\n').filter((line) => line.startsWith(SUMMARY_LINE_PREFIX)).map((line) => JSON.parse(line.slice(SUMMARY_LINE_PREFIX.length)) as LoadSummary);
}

const weighted = (parts: Array<{ n: number; rate: number }>): number => {
  const n = parts.reduce((a, p) => a + p.n, 0);
  return n === 0 ? 0 : parts.reduce((a, p) => a + p.n * p.rate, 0) / n;
};
const largest = (values: number[]): number => (values.length ? Math.max(...values) : Number.NaN);

function mergeSlices(parts: Array<Record<string, SliceFigures>>): Record<string, SliceFigures> {
  const names = [...new Set(parts.flatMap((p) => Object.keys(p)))];
  return Object.fromEntries(names.map((name) => {
    const slices = parts.map((p) => p[name]).filter((x): x is SliceFigures => x !== undefined);
    return [name, {
      requests: slices.reduce((a, x) => a + x.requests, 0),
      errorRate: weighted(slices.map((x) => ({ n: x.requests, rate: x.errorRate }))),
      p95Ms: largest(slices.map((x) => x.p95Ms)),
    }];
  }));
}

/**
 * One summary of a run split over k6 runners (the k6-operator's `parallelism`), each of
 * which summarised only its own share. Counts and rates add up exactly. A percentile
 * cannot be rebuilt from the runners' percentiles, so the merged one is the largest of
 * them: an upper bound of the whole run's (a mixture's quantile never exceeds the largest
 * of its parts'), and a threshold holds only where it held on every runner, so the merge
 * can fail a run that passed but never pass one that failed.
 */
export function mergeRunnerSummaries(runners: LoadSummary[]): LoadSummary {
  if (!runners.length) throw new Error('no runner summary to merge: the runners printed none (was SUMMARY_STDOUT=json set?)');
  const first = runners[0]!;
  const requests = runners.reduce((a, r) => a + r.requests, 0);
  const ttfrs = runners.flatMap((r) => (r.ttfr ? [r.ttfr] : []));
  const recoveries = runners.flatMap((r) => (r.recoverySeconds === undefined ? [] : [r.recoverySeconds]));
  const thresholds = first.thresholds.map((t) => ({ ...t, ok: runners.every((r) => r.thresholds.find((x) => x.metric === t.metric && x.expression === t.expression)?.ok === true) }));
  return {
    script: first.script, executor: 'k6-operator', profile: first.profile, baseUrl: first.baseUrl,
    durationSeconds: largest(runners.map((r) => r.durationSeconds)),
    requests,
    errorRate: weighted(runners.map((r) => ({ n: r.requests, rate: r.errorRate }))),
    throughputRps: runners.reduce((a, r) => a + r.throughputRps, 0),
    latencyMs: {
      p50: largest(runners.map((r) => r.latencyMs.p50)), p95: largest(runners.map((r) => r.latencyMs.p95)),
      p99: largest(runners.map((r) => r.latencyMs.p99)), max: largest(runners.map((r) => r.latencyMs.max)),
    },
    tiers: mergeSlices(runners.map((r) => r.tiers)),
    phases: mergeSlices(runners.map((r) => r.phases)),
    ...(recoveries.length ? { recoverySeconds: largest(recoveries) } : {}),
    ...(ttfrs.length ? { ttfr: { samples: ttfrs.reduce((a, t) => a + t.samples, 0), p95Seconds: largest(ttfrs.map((t) => t.p95Seconds)), maxSeconds: largest(ttfrs.map((t) => t.maxSeconds)) } } : {}),
    thresholds,
    droppedIterations: runners.reduce((a, r) => a + r.droppedIterations, 0),
  };
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

/** The summary as a person reads it (the `.txt` beside the JSON). */
export function summaryText(s: LoadSummary): string {
  const lines = [
    `${s.script} (${s.profile} profile) by ${s.executor} against ${s.baseUrl}`,
    `  requests ${s.requests} in ${f1(s.durationSeconds)} s, throughput ${f1(s.throughputRps)} req/s, errors ${(s.errorRate * 100).toFixed(3)} %, dropped arrivals ${s.droppedIterations}`,
    `  latency p50 ${f1(s.latencyMs.p50)} ms, p95 ${f1(s.latencyMs.p95)} ms, p99 ${f1(s.latencyMs.p99)} ms, max ${f1(s.latencyMs.max)} ms`,
    ...Object.entries(s.tiers).map(([t, v]) => `  tier ${t}: ${v.requests} requests, p95 ${f1(v.p95Ms)} ms, errors ${(v.errorRate * 100).toFixed(3)} %`),
    ...Object.entries(s.phases).map(([p, v]) => `  phase ${p}: ${v.requests} requests, p95 ${f1(v.p95Ms)} ms, errors ${(v.errorRate * 100).toFixed(3)} %`),
    ...(s.recoverySeconds === undefined ? [] : [`  recovered ${f1(s.recoverySeconds)} s after the spike`]),
    ...(s.ttfr ? [`  TTFR over ${s.ttfr.samples} cold starts: p95 ${s.ttfr.p95Seconds.toFixed(2)} s, max ${s.ttfr.maxSeconds.toFixed(2)} s`] : []),
    ...s.thresholds.map((t) => `  ${t.ok ? '✓' : '✗'} ${t.metric}: ${t.expression}`),
  ];
  return `${lines.join('\n')}\n`;
}
