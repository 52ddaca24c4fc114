import { afterEach, describe, expect, it } from 'vitest';
import {
  Autoscaler, InvalidScaledObject, type MetricSource, PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION, SimulatedClock, UnknownScaledObject,
} from '../../cluster/autoscaler/index.ts';
import { pauseFromAnnotations, scaledObjects } from '../../cluster/manifests.ts';
import { FakeTarget, T0, jetstreamTrigger, prometheusTrigger, scaledObject, seconds, startAutoscaler, stopAutoscalers } from './autoscaler.harness.ts';

// KEDA's pause annotations (keda.sh/docs/2.15/concepts/scaling-deployments/, "Pause
// autoscaling"): paused-replicas scales to n and holds, paused holds the current count, and
// a paused ScaledObject makes no decisions until the annotations are removed.

afterEach(stopAutoscalers);

const DB = 'percolate-db-small';
const decisions = (events: { actor: string; reason: string; at: number }[], from: number) =>
  events.filter((e) => seconds(e.at) > from && e.reason !== 'paused' && e.reason !== 'resumed');

describe('autoscaling.keda.sh/paused-replicas', () => {
  it('scales the target to n at once and holds it there while the metric asks for more, then fewer', async () => {
    const trigger = prometheusTrigger(2);
    const run = startAutoscaler(scaledObject(), [[trigger, [[0, 10], [10, 0]]]]);
    await run.until(3);
    expect(run.replicas()).toBe(5);

    await run.autoscaler.pause(DB, 2);
    expect(run.replicas()).toBe(2);
    const paused = run.events().at(-1)!;
    expect(paused).toMatchObject({
      actor: 'keda', reason: 'paused', trigger: PAUSED_REPLICAS_ANNOTATION, metricValue: null, replicasBefore: 5, replicasAfter: 2,
    });
    expect(await run.autoscaler.list()).toEqual([{
      name: DB, target: { kind: 'StatefulSet', name: DB }, minReplicaCount: 0, maxReplicaCount: 10, paused: true, pausedReplicas: 2, replicas: 2,
    }]);

    // Load stays, then goes for longer than the cooldown: nothing moves, nothing is decided.
    await run.until(40);
    expect(run.replicas()).toBe(2);
    expect(decisions(run.events(), 3)).toEqual([]);
    expect(run.target.calls.filter((c) => c.t > 3)).toEqual([]);
    // KEDA stops the scale loop of a paused ScaledObject: its scalers are not even polled.
    expect(run.metrics.reads.filter((t) => t > 3)).toEqual([]);
  });

  it('a ScaledObject rendered with the annotation starts paused at n', async () => {
    const run = startAutoscaler(scaledObject({ pausedReplicas: 3 }), [[prometheusTrigger(2), [[0, 0]]]]);
    await run.until(30);
    expect(run.replicas()).toBe(3);
    expect(run.events()).toEqual([expect.objectContaining({ reason: 'paused', replicasBefore: 0, replicasAfter: 3, at: T0 })]);
  });

  it('rejects a count that is not a whole number', async () => {
    const run = startAutoscaler(scaledObject(), []);
    await expect(run.autoscaler.pause(DB, -1)).rejects.toThrow(InvalidScaledObject);
    await expect(run.autoscaler.pause(DB, 1.5)).rejects.toThrow(/paused-replicas must be a whole number/);
    await expect(run.autoscaler.pause('percolate-db-huge', 1)).rejects.toThrow(UnknownScaledObject);
    expect(run.events().filter((e) => e.reason === 'paused')).toEqual([]);
  });
});

