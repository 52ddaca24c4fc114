/**
 * The autoscaler of the local target: KEDA's and the HPA's semantics over the ScaledObjects
 * rendered from manifests/. A runtime plugs it in with a ScaleTarget (its workloads) and a
 * MetricSource (usually TriggerMetricSource over its Prometheus and NATS monitoring URLs):
 *
 *   const autoscaler = new Autoscaler({ scaledObjects: scaledObjects(rendered), target, metrics, eventsFile });
 *   autoscaler.start();                        // ... runtime.setDemandHandler((w) => autoscaler.demand(w));
 *   await autoscaler.pause(DB_SMALL, 2);                // KEDA's paused-replicas annotation; resume() removes it
 *   await autoscaler.stop();
 */
export { Autoscaler, type AutoscalerOptions, type ScaleTarget, type ScaledObjectStatus, UnknownScaledObject } from './controller.ts';
export { type Clock, SimulatedClock, systemClock } from './clock.ts';
export { type AutoscalerConfig, type ConfigOptions, HPA_DEFAULTS, InvalidScaledObject, autoscalerConfig, decisionBounds } from './config.ts';
export { type EventFilter, type PauseReason, type ScalingEvent, isScaleEvent } from './events.ts';
export { PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION } from '../manifests/scaling.ts';
export {
  JetStreamLag, type JetStreamLagReading, MetricReadError, type MetricSource, PrometheusQuery, TriggerMetricSource, lagFromJsz,
} from './metric-sources.ts';
