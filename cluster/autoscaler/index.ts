/**
 * The autoscaler of the local target: KEDA's and the HPA's semantics over the ScaledObjects
 * rendered from manifests/. A runtime plugs it in with a ScaleTarget (its workloads) and a
 * MetricSource (usually TriggerMetricSource over its Prometheus and NATS monitoring URLs):
 *
 *   const autoscaler = new Autoscaler({ scaledObjects: scaledObjects(rendered), target, metrics, eventsFile });
 *   autoscaler.start();                        // ... runtime.setDemandHandler((w) => autoscaler.demand(w));
 *   await autoscaler.stop();
 */
export { Autoscaler, type AutoscalerOptions, type ScaleTarget } from './controller.ts';
export { type Clock, SimulatedClock, systemClock } from './clock.ts';
export { type AutoscalerConfig, type ConfigOptions, HPA_DEFAULTS, InvalidScaledObject, autoscalerConfig, decisionBounds } from './config.ts';
export { type ScalingEvent, isScaleEvent } from './events.ts';
export {
  JetStreamLag, type JetStreamLagReading, MetricReadError, type MetricSource, PrometheusQuery, TriggerMetricSource, lagFromJsz, parsePrometheusValue,
} from './metric-sources.ts';
