import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HpaReason } from './hpa.ts';
import type { KedaReason } from './keda.ts';

/** One trigger's reading as an event records it. */
export interface EventMetric {
  trigger: string;
  value: number | null;
  error?: string;
  active: boolean;
}

/**
 * One decision: every KEDA poll and every HPA sync, whether or not it changed the replicas
 * (filter on `replicasBefore !== replicasAfter` for scale events). A report plots `metricValue`
 * and `replicasAfter` against `at`.
 */
export interface ScalingEvent {
  /** ms since the epoch, from the autoscaler's clock. */
  at: number;
  time: string;
  scaledObject: string;
  workload: string;
  /** KEDA (0 ↔ 1, polls every pollingInterval) or the HPA (1 ↔ N, every sync period). */
  actor: 'keda' | 'hpa';
  /**
   * `paused` / `resumed`: the pause annotations were set / removed (KEDA's part, as it deletes
   * and recreates the HPA); a paused ScaledObject records nothing else until it resumes.
   */
  reason: KedaReason | HpaReason | PauseReason | 'target-error';
  /**
   * The trigger that drove the decision (first active one for KEDA, the largest proposal for
   * the HPA; `external-push` for demand pushed at zero; the annotation for a pause).
   */
  trigger: string | null;
  metricValue: number | null;
  metrics: EventMetric[];
  /** On a target-error, the last count the autoscaler knew. */
  replicasBefore: number;
  replicasAfter: number;
  /** The HPA's recommendation from the metrics alone, before stabilization and policies. */
  metricReplicas?: number;
  error?: string;
}

export type PauseReason = 'paused' | 'resumed';

export interface EventFilter {
  scaledObject?: string;
  /** Only events that changed the replicas. */
  scaleOnly?: boolean;
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
}

export function isScaleEvent(e: ScalingEvent): boolean {
  return e.replicasBefore !== e.replicasAfter;
}

/** Events in memory, appended as JSON lines to `file` if given, without ever blocking the loops on disk. */
export class EventLog {
  private readonly events: ScalingEvent[] = [];
  private pending: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private dirReady = false;

  constructor(private readonly file: string | undefined, private readonly onError: (err: unknown) => void = () => {}, private readonly maxInMemory = 100_000) {}

  add(event: ScalingEvent): void {
    this.events.push(event);
    // Drop a tenth at a time so a long run does not shift the array on every event.
    if (this.events.length > this.maxInMemory) this.events.splice(0, Math.max(1, Math.floor(this.maxInMemory / 10)));
    if (!this.file) return;
    this.pending.push(`${JSON.stringify(event)}\n`);
    if (this.pending.length === 1) this.writing = this.writing.then(() => this.write());
  }

  private async write(): Promise<void> {
    const lines = this.pending.join('');
    this.pending = [];
    if (!lines) return;
    try {
      if (!this.dirReady) { await mkdir(dirname(this.file!), { recursive: true }); this.dirReady = true; }
      await appendFile(this.file!, lines);
    } catch (err) {
      this.onError(err);
    }
  }

  list(filter: EventFilter = {}): ScalingEvent[] {
    return this.events.filter((e) => (!filter.scaledObject || e.scaledObject === filter.scaledObject) && (!filter.scaleOnly || isScaleEvent(e))
      && (filter.since === undefined || e.at >= filter.since));
  }

  /** Resolves once everything added so far is on disk. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.pending.length) { this.writing = this.writing.then(() => this.write()); await this.writing; }
  }
}
