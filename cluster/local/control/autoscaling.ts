import { join } from 'node:path';
import {
  Autoscaler, type EventFilter, type ScaleTarget, type ScaledObjectStatus, type ScalingEvent, TriggerMetricSource, UnknownScaledObject, isScaleEvent,
} from '../../autoscaler/index.ts';
import type { ScaledObjectSpec } from '../../manifests.ts';
import { scaledObjects } from '../../manifests/scaling.ts';
import { NotFound, type LocalRuntime } from '../runtime.ts';

/** Where the daemon appends every decision, one JSON object a line (a report plots them). */
export const SCALING_EVENTS_FILE = 'scaling-events.jsonl';

/**
 * The ScaledObjects `up` starts paused: a workload given a replica count at start-up
 * (`--db-replicas`, `--workers`, a builder's `withReplicas`) is held there, as if the
 * ScaledObject had been applied with `autoscaling.keda.sh/paused-replicas: "<n>"`. The
 * others belong to the autoscaler from the first poll.
 */
export function pausedAtStart(specs: ScaledObjectSpec[], replicas: Record<string, number>): ScaledObjectSpec[] {
  return specs.map((spec) => (replicas[spec.target.name] === undefined ? spec : { ...spec, pausedReplicas: replicas[spec.target.name] }));
}

/**
 * KEDA and the HPA on the local target: the autoscaler of cluster/autoscaler/ over the
 * rendered ScaledObjects, reading the cluster's own Prometheus and NATS monitoring, scaling
 * the runtime's workload controllers, and taking the activator's demand at zero (KEDA's
 * external push, 0 → 1 at once).
 */
export class LocalAutoscaling {
  private constructor(private readonly runtime: LocalRuntime, readonly autoscaler: Autoscaler, readonly eventsFile: string) {}

  /** Builds and starts it; returns at once (no decision is awaited, so `up` stays fast). */
  static start(runtime: LocalRuntime): LocalAutoscaling {
    const { prometheusUrl } = runtime.endpoints();
    // Every NATS server: the lag is read where the consumer's leader is.
    const natsMonitoringUrl = (runtime.nats?.nodes ?? []).map((n) => runtime.nats!.monitoringUrlOf(n)).join(',') || runtime.endpoints().natsMonitoringUrl;
    const target: ScaleTarget = {
      getReplicas: async (workload) => runtime.controller(workload).desired,
      scale: async (workload, replicas) => runtime.scale(workload, replicas),
    };
    const eventsFile = join(runtime.config.runDir, SCALING_EVENTS_FILE);
    const autoscaler = new Autoscaler({
      scaledObjects: pausedAtStart(scaledObjects(runtime.rendered), runtime.config.replicas),
      target,
      metrics: new TriggerMetricSource({ prometheusUrl, natsMonitoringUrl }),
      eventsFile,
      // Every poll is an event (about 2 a second per ScaledObject on the fast profile): memory
      // keeps the last 40 minutes or so for the API, the file keeps the whole run.
      maxEventsInMemory: 20_000,
      onEvent: (e) => { if (isScaleEvent(e) || e.reason === 'paused' || e.reason === 'resumed' || e.reason === 'target-error') runtime.log(`autoscaler: ${describe(e)}`); },
      onError: (err) => runtime.log('autoscaler error', err),
    });
    const local = new LocalAutoscaling(runtime, autoscaler, eventsFile);
    runtime.setDemandHandler((workload) => local.demand(workload));
    autoscaler.start();
    return local;
  }

  /** A request held at zero pods. A workload no ScaledObject scales keeps the runtime's plain 0 → 1. */
  private demand(workload: string): void {
    if (this.autoscaler.demand(workload)) return;
    const controller = this.runtime.controllers.get(workload);
    if (controller && controller.desired === 0) {
      this.runtime.log(`activation: demand for ${workload}, which no ScaledObject scales: scaling to 1`);
      this.runtime.scale(workload, 1);
    }
  }

  pause(scaledObject: string, replicas?: number): Promise<ScaledObjectStatus> {
    return this.known(() => this.autoscaler.pause(scaledObject, replicas));
  }

  resume(scaledObject: string): Promise<ScaledObjectStatus> {
    return this.known(() => this.autoscaler.resume(scaledObject));
  }

  list(): Promise<ScaledObjectStatus[]> { return this.autoscaler.list(); }

  events(filter: EventFilter = {}): ScalingEvent[] { return this.autoscaler.getEvents(filter); }

  /** Stops every loop (a decision under way finishes first) and flushes the events file. */
  stop(): Promise<void> { return this.autoscaler.stop(); }

  private async known<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof UnknownScaledObject) throw new NotFound(err.message);
      throw err;
    }
  }
}

function describe(e: ScalingEvent): string {
  const metric = e.trigger ? ` ${e.trigger}${e.metricValue === null ? '' : `=${e.metricValue}`}` : '';
  return `${e.scaledObject} ${e.replicasBefore} → ${e.replicasAfter} (${e.actor} ${e.reason}${metric}${e.error ? `: ${e.error}` : ''})`;
}
