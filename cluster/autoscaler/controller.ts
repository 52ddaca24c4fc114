import type { ScaledObjectSpec } from '../manifests.ts';
import { type Clock, systemClock } from './clock.ts';
import { type AutoscalerConfig, type ConfigOptions, InvalidScaledObject, autoscalerConfig, triggerLabel } from './config.ts';
import { type EventFilter, EventLog, type ScalingEvent } from './events.ts';
import { type HpaState, hpaDecide, initialHpaState } from './hpa.ts';
import { type KedaState, initialKedaState, kedaDecide } from './keda.ts';
import type { MetricSource } from './metric-sources.ts';
import { type TriggerReading, isTriggerActive } from './readings.ts';
import { PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION } from '../manifests/scaling.ts';

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

/** One ScaledObject as `kubectl get scaledobject` would show it, with its pause annotations. */
export interface ScaledObjectStatus {
  name: string;
  /** The workload it scales (scaleTargetRef). */
  target: { kind: string; name: string };
  minReplicaCount: number;
  maxReplicaCount: number;
  /** Autoscaling is paused (either annotation): the loop makes no decisions. */
  paused: boolean;
  /** The count `autoscaling.keda.sh/paused-replicas` holds the target at. */
  pausedReplicas?: number;
  /** The target's desired replicas now. */
  replicas: number;
}

