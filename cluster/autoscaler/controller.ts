import type { ScaledObjectSpec } from '../manifests.ts';
import { type Clock, systemClock } from './clock.ts';
import { type AutoscalerConfig, type ConfigOptions, InvalidScaledObject, autoscalerConfig, triggerLabel } from './config.ts';
import { EventLog, type ScalingEvent } from './events.ts';
import { type HpaState, hpaDecide, initialHpaState } from './hpa.ts';
import { type KedaState, initialKedaState, kedaDecide } from './keda.ts';
import type { MetricSource } from './metric-sources.ts';
import { type TriggerReading, isTriggerActive } from './readings.ts';

/** What the autoscaler needs from a runtime: the scale subresource of its workloads. */
export interface ScaleTarget {
  /** Desired replicas (`spec.replicas`). */
  getReplicas(workload: string): Promise<number>;
  /** Sets desired replicas, as the scale subresource does; resolves once accepted. */
  scale(workload: string, replicas: number): Promise<void>;
}

export interface AutoscalerOptions extends ConfigOptions {
  scaledObjects: ScaledObjectSpec[];
  target: ScaleTarget;
  metrics: MetricSource;
  clock?: Clock;
  /** Append every decision to this file as a JSON line (the directory is created). */
  eventsFile?: string;
  /** Events kept in memory (the oldest go first; the file keeps all). Default 100 000. */
  maxEventsInMemory?: number;
  onEvent?: (event: ScalingEvent) => void;
  /** Failures that do not stop the loops (a failed write of the events file, an unexpected throw). */
  onError?: (err: unknown) => void;
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/** The next point of a fixed-rate schedule after `now`; missed points are skipped, as a ticker drops ticks. */
function nextTick(previous: number, period: number, now: number): number {
  let next = previous + period;
  if (next <= now) next += Math.ceil((now - next + 1) / period) * period;
  return next;
}

/** One ScaledObject: KEDA's poll every pollingInterval and its HPA's sync every sync period, on one schedule. */
class ScaledObjectLoop {
  private keda!: KedaState;
  private hpa: HpaState = initialHpaState();
  private nextKeda = 0;
  private nextHpa = 0;
  private stopped = false;
  private pushed = false;
  private wake: AbortController | undefined;
  private running: Promise<void> | undefined;
  private lastKnownReplicas = 0;

  constructor(
    readonly config: AutoscalerConfig,
    private readonly target: ScaleTarget,
    private readonly metrics: MetricSource,
    private readonly clock: Clock,
    private readonly record: (event: ScalingEvent) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    const now = this.clock.now();
    this.keda = initialKedaState(now);
    this.nextKeda = now;
    this.nextHpa = now;
    this.running = this.run();
  }

  /**
   * Activity pushed from outside (a request held at zero): poll now and count the ScaledObject
   * active. Once it runs pods their own metrics speak for the demand, so a stream of held
   * requests while the first pod starts costs one poll, not one per request.
   */
  push(): void {
    if (this.lastKnownReplicas > 0) return;
    this.pushed = true;
    this.wake?.abort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = this.clock.now();
      const dueKeda = now >= this.nextKeda;
      const dueHpa = now >= this.nextHpa;
      const pushed = this.pushed;
      this.pushed = false;
      if (dueKeda || dueHpa || pushed) {
        try {
          await this.evaluate(now, dueKeda || pushed, dueHpa, pushed);
        } catch (err) {
          this.onError(err);
        }
        if (dueKeda) this.nextKeda = nextTick(this.nextKeda, this.config.pollingIntervalMs, now);
        if (dueHpa) this.nextHpa = nextTick(this.nextHpa, this.config.hpa.syncPeriodMs, now);
      }
      if (this.stopped) break;
      if (this.pushed) continue;
      this.wake = new AbortController();
      await this.clock.sleep(Math.min(this.nextKeda, this.nextHpa) - this.clock.now(), this.wake.signal);
    }
  }

  private async readAll(): Promise<TriggerReading[]> {
    return Promise.all(this.config.triggers.map(async (trigger): Promise<TriggerReading> => {
      try {
        const value = await this.metrics.read(trigger);
        if (typeof value !== 'number' || Number.isNaN(value)) return { trigger, error: `metric source returned ${String(value)}` };
        return { trigger, value };
      } catch (err) {
        return { trigger, error: message(err) };
      }
    }));
  }

  private event(now: number, fields: Omit<ScalingEvent, 'at' | 'time' | 'scaledObject' | 'workload' | 'metrics' | 'trigger' | 'metricValue'>, readings: TriggerReading[], driving: number | undefined, pushed = false): ScalingEvent {
    const reading = driving === undefined ? undefined : readings[driving];
    return {
      at: now,
      time: new Date(now).toISOString(),
      scaledObject: this.config.name,
      workload: this.config.workload,
      trigger: reading ? triggerLabel(reading.trigger) : pushed ? 'external-push' : null,
      metricValue: reading?.value ?? null,
      metrics: readings.map((r) => ({ trigger: triggerLabel(r.trigger), value: r.value ?? null, ...(r.error !== undefined ? { error: r.error } : {}), active: isTriggerActive(r) })),
      ...fields,
    };
  }

