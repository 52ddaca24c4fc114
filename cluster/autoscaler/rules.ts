/**
 * The pure decision logic of the autoscaler, in one place: KEDA's 0 ↔ 1 (keda.ts) and the
 * HPA's 1 ↔ N (hpa.ts), both fed the same trigger readings. No clocks, no I/O: every function
 * takes `now` and state and returns a decision with the next state.
 */
export { type KedaDecision, type KedaReason, type KedaState, initialKedaState, kedaDecide } from './keda.ts';
export {
  type HpaDecision, type HpaReason, type HpaState, type TimedValue,
  averageValueProposal, hpaDecide, initialHpaState, replicasForMetrics, scaleDownLimit, scaleUpLimit, stabilize,
} from './hpa.ts';
export { type TriggerReading, isTriggerActive, toMilli } from './readings.ts';
