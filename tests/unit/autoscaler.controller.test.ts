import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Autoscaler, InvalidScaledObject, autoscalerConfig } from '../../cluster/autoscaler/index.ts';
import { scratchDir } from '../helpers/processes.ts';
import { T0, jetstreamTrigger, prometheusTrigger, scaledObject, seconds, startAutoscaler, stopAutoscalers } from './autoscaler.harness.ts';

// The controller around the rules: its schedule, its events, its failure handling and the
// push path for demand at zero, on a simulated clock with a fake workload.

const scratch = scratchDir('autoscaler-events');
afterEach(stopAutoscalers);
afterAll(() => scratch.cleanup());

describe('events: every decision, with time, trigger, metric value and replicas', () => {
  it('records each KEDA poll and each HPA sync, scale or not', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[2, 5]]]]);
    await run.until(3);
    const events = run.events();
    expect(events.map((e) => [seconds(e.at), e.actor, e.reason])).toEqual([
      [0, 'keda', 'idle'], [0, 'hpa', 'scaling-disabled'],
      [1, 'keda', 'idle'], [1, 'hpa', 'scaling-disabled'],
      [2, 'keda', 'activated'], [2, 'hpa', 'scale-up'],
      [3, 'keda', 'active'], [3, 'hpa', 'no-change'],
    ]);
    expect(events[4]).toEqual({
      at: T0 + 2000, time: new Date(T0 + 2000).toISOString(), scaledObject: 'percolate-db-small', workload: 'percolate-db-small',
      actor: 'keda', reason: 'activated', trigger: 'prometheus(sum(percolate_active_tenants))', metricValue: 5,
      metrics: [{ trigger: 'prometheus(sum(percolate_active_tenants))', value: 5, active: true }],
      replicasBefore: 0, replicasAfter: 1,
    });
    expect(events[5]).toMatchObject({ actor: 'hpa', replicasBefore: 1, replicasAfter: 3, metricReplicas: 3, metricValue: 5 });
  });

  it('appends them to a JSON lines file, complete after stop()', async () => {
    const file = join(scratch.dir, 'nested', 'events.jsonl');
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 3], [30, 0]]]], { eventsFile: file });
    await run.until(60);
    await run.autoscaler.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual(run.events());
    expect(lines).toHaveLength(122);
  });

  it('keeps a bounded number in memory while the file keeps them all', async () => {
    const file = join(scratch.dir, 'bounded.jsonl');
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 3]]]], { eventsFile: file, maxEventsInMemory: 50 });
    await run.until(99);
    await run.autoscaler.stop();
    expect(run.events().length).toBeLessThanOrEqual(50);
    expect(seconds(run.events().at(-1)!.at)).toBe(99);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(200);
  });
});

describe('schedule', () => {
  // Kubernetes syncs an HPA every --horizontal-pod-autoscaler-sync-period (15 s by default,
  // https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#how-does-a-horizontalpodautoscaler-work);
  // KEDA polls every pollingInterval. Each runs on its own schedule when they differ.
  it('runs KEDA every pollingInterval and the HPA every sync period', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[3, 9]]]], { hpaSyncPeriodSeconds: 15 });
    await run.until(31);
    const at = (actor: string) => run.events().filter((e) => e.actor === actor).map((e) => seconds(e.at));
    expect(at('keda')).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(at('hpa')).toEqual([0, 15, 30]);
    expect(run.scales()).toEqual([[3, 0, 1], [15, 1, 5]]);
  });

  it('stops cleanly mid-sleep and decides nothing afterwards', async () => {
    const run = startAutoscaler(scaledObject(), []);
    await run.until(5);
    expect(run.clock.pending).toBe(1);
    await run.autoscaler.stop();
    expect(run.clock.pending).toBe(0);
    const before = run.events().length;
    await run.until(20);
    expect(run.events()).toHaveLength(before);
  });
});

describe('failures', () => {
  it('records a failed scale and tries again at the next poll', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 1]]]]);
    run.target.failScale = new Error('the API server is away');
    await run.until(2);
    expect(run.replicas()).toBe(0);
    expect(run.events().filter((e) => e.reason === 'target-error')).toHaveLength(3);
    expect(run.events().find((e) => e.reason === 'target-error')?.error).toBe('the API server is away');
    run.target.failScale = undefined;
    await run.until(3);
    expect(run.scales()).toEqual([[3, 0, 1]]);
  });

  it('records a failed read of the workload with the last known count and carries on', async () => {
    const run = startAutoscaler(scaledObject(), [[prometheusTrigger(2), [[0, 5]]]]);
    await run.until(1);
    expect(run.replicas()).toBe(3);
    run.target.failGet = new Error('no such StatefulSet');
    await run.until(3);
    const failed = run.events().filter((e) => e.reason === 'target-error');
    expect(failed.map((e) => [seconds(e.at), e.replicasBefore, e.replicasAfter, e.error])).toEqual([[2, 3, 3, 'no such StatefulSet'], [3, 3, 3, 'no such StatefulSet']]);
    run.target.failGet = undefined;
    await run.until(4);
    expect(run.events().at(-1)).toMatchObject({ actor: 'hpa', replicasBefore: 3, replicasAfter: 3 });
  });

  it('refuses ScaledObjects that KEDA would refuse', () => {
    expect(() => autoscalerConfig(scaledObject({ minReplicaCount: 5, maxReplicaCount: 2 }))).toThrow(InvalidScaledObject);
    expect(() => autoscalerConfig(scaledObject({ triggers: [prometheusTrigger(0)] }))).toThrow(/threshold must be > 0/);
    expect(() => autoscalerConfig(scaledObject({ triggers: [] }))).toThrow(/no triggers/);
    const fake = { getReplicas: async () => 0, scale: async () => {} };
    expect(() => new Autoscaler({
      scaledObjects: [scaledObject(), scaledObject({ name: 'second', triggers: [jetstreamTrigger(5)] })],
      target: fake, metrics: { read: async () => 0 },
    })).toThrow(/already scaled by ScaledObject\/percolate-db-small/);
  });
});

describe('demand pushed at zero (the activator)', () => {
  // KEDA's HTTP add-on reports activity through an external-push scaler
  // (https://keda.sh/docs/2.15/concepts/external-scalers/, the push-based scaler): an active
  // update skips the pollingInterval and resets the cooldown (kedacore/keda#820, the design of
  // the push interface).
  it('activates at once, between polls, and cools down from there', async () => {
    const so = scaledObject({ pollingIntervalSeconds: 10 });
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 0]]]]);
    await run.until(3);
    expect(run.autoscaler.demand('percolate-db-small')).toBe(true);
    expect(run.autoscaler.demand('percolate-unknown')).toBe(false);
    await run.until(4);
    expect(run.scales()).toEqual([[3, 0, 1]]);
    expect(run.events().find((e) => e.reason === 'activated')?.trigger).toBe('external-push');
    // More held requests while the pod starts: no extra polls.
    const reads = run.metrics.reads.length;
    for (let i = 0; i < 5; i++) run.autoscaler.demand('percolate-db-small');
    await run.until(9);
    expect(run.metrics.reads).toHaveLength(reads);
    await run.until(40);
    // Active at 3 s; 3 + 10 < 20 is the first poll on the 10 s grid past the cooldown.
    expect(run.scales()).toEqual([[3, 0, 1], [20, 1, 0]]);
  });
});
