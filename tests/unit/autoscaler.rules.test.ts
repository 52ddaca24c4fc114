import { afterEach, describe, expect, it } from 'vitest';
import { averageValueProposal } from '../../cluster/autoscaler/rules.ts';
import { lagFromJsz } from '../../cluster/autoscaler/metric-sources.ts';
import { jetstreamTrigger, prometheusTrigger, scaledObject, startAutoscaler, stopAutoscalers } from './autoscaler.harness.ts';

// Each rule of KEDA (0 ↔ 1) and of the HPA it creates (1 ↔ N), on a simulated clock: the
// metric is a step function of simulated seconds, the workload a number. Unless a test says
// otherwise: pollingInterval 1 s (so the HPA also syncs every second), cooldownPeriod 10 s,
// scale-down stabilization 5 s, threshold 2, activationThreshold 0, maxReplicaCount 10.

// HPA_PAGE below: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/

afterEach(stopAutoscalers);

describe('AverageValue target: desired = ceil(total metric / threshold)', () => {
  // HPA_PAGE#algorithm-details: desiredReplicas = ceil(currentReplicas × current / desired);
  // with an AverageValue target the "current" value is the total divided by the pods, so the
  // pod count cancels and the proposal is ceil(total / target per pod). KEDA creates its
  // external metrics with AverageValue unless the trigger says otherwise
  // (https://keda.sh/docs/2.15/reference/scaledobject-spec/#triggers, metricType).
  it('rounds up, neither rounds nor floors, and does not multiply by the current pods', () => {
    expect(averageValueProposal(6.2, 2, 2, 0.1)).toBe(4); // round and floor say 3; Value semantics say ceil(2 × 3.1) = 7
    expect(averageValueProposal(9, 2, 1, 0.1)).toBe(5);
    expect(averageValueProposal(0.3, 2, 5, 0.1)).toBe(1);
  });

  // Same rule end to end: 6.2 active tenants at 2 per pod on a running tier means 4 pods.
  it('takes a running workload to ceil(metric / threshold) replicas', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 6.2]]]], { initialReplicas: 2 });
    await run.until(10);
    expect(run.scales()).toEqual([[0, 2, 4]]);
  });
});

describe('tolerance: no change while the ratio is within 10% of 1', () => {
  // HPA_PAGE#algorithm-details: "The control plane skips any scaling action if the ratio is
  // sufficiently close to 1.0 (within a globally-configurable tolerance, 0.1 by default)".
  it('keeps 10 pods for a total of 10.9 or 9.1 per threshold 1, moves for 11.1 or 8.9', () => {
    expect(averageValueProposal(10.9, 1, 10, 0.1)).toBe(10);
    expect(averageValueProposal(9.1, 1, 10, 0.1)).toBe(10);
    expect(averageValueProposal(11.1, 1, 10, 0.1)).toBe(12);
    expect(averageValueProposal(8.9, 1, 10, 0.1)).toBe(9);
  });

  // Same rule over time: 9.5 against 10 pods is a ratio of 0.95 (held), 8.9 is 0.89 (followed).
  it('holds replicas through a small dip and follows a large one', async () => {
    const so = scaledObject({ scaleDownStabilizationSeconds: 0, triggers: [prometheusTrigger(1)] });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 9.5], [30, 8.9]]]], { initialReplicas: 10 });
    await run.until(29);
    expect(run.replicas()).toBe(10);
    expect(run.events().filter((e) => e.actor === 'hpa').map((e) => e.reason)).toContain('within-tolerance');
    await run.until(40);
    expect(run.scales()).toEqual([[30, 10, 9]]);
  });
});

