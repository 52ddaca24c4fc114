import type { PrometheusClient } from '../../lib/prometheus.ts';
import { slope } from './stats.ts';

/** A pod's resident memory over a run: where it started and ended, and how fast it grew. */
export interface RssTrend {
  pod: string;
  job: string;
  points: number;
  firstMB: number;
  lastMB: number;
  /** Least-squares slope over the window, in MB per minute. */
  slopeMBPerMin: number;
}

const MB = 1024 * 1024;

/**
 * The RSS of every pod Prometheus scrapes that exports `process_resident_memory_bytes`
 * (prom-client's default metric: every service does) over `[start, end]`, one trend per pod.
 * Scrape jobs and pod labels differ between targets (`pod` locally and on the db-node's own
 * series, `kubernetes_pod` from the manifests' relabelling), so neither is assumed.
 */
export async function rssTrends(prom: Pick<PrometheusClient, 'queryRange'>, range: { start: number; end: number; stepSeconds: number }): Promise<RssTrend[]> {
  const series = await prom.queryRange('process_resident_memory_bytes', range);
  return series.filter((s) => s.points.length > 0).map((s) => ({
    pod: s.metric.pod ?? s.metric.kubernetes_pod ?? s.metric.instance ?? '?',
    job: s.metric.job ?? '?',
    points: s.points.length,
    firstMB: s.points[0]!.value / MB,
    lastMB: s.points.at(-1)!.value / MB,
    slopeMBPerMin: (slope(s.points) * 60_000) / MB,
  })).sort((a, b) => a.pod.localeCompare(b.pod));
}