describe('autoscaling.keda.sh/paused', () => {
  it('holds the current count; resume lets KEDA act at once (here: past the cooldown, straight to 0)', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 10], [5, 0]]]]);
    await run.until(4);
    await run.autoscaler.pause(DB);
    expect(run.events().at(-1)).toMatchObject({ reason: 'paused', trigger: PAUSED_ANNOTATION, replicasBefore: 5, replicasAfter: 5 });
    await run.until(60);
    expect(run.replicas()).toBe(5);
    expect(decisions(run.events(), 4)).toEqual([]);

    const status = await run.autoscaler.resume(DB);
    expect(status).toMatchObject({ paused: false, replicas: 5 });
    expect(status).not.toHaveProperty('pausedReplicas');
    await run.until(60);
    expect(run.events().filter((e) => seconds(e.at) === 60).map((e) => [e.actor, e.reason, e.replicasBefore, e.replicasAfter]))
      .toEqual([['keda', 'resumed', 5, 5], ['keda', 'deactivated', 5, 0], ['hpa', 'scaling-disabled', 0, 0]]);
  });

  it('resume starts the HPA afresh: no stabilization window carried over from before the pause', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 10], [2, 2]]]]);
    await run.until(1);
    expect(run.replicas()).toBe(5);
    await run.autoscaler.pause(DB);
    await run.until(3);
    await run.autoscaler.resume(DB);
    await run.until(3);
    // Without the pause, recommendations of 5 from t=0..1 would hold 5 until the 5 s window passed.
    expect(run.replicas()).toBe(1);
    expect(run.scales().at(-1)).toEqual([3, 5, 1]);
  });

  it('ignores demand pushed while paused at zero', async () => {
    const run = startAutoscaler(scaledObject({ paused: true }), [[prometheusTrigger(2), [[0, 0]]]]);
    await run.until(1);
    expect(run.autoscaler.demand(DB)).toBe(true);
    await run.until(10);
    expect(run.replicas()).toBe(0);
    expect(run.events().map((e) => e.reason)).toEqual(['paused']);
  });
});

describe('a pause during a decision', () => {
  it('voids the decision under way: no scale call after pause() was called', async () => {
    const clock = new SimulatedClock(T0);
    const target = new FakeTarget(clock);
    target.replicas.set(DB, 0);
    let release: (value: number) => void = () => {};
    const gated: MetricSource = { read: () => new Promise<number>((resolve) => { release = resolve; }) };
    const autoscaler = new Autoscaler({ scaledObjects: [scaledObject()], target, metrics: gated, clock });
    autoscaler.start();
    await clock.advance(0);
    const pausing = autoscaler.pause(DB);
    release(10);
    await pausing;
    await clock.advance(5_000);
    expect(target.calls).toEqual([]);
    expect(autoscaler.getEvents().map((e) => e.reason)).toEqual(['paused']);
    release(10);
    await autoscaler.stop();
  });
});

describe('events since a time', () => {
  it('filters on `at`, inclusive', async () => {
    const run = startAutoscaler(scaledObject({ triggers: [jetstreamTrigger(5)], name: 'percolate-worker', target: { kind: 'Deployment', name: 'percolate-worker' } }), []);
    await run.until(5);
    expect(run.autoscaler.getEvents({ since: T0 + 4000 }).map((e) => seconds(e.at))).toEqual([4, 4, 5, 5]);
  });
});

describe('pause annotations in the manifests', () => {
  it('reads paused-replicas over paused, and "false" as not paused', () => {
    expect(pauseFromAnnotations('so', { [PAUSED_REPLICAS_ANNOTATION]: '2', [PAUSED_ANNOTATION]: 'true' })).toEqual({ pausedReplicas: 2 });
    expect(pauseFromAnnotations('so', { [PAUSED_ANNOTATION]: 'true' })).toEqual({ paused: true });
    expect(pauseFromAnnotations('so', { [PAUSED_ANNOTATION]: 'false' })).toBeUndefined();
    expect(pauseFromAnnotations('so', {})).toBeUndefined();
    expect(() => pauseFromAnnotations('ScaledObject/x', { [PAUSED_REPLICAS_ANNOTATION]: 'two' })).toThrow(/ScaledObject\/x: autoscaling.keda.sh\/paused-replicas must be a whole number/);
    expect(() => pauseFromAnnotations('ScaledObject/x', { [PAUSED_ANNOTATION]: 'yes' })).toThrow(/must be "true" or "false"/);
  });

  it('scaledObjects() carries them into the spec', () => {
    const so = (annotations: Record<string, string>) => scaledObjects({
      overlay: 'fast',
      objects: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x', annotations }, spec: { scaleTargetRef: { name: 'x' }, triggers: [{ type: 'prometheus', metadata: { query: 'q', threshold: '1' } }] } }],
    })[0]!;
    expect(so({ [PAUSED_REPLICAS_ANNOTATION]: '0' }).pausedReplicas).toBe(0);
    expect(so({ [PAUSED_ANNOTATION]: 'true' }).paused).toBe(true);
    expect(so({})).not.toHaveProperty('paused');
  });
});