describe('minReplicaCount and maxReplicaCount', () => {
  // https://keda.sh/docs/2.15/reference/scaledobject-spec/#maxreplicacount: passed to the HPA
  // as its maximum. HPA_PAGE#algorithm-details and #scaling-on-multiple-metrics: the
  // recommendation is capped at the configured maximum.
  it('never goes above maxReplicaCount, however high the metric', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 40]]]], { initialReplicas: 5 });
    await run.until(60);
    expect(run.scales()).toEqual([[0, 5, 10]]);
    const later = run.events().filter((e) => e.actor === 'hpa' && e.at > run.clock.now() - 30_000);
    expect(later.every((e) => e.reason === 'at-max' && e.metricReplicas === 20)).toBe(true);
  });

  // Same page: KEDA's HPA gets minReplicas = max(minReplicaCount, 1), since 1 → 0 is KEDA's
  // (https://keda.sh/docs/2.15/concepts/scaling-deployments/#activating-and-scaling-thresholds).
  it('lets the HPA take an active workload down to 1, never to 0', async () => {
    const so = scaledObject({ scaleDownStabilizationSeconds: 0 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 0.5]]]], { initialReplicas: 4 });
    await run.until(120);
    expect(run.scales()).toEqual([[0, 4, 1]]);
  });

  // https://keda.sh/docs/2.15/reference/scaledobject-spec/#minreplicacount: the fewest replicas
  // KEDA scales to; with minReplicaCount ≥ 1 nothing ever scales to zero.
  it('keeps minReplicaCount pods with no load at all', async () => {
    const so = scaledObject({ minReplicaCount: 2 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 0]]]]);
    await run.until(120);
    expect(run.scales()).toEqual([[0, 0, 2]]);
  });

  // HPA_PAGE#algorithm-details caps at the maximum; the controller (horizontal.go,
  // reconcileAutoscaler) sets a target above maxReplicas straight back to it.
  it('brings a workload scaled above the maximum by hand back to it', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 4]]]], { initialReplicas: 15 });
    await run.until(1);
    expect(run.scales()[0]).toEqual([0, 15, 10]);
  });
});

describe('activationThreshold: 0 → 1 only when a metric is strictly above it', () => {
  // https://keda.sh/docs/2.15/concepts/scaling-deployments/#activating-and-scaling-thresholds:
  // "Activation only occurs when this value is greater than the set value; not greater than or
  // equal to." KEDA scales 0 → 1 itself; the HPA then takes over.
  it('stays at zero while the metric equals the activation value, activates once above it', async () => {
    const so = scaledObject({ triggers: [prometheusTrigger(1, 3)] });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 3], [10, 3.5]]]]);
    await run.until(9);
    expect(run.replicas()).toBe(0);
    await run.until(12);
    expect(run.scales()).toEqual([[10, 0, 1], [10, 1, 4]]);
    expect(run.events().find((e) => e.reason === 'activated')).toMatchObject({ actor: 'keda', metricValue: 3.5, replicasBefore: 0, replicasAfter: 1 });
  });

  // Same section: "The activation value has more priority than the scaling value ...
  // threshold: 10 and activationThreshold: 50, in case of 40 messages the scaler is not active
  // and it'll be scaled to zero even the HPA requires 4 instances."
  it('lets activation win over scaling: 40 with threshold 10 and activation 50 means zero', async () => {
    const so = scaledObject({ triggers: [prometheusTrigger(10, 50)] });
    const idle = startAutoscaler(so, [[so.triggers[0]!, [[0, 40]]]]);
    await idle.until(60);
    expect(idle.scales()).toEqual([]);
    const running = startAutoscaler(so, [[so.triggers[0]!, [[0, 40]]]], { initialReplicas: 1 });
    await running.until(60);
    expect(running.scales()).toEqual([[0, 1, 0]]);
  });
});

describe('pollingInterval: KEDA checks the triggers once per interval', () => {
  // https://keda.sh/docs/2.15/reference/scaledobject-spec/#pollinginterval: "This is the
  // interval to check each trigger on."
  it('activates at the first poll after the metric rises, not before', async () => {
    const so = scaledObject({ pollingIntervalSeconds: 10 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[3, 1]]]]);
    await run.until(9);
    expect(run.replicas()).toBe(0);
    await run.until(30);
    expect(run.scales()).toEqual([[10, 0, 1]]);
    expect(run.metrics.reads).toEqual([0, 10, 20, 30]);
  });
});