/** A pause or resume named a ScaledObject the autoscaler does not have. */
export class UnknownScaledObject extends Error {
  constructor(readonly scaledObject: string, known: string[]) {
    super(`no ScaledObject "${scaledObject}" (have: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownScaledObject';
  }
}

/** The pause annotations in force: `replicas` from paused-replicas, undefined for `paused: "true"`. */
interface Pause { replicas: number | undefined }

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
  private pause: Pause | undefined;
  /** The evaluation under way, which a pause waits for. */
  private evaluating: Promise<void> | undefined;
  /** Pauses and resumes, one at a time in the order they came. */
  private annotating: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: AutoscalerConfig,
    private readonly target: ScaleTarget,
    private readonly metrics: MetricSource,
    private readonly clock: Clock,
    private readonly record: (event: ScalingEvent) => void,
    private readonly onError: (err: unknown) => void,
    initialPause?: Pause,
  ) {
    this.pause = initialPause;
  }

  start(): void {
    const now = this.clock.now();
    this.keda = initialKedaState(now);
    this.nextKeda = now;
    this.nextHpa = now;
    // A ScaledObject applied with a pause annotation: KEDA scales to paused-replicas before anything else.
    if (this.pause) this.setPause(this.pause.replicas).catch((err) => this.onError(err));
    this.running = this.run();
  }

  get paused(): boolean { return this.pause !== undefined; }

  /**
   * The pause annotations set: from now on the loop makes no decisions (one under way makes
   * no scale call); with `replicas`, the target is scaled to that count first. Resolves once
   * the target has been scaled and the `paused` event recorded.
   */
  setPause(replicas: number | undefined): Promise<void> {
    this.pause = { replicas };
    this.pushed = false;
    return this.serially(async () => {
      await this.evaluating;
      // A later pause may have replaced this one while we waited.
      if (!this.pause) return;
      const wanted = this.pause.replicas;
      const now = this.clock.now();
      const before = await this.currentReplicas(now, 'keda');
      if (wanted !== undefined && wanted !== before) {
        try {
          await this.target.scale(this.config.workload, wanted);
        } catch (err) {
          this.record(this.annotationEvent(now, 'target-error', before, before, wanted, message(err)));
          throw err;
        }
      }
      this.lastKnownReplicas = wanted ?? before;
      this.record(this.annotationEvent(now, 'paused', before, wanted ?? before, wanted));
    });
  }

  /**
   * The pause annotations removed: KEDA recreates the HPA (its recommendations and scale
   * events start afresh; KEDA's lastActiveTime stays, it is in the ScaledObject's status) and
   * polls at once. False when it was not paused.
   */
  resume(): Promise<boolean> {
    return this.serially(async () => {
      if (!this.pause) return false;
      this.pause = undefined;
      this.hpa = initialHpaState();
      const now = this.clock.now();
      const replicas = await this.currentReplicas(now, 'keda').catch(() => this.lastKnownReplicas);
      this.record(this.annotationEvent(now, 'resumed', replicas, replicas, undefined));
      this.nextKeda = now;
      this.nextHpa = now;
      this.wake?.abort();
      return true;
    });
  }

  async status(): Promise<ScaledObjectStatus> {
    let replicas = this.lastKnownReplicas;
    try { replicas = await this.target.getReplicas(this.config.workload); } catch { /* the last count known */ }
    const { name, workload, workloadKind, minReplicaCount, maxReplicaCount } = this.config;
    return {
      name, target: { kind: workloadKind, name: workload }, minReplicaCount, maxReplicaCount,
      paused: this.paused, ...(this.pause?.replicas !== undefined ? { pausedReplicas: this.pause.replicas } : {}), replicas,
    };
  }

  private serially<T>(op: () => Promise<T>): Promise<T> {
    const next = this.annotating.then(op, op);
    this.annotating = next.catch(() => undefined);
    return next;
  }

  private async currentReplicas(now: number, actor: 'keda' | 'hpa'): Promise<number> {
    try {
      return await this.target.getReplicas(this.config.workload);
    } catch (err) {
      const known = this.lastKnownReplicas;
      this.record(this.event(now, { actor, reason: 'target-error', replicasBefore: known, replicasAfter: known, error: message(err) }, [], undefined));
      throw err;
    }
  }

  private annotationEvent(now: number, reason: 'paused' | 'resumed' | 'target-error', before: number, after: number, pausedReplicas: number | undefined, error?: string): ScalingEvent {
    return {
      at: now, time: new Date(now).toISOString(), scaledObject: this.config.name, workload: this.config.workload,
      actor: 'keda', reason,
      trigger: reason === 'resumed' ? null : pausedReplicas !== undefined ? PAUSED_REPLICAS_ANNOTATION : PAUSED_ANNOTATION,
      metricValue: null, metrics: [], replicasBefore: before, replicasAfter: after,
      ...(error !== undefined ? { error } : {}),
    };
  }

  /**
   * Activity pushed from outside (a request held at zero): poll now and count the ScaledObject
   * active. Once it runs pods their own metrics speak for the demand, so a stream of held
   * requests while the first pod starts costs one poll, not one per request.
   */
  push(): void {
    // Paused: the annotation holds the count, demand or not (a request held at zero times out).
    if (this.pause || this.lastKnownReplicas > 0) return;
    this.pushed = true;
    this.wake?.abort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.abort();
    await this.running;
    // A pause under way finishes (its scale call and event) before the autoscaler counts as stopped.
    await this.annotating;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = this.clock.now();
      const dueKeda = now >= this.nextKeda;
      const dueHpa = now >= this.nextHpa;
      const pushed = this.pushed;
      this.pushed = false;
      // A paused ScaledObject keeps its schedule but decides nothing: KEDA stops its scale loop and deletes the HPA.
      if ((dueKeda || dueHpa || pushed) && !this.pause) {
        this.evaluating = this.evaluate(now, dueKeda || pushed, dueHpa, pushed).catch((err: unknown) => this.onError(err));
        await this.evaluating;
        this.evaluating = undefined;
      }
      if (dueKeda) this.nextKeda = nextTick(this.nextKeda, this.config.pollingIntervalMs, now);
      if (dueHpa) this.nextHpa = nextTick(this.nextHpa, this.config.hpa.syncPeriodMs, now);
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
      // Paused while the metrics were read: this decision is void.
      if (this.pause) return;
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
      if (this.pause) return;
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

function validPausedReplicas(scaledObject: string, replicas: number): number {
  if (!Number.isInteger(replicas) || replicas < 0) throw new InvalidScaledObject(scaledObject, `${PAUSED_REPLICAS_ANNOTATION} must be a whole number ≥ 0, got ${replicas}`);
  return replicas;
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

  constructor(options: AutoscalerOptions) {
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
      const pause = spec.pausedReplicas !== undefined ? { replicas: validPausedReplicas(spec.name, spec.pausedReplicas) } : spec.paused ? { replicas: undefined } : undefined;
      return new ScaledObjectLoop(config, options.target, options.metrics, this.clock, record, onError, pause);
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
   * as active. False when no ScaledObject scales the workload. A paused ScaledObject ignores
   * it (true all the same: the workload is KEDA's, and KEDA holds it).
   */
  demand(workload: string): boolean {
    const loop = this.loops.find((l) => l.config.workload === workload);
    if (!loop) return false;
    loop.push();
    return true;
  }

  getEvents(filter: EventFilter = {}): ScalingEvent[] {
    return this.log.list(filter);
  }

  /**
   * `kubectl annotate scaledobject <name> autoscaling.keda.sh/paused-replicas=<n>` (with
   * `replicas`) or `autoscaling.keda.sh/paused=true` (without): the ScaledObject stops making
   * decisions at once; with `replicas` its target is scaled to that count first. Resolves once
   * done. Pausing a paused ScaledObject replaces its pause.
   */
  async pause(scaledObject: string, replicas?: number): Promise<ScaledObjectStatus> {
    const loop = this.loop(scaledObject);
    await loop.setPause(replicas === undefined ? undefined : validPausedReplicas(scaledObject, replicas));
    return loop.status();
  }

  /** Removes both pause annotations: the ScaledObject polls at once and scales again. */
  async resume(scaledObject: string): Promise<ScaledObjectStatus> {
    const loop = this.loop(scaledObject);
    await loop.resume();
    return loop.status();
  }

  /** Every ScaledObject with its target, pause and current replicas. */
  list(): Promise<ScaledObjectStatus[]> {
    return Promise.all(this.loops.map((l) => l.status()));
  }

  /** The ScaledObject that scales a workload, if any. */
  scaledObjectFor(workload: string): string | undefined {
    return this.loops.find((l) => l.config.workload === workload)?.config.name;
  }

  private loop(scaledObject: string): ScaledObjectLoop {
    const loop = this.loops.find((l) => l.config.name === scaledObject);
    if (!loop) throw new UnknownScaledObject(scaledObject, this.loops.map((l) => l.config.name));
    return loop;
  }
}