  private async evaluate(now: number, runKeda: boolean, runHpa: boolean, pushed: boolean): Promise<void> {
    const { workload } = this.config;
    const readings = await this.readAll();
    let replicas: number;
    try {
      replicas = await this.target.getReplicas(workload);
    } catch (err) {
      const known = this.lastKnownReplicas;
      this.record(this.event(now, { actor: runKeda ? 'keda' : 'hpa', reason: 'target-error', replicasBefore: known, replicasAfter: known, error: message(err) }, readings, undefined));
      return;
    }
    this.lastKnownReplicas = replicas;

    if (runKeda) {
      const decision = kedaDecide(this.config, this.keda, readings, replicas, now, pushed);
      const driving = decision.activeTriggers[0] ?? (pushed ? undefined : 0);
      if (decision.replicas !== replicas) {
        try {
          await this.target.scale(workload, decision.replicas);
        } catch (err) {
          // KEDA updates lastActiveTime only after a successful scale.
          this.record(this.event(now, { actor: 'keda', reason: 'target-error', replicasBefore: replicas, replicasAfter: replicas, error: message(err) }, readings, driving, pushed));
          return;
        }
      }
      this.keda = decision.state;
      this.record(this.event(now, { actor: 'keda', reason: decision.reason, replicasBefore: replicas, replicasAfter: decision.replicas }, readings, driving, pushed));
      replicas = decision.replicas;
      this.lastKnownReplicas = replicas;
    }

    if (runHpa) {
      const decision = hpaDecide(this.config, this.hpa, readings, replicas, now);
      if (decision.replicas !== replicas) {
        try {
          await this.target.scale(workload, decision.replicas);
        } catch (err) {
          // The recommendation stands; the scale event that did not happen must not count against the policies.
          this.hpa = { ...decision.state, scaleUpEvents: this.hpa.scaleUpEvents, scaleDownEvents: this.hpa.scaleDownEvents };
          this.record(this.event(now, { actor: 'hpa', reason: 'target-error', replicasBefore: replicas, replicasAfter: replicas, error: message(err) }, readings, decision.drivingTrigger));
          return;
        }
      }
      this.hpa = decision.state;
      this.lastKnownReplicas = decision.replicas;
      this.record(this.event(now, {
        actor: 'hpa', reason: decision.reason, replicasBefore: replicas, replicasAfter: decision.replicas,
        ...(decision.metricReplicas !== undefined ? { metricReplicas: decision.metricReplicas } : {}),
      }, readings, decision.drivingTrigger ?? 0));
    }
  }
}

/**
 * KEDA and the HPA for every ScaledObject of a cluster: one loop each, reading triggers
 * through `metrics` and scaling through `target`. Every decision is kept as a ScalingEvent.
 */
export class Autoscaler {
  private readonly loops: ScaledObjectLoop[];
  private readonly log: EventLog;
  private readonly clock: Clock;
  private started = false;

  constructor(private readonly options: AutoscalerOptions) {
    this.clock = options.clock ?? systemClock;
    const onError = options.onError ?? (() => {});
    this.log = new EventLog(options.eventsFile, onError, options.maxEventsInMemory);
    const record = (event: ScalingEvent) => {
      this.log.add(event);
      try { options.onEvent?.(event); } catch (err) { onError(err); }
    };
    const byWorkload = new Map<string, string>();
    this.loops = options.scaledObjects.map((spec) => {
      const config = autoscalerConfig(spec, options);
      const owner = byWorkload.get(config.workload);
      // KEDA's admission webhook refuses a second ScaledObject on the same workload.
      if (owner) throw new InvalidScaledObject(spec.name, `${config.workload} is already scaled by ScaledObject/${owner}`);
      byWorkload.set(config.workload, spec.name);
      return new ScaledObjectLoop(config, options.target, options.metrics, this.clock, record, onError);
    });
  }

  get configs(): AutoscalerConfig[] { return this.loops.map((l) => l.config); }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const loop of this.loops) loop.start();
  }

  /** Stops every loop (an evaluation under way finishes first) and flushes the events file. */
  async stop(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.stop()));
    await this.log.flush();
  }

  /**
   * Demand for a workload that the metrics cannot show yet (a request held at zero): KEDA's
   * external-push path, as its HTTP add-on uses it. The ScaledObject polls at once and counts
   * as active. False when no ScaledObject scales the workload.
   */
  demand(workload: string): boolean {
    const loop = this.loops.find((l) => l.config.workload === workload);
    if (!loop) return false;
    loop.push();
    return true;
  }

  getEvents(filter: { scaledObject?: string; scaleOnly?: boolean } = {}): ScalingEvent[] {
    return this.log.list(filter);
  }
}