describe('cooldownPeriod: only for the way to zero', () => {
  // https://keda.sh/docs/2.15/reference/scaledobject-spec/#cooldownperiod: "the KEDA
  // cooldownPeriod only applies when scaling to 0; scaling from 1 to N replicas is handled by
  // the Kubernetes Horizontal Pod Autoscaler."
  it('does not delay N → 1: that takes the HPA stabilization window, even with an hour of cooldown', async () => {
    const so = scaledObject({ cooldownPeriodSeconds: 3600 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 8], [20, 1]]]]);
    await run.until(100);
    // The last recommendation of 4 was at 19 s; 5 s later it has left the window.
    expect(run.scales()).toEqual([[0, 0, 1], [0, 1, 4], [24, 4, 1]]);
  });

  // Same section: "The period to wait after the last trigger reported active before scaling
  // the resource back to 0". KEDA compares lastActiveTime + cooldownPeriod strictly before now
  // (pkg/scaling/executor/scale_scaledobjects.go, scaleToZeroOrIdle).
  it('waits cooldownPeriod after the last active poll before 1 → 0', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 1], [20, 0]]]]);
    await run.until(29);
    expect(run.replicas()).toBe(1);
    expect(run.events().filter((e) => e.actor === 'keda' && e.at >= run.clock.now() - 9_000).every((e) => e.reason === 'cooling-down')).toBe(true);
    await run.until(60);
    expect(run.scales()).toEqual([[0, 0, 1], [30, 1, 0]]);
  });

  // Same section: the wait runs from "the last trigger reported active", so one active poll
  // inside the cooldown starts it again.
  it('counts from the last active poll: one active poll in the cooldown restarts it', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 1], [20, 0], [25, 1], [26, 0]]]]);
    await run.until(60);
    expect(run.scales()).toEqual([[0, 0, 1], [36, 1, 0]]);
  });

  // KEDA's RequestScale (pkg/scaling/executor/scale_scaledobjects.go) deactivates whenever no
  // trigger is active, replicas > 0 and minReplicaCount is 0, whatever the replica count: with
  // the realistic profile (cooldown 60 s < stabilization 300 s) a drop to zero load goes N → 0
  // after the cooldown, before the HPA ever reaches 1.
  it('deactivates from N straight to 0 when the load stops before the HPA window ends', async () => {
    const so = scaledObject({ pollingIntervalSeconds: 10, cooldownPeriodSeconds: 60, scaleDownStabilizationSeconds: 300 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 9], [100, 0]]]]);
    await run.until(400);
    expect(run.scales()).toEqual([[0, 0, 1], [0, 1, 5], [160, 5, 0]]);
  });
});

