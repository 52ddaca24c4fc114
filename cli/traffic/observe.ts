import type { ScalingEvent } from '../../cluster/autoscaler/events.ts';
import { JetStreamLag } from '../../cluster/autoscaler/metric-sources.ts';
import { PrometheusClient } from '../../lib/prometheus.ts';
import type { ClusterEndpoints, ClusterTarget } from '../../cluster/target.ts';

/** What the scalers see, once: replicas, the database scaler's metric, the worker scaler's lag, new scale events. */
export interface ScalingSample {
  type: 'sample';
  time: string;
  /** Seconds since observation began. */
  t: number;
  replicas: Record<string, { desired: number; ready: number }> | null;
  activeTenants: number | null;
  queueLag: number | null;
  /** Where the lag came from, as KEDA reads it: the consumer, the stream's last_seq (no consumer yet), or no stream. */
  queueLagFrom?: string;
  /** New scale events since the previous sample; null when the target cannot report them. */
  events: ScaleEventLine[] | null;
  /** Per source, why it has no value this time. */
  errors?: Record<string, string>;
}

export interface ScaleEventLine {
  at: number;
  time: string;
  workload: string;
  from: number;
  to: number;
  actor?: string;
  reason?: string;
  trigger?: string | null;
  metricValue?: number | null;
}

export interface ObserveSources {
  /** The active-tenant query of the database ScaledObject. */
  activeTenantsQuery: string;
  jetstream: { account: string; stream: string; consumer: string };
  timeoutMs: number;
}

type EventSource = (options: { since: number }) => Promise<ScalingEvent[]>;

/** The target's scaling events, if it offers them (a target without an autoscaler of its own does not). */
export function scalingEventsOf(target: ClusterTarget): EventSource | undefined {
  const fn = (target as { getScalingEvents?: unknown }).getScalingEvents;
  return typeof fn === 'function' ? (fn as EventSource).bind(target) : undefined;
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);

export class ScalingObserver {
  private readonly prometheus: PrometheusClient;
  private readonly jetstream: JetStreamLag;
  private readonly events: EventSource | undefined;
  private since: number;

  constructor(private readonly target: ClusterTarget, endpoints: ClusterEndpoints, private readonly sources: ObserveSources, private readonly startedAt = Date.now()) {
    this.prometheus = new PrometheusClient(endpoints.prometheusUrl, { timeoutMs: sources.timeoutMs });
    this.jetstream = new JetStreamLag(endpoints.natsMonitoringUrl, { timeoutMs: sources.timeoutMs });
    this.events = scalingEventsOf(target);
    this.since = startedAt;
  }

  async sample(): Promise<ScalingSample> {
    const now = Date.now();
    const errors: Record<string, string> = {};
    const [workloads, active, lag, events] = await Promise.all([
      this.target.listWorkloads().catch((err: unknown) => { errors.replicas = reason(err); return null; }),
      this.prometheus.scalar(this.sources.activeTenantsQuery).catch((err: unknown) => { errors.activeTenants = reason(err); return null; }),
      this.jetstream.read(this.sources.jetstream).catch((err: unknown) => { errors.queueLag = reason(err); return null; }),
      this.newEvents().catch((err: unknown) => { errors.events = reason(err); return [] as ScaleEventLine[]; }),
    ]);
    return {
      type: 'sample', time: new Date(now).toISOString(), t: Number(((now - this.startedAt) / 1000).toFixed(1)),
      replicas: workloads && Object.fromEntries(workloads.map((w) => [w.name, { desired: w.replicas, ready: w.readyReplicas }])),
      activeTenants: active, queueLag: lag?.lag ?? null, ...(lag ? { queueLagFrom: lag.from } : {}),
      events: this.events ? events : null,
      ...(Object.keys(errors).length ? { errors } : {}),
    };
  }

  /** Scale events (replicas changed) since the last call; polls and no-op decisions are left out. */
  private async newEvents(): Promise<ScaleEventLine[]> {
    if (!this.events) return [];
    const list = await this.events({ since: this.since });
    const fresh = list.filter((e) => e.at >= this.since);
    if (fresh.length) this.since = Math.max(...fresh.map((e) => e.at)) + 1;
    return fresh.filter((e) => e.replicasBefore !== e.replicasAfter).map((e) => ({
      at: e.at, time: e.time ?? new Date(e.at).toISOString(), workload: e.workload ?? e.scaledObject, from: e.replicasBefore, to: e.replicasAfter,
      actor: e.actor, reason: e.reason, trigger: e.trigger, metricValue: e.metricValue,
    }));
  }
}
