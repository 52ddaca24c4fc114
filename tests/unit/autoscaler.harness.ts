import { Autoscaler, type AutoscalerOptions, type MetricSource, type ScaleTarget, type ScalingEvent, SimulatedClock } from '../../cluster/autoscaler/index.ts';
import { triggerLabel } from '../../cluster/autoscaler/config.ts';
import type { ScaledObjectSpec, ScaledObjectTrigger } from '../../cluster/manifests.ts';

/**
 * Fakes for the autoscaler's unit tests: the subject is the rule engine, so the workload
 * is a number and each metric a step function of simulated time.
 */

export const T0 = Date.UTC(2025, 0, 1);
export const seconds = (at: number) => (at - T0) / 1000;

export const prometheusTrigger = (threshold: number, activationThreshold = 0, query = 'sum(percolate_active_tenants)'): ScaledObjectTrigger =>
  ({ type: 'prometheus', query, threshold, activationThreshold });
export const jetstreamTrigger = (lagThreshold: number, activationLagThreshold = 0): ScaledObjectTrigger =>
  ({ type: 'nats-jetstream', stream: 'PERCOLATE_JOBS', consumer: 'workers', account: '$G', lagThreshold, activationLagThreshold });

export function scaledObject(overrides: Partial<ScaledObjectSpec> = {}): ScaledObjectSpec {
  return {
    name: 'percolate-db-small',
    target: { kind: 'StatefulSet', name: 'percolate-db-small' },
    minReplicaCount: 0,
    maxReplicaCount: 10,
    pollingIntervalSeconds: 1,
    cooldownPeriodSeconds: 10,
    scaleDownStabilizationSeconds: 5,
    scaleUpStabilizationSeconds: undefined,
    triggers: [prometheusTrigger(2)],
    ...overrides,
  };
}

export class FakeTarget implements ScaleTarget {
  readonly replicas = new Map<string, number>();
  readonly calls: Array<{ t: number; workload: string; replicas: number }> = [];
  failScale: Error | undefined;
  failGet: Error | undefined;

  constructor(private readonly clock: SimulatedClock) {}

  async getReplicas(workload: string): Promise<number> {
    if (this.failGet) throw this.failGet;
    const n = this.replicas.get(workload);
    if (n === undefined) throw new Error(`no workload ${workload}`);
    return n;
  }

  async scale(workload: string, replicas: number): Promise<void> {
    if (this.failScale) throw this.failScale;
    this.calls.push({ t: seconds(this.clock.now()), workload, replicas });
    this.replicas.set(workload, replicas);
  }
}

type Step = readonly [atSeconds: number, value: number | Error];

/** Each trigger's metric as steps in simulated seconds; reads also counted, to see the polling. */
export class ScheduledMetrics implements MetricSource {
  private readonly schedules = new Map<string, Step[]>();
  readonly reads: number[] = [];

  constructor(private readonly clock: SimulatedClock) {}

  set(trigger: ScaledObjectTrigger, steps: Step[]): void {
    this.schedules.set(triggerLabel(trigger), [...steps].sort((a, b) => a[0] - b[0]));
  }

  async read(trigger: ScaledObjectTrigger): Promise<number> {
    const t = seconds(this.clock.now());
    this.reads.push(t);
    const steps = this.schedules.get(triggerLabel(trigger)) ?? [];
    const current = steps.filter(([at]) => at <= t).pop();
    if (!current) return 0;
    if (current[1] instanceof Error) throw current[1];
    return current[1];
  }
}

export interface Run {
  clock: SimulatedClock;
  target: FakeTarget;
  metrics: ScheduledMetrics;
  autoscaler: Autoscaler;
  /** Runs simulated time up to `t` seconds after the start. */
  until(t: number): Promise<void>;
  replicas(): number;
  /** Every change of replicas as [seconds, before, after]. */
  scales(): Array<[number, number, number]>;
  events(): ScalingEvent[];
}

const running = new Set<Autoscaler>();

export function startAutoscaler(
  spec: ScaledObjectSpec, steps: Array<[ScaledObjectTrigger, Step[]]>,
  options: Partial<AutoscalerOptions> & { initialReplicas?: number } = {},
): Run {
  const clock = new SimulatedClock(T0);
  const target = new FakeTarget(clock);
  target.replicas.set(spec.target.name, options.initialReplicas ?? 0);
  const metrics = new ScheduledMetrics(clock);
  for (const [trigger, s] of steps) metrics.set(trigger, s);
  const autoscaler = new Autoscaler({ scaledObjects: [spec], target, metrics, clock, ...options });
  running.add(autoscaler);
  autoscaler.start();
  return {
    clock, target, metrics, autoscaler,
    until: (t) => clock.advanceTo(T0 + t * 1000),
    replicas: () => target.replicas.get(spec.target.name)!,
    scales: () => autoscaler.getEvents({ scaleOnly: true }).map((e) => [seconds(e.at), e.replicasBefore, e.replicasAfter]),
    events: () => autoscaler.getEvents(),
  };
}

export async function stopAutoscalers(): Promise<void> {
  await Promise.all([...running].map((a) => a.stop()));
  running.clear();
}