describe('scale-down stabilization window (N → 1)', () => {
  // HPA_PAGE#stabilization-window: "When the metrics indicate that the target should be scaled
  // down the algorithm looks into previously computed desired states, and uses the highest
  // value from the specified interval." KEDA passes
  // advanced.horizontalPodAutoscalerConfig.behavior to the HPA as is
  // (https://keda.sh/docs/2.15/reference/scaledobject-spec/#horizontalpodautoscalerconfig).
  it('keeps the highest recommendation of the window, then scales down', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 16], [20, 2]]]], { initialReplicas: 8 });
    await run.until(23);
    expect(run.replicas()).toBe(8);
    expect(run.events().at(-1)).toMatchObject({ actor: 'hpa', reason: 'scale-down-stabilized', metricReplicas: 1 });
    await run.until(60);
    expect(run.scales()).toEqual([[24, 8, 1]]);
  });

  // HPA_PAGE#default-behavior: scale down stabilizationWindowSeconds 300 when not set.
  it('uses 300 s when the ScaledObject sets no window', async () => {
    const so = scaledObject({ scaleDownStabilizationSeconds: undefined });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 16], [20, 2]]]], { initialReplicas: 8 });
    await run.until(318);
    expect(run.replicas()).toBe(8);
    await run.until(330);
    expect(run.scales()).toEqual([[319, 8, 1]]);
  });

  // HPA_PAGE#flapping and #stabilization-window: a fluctuating metric does not make pods come and go.
  it('does not flap on a metric that swings every 3 s', async () => {
    const swings = Array.from({ length: 20 }, (_, k) => [3 * k, k % 2 === 0 ? 16 : 2] as [number, number]);
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [...swings, [60, 2]]]], { initialReplicas: 8 });
    await run.until(90);
    // The last 16 was read at 56 s.
    expect(run.scales()).toEqual([[61, 8, 1]]);
  });

  // HPA_PAGE#default-behavior: "For scaling up there is no stabilization window. When the
  // metrics indicate that the target should be scaled up the target is scaled up immediately."
  it('does not hold back a scale-up', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 1], [10, 16]]]], { initialReplicas: 1 });
    await run.until(40);
    expect(run.scales()).toEqual([[10, 1, 5], [25, 5, 8]]);
  });
});

describe('HPA scaling policies', () => {
  // HPA_PAGE#default-behavior: scale up by the larger of 100% and 4 pods per 15 s; the change
  // is counted from the replicas at the start of each policy's period.
  it('scales up by at most max(100%, 4 pods) per 15 s', async () => {
    const so = scaledObject({ maxReplicaCount: 100, triggers: [prometheusTrigger(1)] });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 40]]]], { initialReplicas: 1 });
    await run.until(60);
    expect(run.scales()).toEqual([[0, 1, 5], [15, 5, 10], [30, 10, 20], [45, 20, 40]]);
  });

  // Same section: "a 100% of the currently running replicas to be removed which means the
  // scaling target can be scaled down to the minimum allowed replicas."
  it('scales down 100% in one step once the window allows', async () => {
    const so = scaledObject({ scaleDownStabilizationSeconds: 0, triggers: [prometheusTrigger(1)] });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 1]]]], { initialReplicas: 10 });
    await run.until(30);
    expect(run.scales()).toEqual([[0, 10, 1]]);
  });

  // HPA_PAGE#scaling-policies: a Pods policy with periodSeconds limits the change per period.
  it('applies a policy given through the behavior', async () => {
    const so = scaledObject({ scaleDownStabilizationSeconds: 0, triggers: [prometheusTrigger(1)] });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 1]]]], {
      initialReplicas: 4, behavior: { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
    });
    await run.until(150);
    expect(run.scales()).toEqual([[0, 4, 3], [60, 3, 2], [120, 2, 1]]);
  });
});

