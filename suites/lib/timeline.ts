import type { ClusterTarget, ScalingEvent } from '../../cluster/target.ts';
import type { Series, SeriesEvent, SeriesPoint } from './measure.ts';

/**
 * Builders of the series the run report plots: what the autoscaler saw and did, and how
 * requests fared second by second. Specs record them with `recordSeries`.
 */

/**
 * Replicas against the metric the autoscaler scaled on (active tenants for the database
 * tiers), from the autoscaler's own decisions: every KEDA poll and HPA sync records the
 * metric it read from Prometheus and the replicas it left, so both lines share one clock.
 * Scale events and pauses are marked.
 */
export async function scalingTimeline(cluster: Pick<ClusterTarget, 'getScalingEvents'>, scaledObject: string, since: number, metricName = 'active tenants'): Promise<Series> {
  const decisions = (await cluster.getScalingEvents({ since })).filter((e) => e.scaledObject === scaledObject);
  return scalingSeries(`${scaledObject}: replicas and ${metricName}`, decisions, metricName);
}

export function scalingSeries(name: string, decisions: ScalingEvent[], metricName: string): Series {
  const points: SeriesPoint[] = [];
  const events: SeriesEvent[] = [];
  for (const e of decisions) {
    points.push({ t: e.at, value: e.replicasAfter, series: 'replicas' });
    const metric = e.metrics.find((m) => m.value !== null && m.trigger !== 'external-push')?.value ?? e.metricValue;
    if (metric !== null && metric !== undefined) points.push({ t: e.at, value: metric, series: metricName });
    if (e.reason === 'paused' || e.reason === 'resumed') events.push({ t: e.at, kind: e.reason, label: e.reason });
    else if (e.replicasBefore !== e.replicasAfter) events.push({ t: e.at, kind: e.replicasAfter > e.replicasBefore ? 'scale-up' : 'scale-down', label: `${e.replicasBefore}→${e.replicasAfter}` });
  }
  return { name, unit: 'count', points, events };
}

/** One request's outcome, as a load driver saw it. */
export interface Outcome {
  /** When it was sent (ms since the epoch). */
  at: number;
  ok: boolean;
  /** Time to the answer (or the failure). */
  ms: number;
}

/** Share of requests that succeeded, per second of sending time. */
export function successRatioSeries(name: string, outcomes: Outcome[], events: SeriesEvent[] = []): Series {
  const buckets = new Map<number, { ok: number; all: number }>();
  for (const o of outcomes) {
    const second = Math.floor(o.at / 1000) * 1000;
    const b = buckets.get(second) ?? { ok: 0, all: 0 };
    b.all += 1;
    if (o.ok) b.ok += 1;
    buckets.set(second, b);
  }
  const points = [...buckets].sort(([a], [b]) => a - b).map(([t, b]) => ({ t, value: b.ok / b.all }));
  return { name, unit: 'ratio', points, events };
}

/** The latency of each request, for a histogram. */
export function latencySeries(name: string, outcomes: Outcome[]): Series {
  return { name, unit: 'ms', kind: 'distribution', points: outcomes.map((o) => ({ t: o.at, value: o.ms, series: o.ok ? 'ok' : 'failed' })) };
}

/** Times an async call as an `Outcome`; `ok` decides from its value, a throw is a failure. */
export async function timed<T>(outcomes: Outcome[], call: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const at = Date.now();
  const started = performance.now();
  try {
    const value = await call();
    outcomes.push({ at, ok: ok(value), ms: performance.now() - started });
    return value;
  } catch (err) {
    outcomes.push({ at, ok: false, ms: performance.now() - started });
    throw err;
  }
}