describe('several triggers', () => {
  const both = () => scaledObject({ triggers: [prometheusTrigger(2), jetstreamTrigger(5)] });

  // HPA_PAGE#scaling-on-multiple-metrics: "The HorizontalPodAutoscaler takes the maximum scale
  // recommended for each metric".
  it('follows the metric that asks for the most pods', async () => {
    const so = both();
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 6]]], [so.triggers[1]!, [[0, 20], [10, 0]]]], { initialReplicas: 1 });
    await run.until(30);
    expect(run.scales()).toEqual([[0, 1, 4], [14, 4, 3]]);
    expect(run.events().find((e) => e.reason === 'scale-up')).toMatchObject({ trigger: 'nats-jetstream(PERCOLATE_JOBS/workers)', metricValue: 20 });
  });

  // HPA_PAGE#algorithm-details: "If any of these metrics cannot be converted into a desired
  // replica count ... and a scale down is suggested by the metrics which can be fetched,
  // scaling is skipped. This means that the HPA is still capable of scaling up".
  it('skips a scale-down while a metric fails, still scales up', async () => {
    const so = both();
    const down = new Error('prometheus: connection refused');
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 6], [10, down]]], [so.triggers[1]!, [[0, 20], [10, 5], [60, 40]]]], { initialReplicas: 1 });
    await run.until(59);
    expect(run.scales()).toEqual([[0, 1, 4]]);
    expect(run.events().filter((e) => e.actor === 'hpa' && e.at > run.clock.now() - 40_000).every((e) => e.reason === 'metric-error')).toBe(true);
    await run.until(61);
    expect(run.scales()).toEqual([[0, 1, 4], [60, 4, 8]]);
  });

  // https://keda.sh/docs/2.15/reference/scaledobject-spec/#fallback: without a fallback, a
  // failing scaler does not propagate a metric; KEDA's RequestScale does not deactivate while
  // a trigger is in error.
  it('neither deactivates nor scales down while every trigger fails', async () => {
    const so = both();
    const err = new Error('unreachable');
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 6], [10, err]]], [so.triggers[1]!, [[0, 20], [10, err]]]], { initialReplicas: 1 });
    await run.until(120);
    expect(run.scales()).toEqual([[0, 1, 4]]);
    const last = run.events().slice(-2);
    expect(last.map((e) => e.reason)).toEqual(['trigger-error', 'metric-error']);
    expect(last[0]!.metrics.every((m) => m.error === 'unreachable' && m.value === null)).toBe(true);
  });
});

describe('nats-jetstream lag: num_pending + num_ack_pending, last_seq when the consumer is missing', () => {
  // https://keda.sh/docs/2.15/scalers/nats-jetstream/ reads /jsz?acc=…&consumers=true&config=true;
  // KEDA's pkg/scalers/nats_jetstream_scaler.go getMaxMsgLag returns the consumer's
  // num_pending + num_ack_pending, and the stream's state.last_seq when no consumer of that
  // name exists. A stream it has never found reads as an empty one (0).
  const jsz = (consumers: Array<{ name: string; num_pending: number; num_ack_pending: number }>) => ({
    account_details: [{ name: '$G', id: '$G', stream_detail: [{ name: 'PERCOLATE_JOBS', state: { messages: 4, last_seq: 7 }, consumer_detail: consumers }] }],
  });
  const where = { account: '$G', stream: 'PERCOLATE_JOBS', consumer: 'workers' };

  // getMaxMsgLag, first case: the named consumer's pending plus ack-pending, not other consumers'.
  it('adds pending and ack-pending of the named consumer', () => {
    const body = jsz([{ name: 'other', num_pending: 50, num_ack_pending: 50 }, { name: 'workers', num_pending: 3, num_ack_pending: 2 }]);
    expect(lagFromJsz(body, where)).toEqual({ lag: 5, from: 'consumer' });
  });

  // getMaxMsgLag, fallback: no consumer of that name → the stream's last_seq.
  it('falls back to the stream last_seq without the consumer, and to 0 without the stream', () => {
    expect(lagFromJsz(jsz([{ name: 'other', num_pending: 1, num_ack_pending: 0 }]), where)).toEqual({ lag: 7, from: 'stream-last-seq' });
    expect(lagFromJsz(jsz([]), { ...where, stream: 'ELSEWHERE' })).toEqual({ lag: 0, from: 'no-stream' });
    expect(lagFromJsz({ account_details: [] }, where)).toEqual({ lag: 0, from: 'no-stream' });
  });

  // The fallback is what lets workers start before any of them has created the consumer.
  it('scales workers on the fallback lag when the consumer is missing', async () => {
    const so = scaledObject({ name: 'percolate-worker', target: { kind: 'Deployment', name: 'percolate-worker' }, triggers: [jetstreamTrigger(5)] });
    const body = jsz([]);
    const run = startAutoscaler(so, [], { metrics: { read: async (t) => lagFromJsz(body, t as typeof where).lag } });
    await run.until(5);
    // last_seq 7 > activation 0 → 1; ceil(7 / 5) = 2.
    expect(run.scales()).toEqual([[0, 0, 1], [0, 1, 2]]);
  });
});
