import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScalingEvent } from '../../cluster/autoscaler/index.ts';
import { triggerLabel, triggerThreshold } from '../../cluster/autoscaler/config.ts';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import { SCALING_EVENTS_FILE } from '../../cluster/local/control/autoscaling.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { type ScaledObjectSpec, renderOverlay, scaledObjects } from '../../cluster/manifests.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { PrometheusClient } from '../../lib/prometheus.ts';
import { UP_TIMEOUT_MS, deadlinesFor, loadProfile, runtimeSettings } from '../../lib/time.ts';
import { JobQueue } from '../helpers/job-queue.ts';
import { lbReader } from '../helpers/lb-reader.ts';
import { eventually, expectSteady } from '../../lib/poll.ts';

// The local target scales as KEDA and the HPA would from the rendered ScaledObjects, driven
// by real traffic and real jobs. Every bound comes from the time profile.
const profile = loadProfile('fast');
const settings = runtimeSettings('fast');
const S = 1000;
const { pollMs: poll, metricSeenMs, podReadyMs, scaleUpDecidedMs, scaleDownDecidedMs, zeroMetricToZeroMs } = deadlinesFor(profile);
const drainMs = profile.drainTimeoutMs;
const windowMs = profile.activeWindowSeconds * S;
/** Longer than any scaler that is not paused takes to act on a change it can see (it would scale up). */
const steadyMs = scaleUpDecidedMs;

const DB = DB_SMALL;

describe('local cluster autoscaling: KEDA + HPA from the rendered ScaledObjects', () => {
  let cluster: LocalClusterTarget;
  let dbSpec: ScaledObjectSpec;
  let workerSpec: ScaledObjectSpec;
  let queue: JobQueue | undefined;
  const figures: string[] = [];
  const startedAt = Date.now();

  const dbTrigger = () => dbSpec.triggers[0]!;
  const workerTrigger = () => workerSpec.triggers[0]!;
  const dbQuery = () => { const t = dbTrigger(); if (t.type !== 'prometheus') throw new Error('the database scales on a Prometheus query'); return t.query; };

  const get = lbReader(() => cluster);
  const prom = (query: string): Promise<number> => new PrometheusClient(cluster.getPrometheusUrl()).scalar(query);
  const scaleEvents = (scaledObject: string, since: number) => cluster.getScalingEvents({ since, scaledObject, scaleOnly: true });
  const lastScaleTo = (scaledObject: string, since: number, replicas: number, timeoutMs: number, what: string) =>
    eventually(what, () => scaleEvents(scaledObject, since), (ev) => ev.at(-1)?.replicasAfter === replicas, { timeoutMs, intervalMs: 100, show: showEvents });
  const showEvents = (ev: ScalingEvent[]) => ev.map((e) => `${e.replicasBefore}→${e.replicasAfter} (${e.actor} ${e.reason})`).join(', ') || 'no scale events';
  const status = async (name: string) => (await cluster.listScaledObjects()).find((so) => so.name === name)!;

  beforeAll(async () => {
    const t0 = performance.now();
    // No replica counts given: KEDA owns the databases and the workers from the first poll.
    const [started, rendered] = await Promise.all([new LocalClusterBuilder().withProfile('fast').withGateways(0).start(), renderOverlay('fast')]);
    cluster = started;
    figures.push(`up (cluster ready, autoscaler started) in ${Math.round(performance.now() - t0)} ms`);
    dbSpec = scaledObjects(rendered).find((so) => so.target.name === DB)!;
    workerSpec = scaledObjects(rendered).find((so) => so.target.name === WORKER_SMALL)!;
  }, UP_TIMEOUT_MS);

  afterAll(async () => {
    console.log(`autoscaling figures (fast profile):\n  ${figures.join('\n  ')}`);
    await queue?.close();
    await cluster?.close();
  });

  it('starts with the autoscaler owning the databases and the workers, both at 0', async () => {
    expect(await cluster.listScaledObjects()).toEqual(expect.arrayContaining([
      { name: DB, target: { kind: 'StatefulSet', name: DB }, minReplicaCount: 0, maxReplicaCount: dbSpec.maxReplicaCount, paused: false, replicas: 0 },
      { name: WORKER_SMALL, target: { kind: 'Deployment', name: WORKER_SMALL }, minReplicaCount: 0, maxReplicaCount: workerSpec.maxReplicaCount, paused: false, replicas: 0 },
    ]));
    expect(await cluster.listPods({ workload: DB })).toEqual([]);
    expect(await cluster.listPods({ workload: WORKER_SMALL })).toEqual([]);
  });

  it('0 → 1: the first request is held by the activator, KEDA scales at once, the request gets its 200', async () => {
    const t0 = Date.now();
    const answer = await get('tenant-0');
    expect(answer.status, answer.body).toBe(200);
    expect(answer.pod).toBe(`${DB}-0`);
    expect(answer.ms).toBeLessThan(settings.activationTimeoutMs);
    const events = await scaleEvents(DB, t0);
    expect(events).toEqual([expect.objectContaining({ actor: 'keda', reason: 'activated', trigger: 'external-push', replicasBefore: 0, replicasAfter: 1 })]);
    // The scaler's own metric is read and recorded with the pushed activation.
    expect(events[0]!.metrics).toEqual([expect.objectContaining({ trigger: triggerLabel(dbTrigger()), value: expect.any(Number) })]);
    figures.push(`0→1 (activator push): request sent → KEDA decision ${events[0]!.at - t0} ms → pod ready, held request answered 200 at ${Math.round(answer.ms)} ms`);
  });

  it('1 → N on active tenants: N = ceil(tenants / threshold)', { timeout: 2 * metricSeenMs + scaleUpDecidedMs + podReadyMs + 10_000 }, async () => {
    const threshold = triggerThreshold(dbTrigger());
    const n = 3;
    const tenants = n * threshold;
    // The held request also counted at the activator: wait until only the pod counts it, so no tenant counts twice.
    await eventually('Prometheus: 1 active tenant, none at the activator',
      async () => ({ tenants: await prom(dbQuery()), atActivator: await prom(`sum(percolate_active_tenants{source="activator"})`) }),
      ({ tenants, atActivator }) => tenants === 1 && atActivator === 0, { timeoutMs: metricSeenMs, intervalMs: 100 });

    const since = Date.now();
    const answers = await Promise.all(Array.from({ length: tenants - 1 }, (_, i) => get(`tenant-${i + 1}`)));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const sent = Date.now();
    await eventually(`Prometheus: ${tenants} active tenants`, () => prom(dbQuery()), (n) => n === tenants, { timeoutMs: metricSeenMs, intervalMs: 100 });
    const seen = Date.now();
    const ups = await lastScaleTo(DB, since, n, scaleUpDecidedMs, `${DB} scaled to ${n}`);
    const decided = ups.at(-1)!.at;
    await cluster.waitForReplicasReady(DB, n, { timeoutMs: podReadyMs });
    const ready = Date.now();

    for (const e of ups) {
      expect(e).toMatchObject({ actor: 'hpa', reason: 'scale-up', trigger: triggerLabel(dbTrigger()) });
      expect(e.replicasAfter).toBe(Math.ceil(e.metricValue! / threshold));
      expect(e.metricReplicas).toBe(e.replicasAfter);
    }
    expect(Math.max(...ups.map((e) => e.replicasAfter))).toBe(n);
    figures.push(`1→${n} (HPA): requests answered → Prometheus shows ${tenants} tenants ${seen - sent} ms → scale decision ${decided - seen} ms `
      + `→ ${n} pods ready ${ready - decided} ms (decision at ${decided - sent} ms after the load, ${ups.length} step(s))`);
  });

  it('N → 1 after the HPA stabilization window, 1 → 0 after KEDA\'s cooldown, once the tenants go idle', async () => {
    const since = Date.now();
    await eventually('Prometheus: no active tenant', () => prom(dbQuery()), (n) => n === 0, { timeoutMs: windowMs + metricSeenMs, intervalMs: 100 });
    const idle = Date.now();
    const downs = await lastScaleTo(DB, since, 0, zeroMetricToZeroMs, `${DB} back to 0`);
    await cluster.waitForReplicasReady(DB, 0, { timeoutMs: drainMs + poll });

    const toZero = downs.at(-1)!;
    expect(toZero).toMatchObject({ actor: 'keda', reason: 'deactivated', replicasBefore: 1, replicasAfter: 0, trigger: triggerLabel(dbTrigger()), metricValue: 0 });
    const toOne = downs.find((e) => e.replicasAfter === 1)!;
    expect(toOne).toMatchObject({ actor: 'hpa', reason: 'scale-down', trigger: triggerLabel(dbTrigger()) });
    for (const e of downs.slice(0, -1)) expect(e).toMatchObject({ actor: 'hpa', reason: 'scale-down' });
    // Scale-down waits for the stabilization window; 1 → 0 for the cooldown, counted from the last active poll.
    expect(toOne.at - idle).toBeGreaterThanOrEqual(profile.scaleDownStabilizationSeconds * S - 2 * poll);
    expect(toZero.at - idle).toBeGreaterThanOrEqual(profile.cooldownSeconds * S - 2 * poll);
    figures.push(`N→1 (HPA): Prometheus shows 0 tenants → scale-down decision ${toOne.at - idle} ms (stabilization window ${profile.scaleDownStabilizationSeconds} s)`);
    figures.push(`1→0 (KEDA): Prometheus shows 0 tenants → deactivation ${toZero.at - idle} ms (cooldown ${profile.cooldownSeconds} s)`);
  }, scaleDownDecidedMs + zeroMetricToZeroMs + drainMs + 10_000);

  it('paused-replicas holds the database at n while the load asks for more; resume lets the HPA move it', async () => {
    const threshold = triggerThreshold(dbTrigger());
    const held = 2;
    const tenants = (held + 1) * threshold;
    await cluster.pauseAutoscaling(DB, held);
    expect(await status(DB)).toMatchObject({ paused: true, pausedReplicas: held, replicas: held });
    await cluster.waitForReplicasReady(DB, held, { timeoutMs: podReadyMs });

    const since = Date.now();
    let sending = true;
    const failed: string[] = [];
    // Every tenant stays active (a request each poll) for as long as the pause is under test.
    const traffic = (async () => {
      while (sending) {
        const answers = await Promise.all(Array.from({ length: tenants }, (_, i) => get(`tenant-p${i}`)));
        failed.push(...answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body}`));
        await new Promise((r) => setTimeout(r, poll));
      }
    })();
    try {
      await eventually(`Prometheus: ${tenants} active tenants, asking for ${held + 1} pods`, () => prom(dbQuery()), (n) => n >= tenants, { timeoutMs: metricSeenMs, intervalMs: 100 });
      await expectSteady(`${DB} replicas while paused at ${held}`, () => cluster.getReplicas(DB), { forMs: steadyMs });
      expect(await cluster.getScalingEvents({ since, scaledObject: DB }), 'a paused ScaledObject decides nothing').toEqual([]);

      const resumed = Date.now();
      await cluster.resumeAutoscaling(DB);
      expect(await status(DB)).toMatchObject({ paused: false });
      const events = await eventually('the HPA scales up once resumed', () => scaleEvents(DB, resumed), (ev) => ev.some((e) => e.replicasAfter > held),
        { timeoutMs: 2 * poll + metricSeenMs, intervalMs: 100, show: showEvents });
      const up = events.find((e) => e.replicasAfter > held)!;
      expect(up).toMatchObject({ actor: 'hpa', reason: 'scale-up', replicasBefore: held, trigger: triggerLabel(dbTrigger()) });
      expect(Math.ceil(up.metricValue! / threshold)).toBeGreaterThan(held);
      const resumeEvent = (await cluster.getScalingEvents({ since: resumed, scaledObject: DB })).find((e) => e.reason === 'resumed');
      expect(resumeEvent).toMatchObject({ actor: 'keda', replicasBefore: held, replicasAfter: held });
      figures.push(`resume (paused at ${held}, ${tenants} tenants active) → HPA scale-up ${up.at - resumed} ms`);
    } finally {
      sending = false;
      await traffic;
    }
    expect(failed).toEqual([]);
  }, podReadyMs + metricSeenMs + steadyMs + 2 * poll + metricSeenMs + 10_000);

  it('workers: paused holds 0 while jobs queue; resume scales 0 → N on the consumer lag, back to 0 once the queue drains', async () => {
    const lagThreshold = triggerThreshold(workerTrigger());
    const jobs = 4 * lagThreshold;
    await cluster.pauseAutoscaling(WORKER_SMALL);
    const paused = await status(WORKER_SMALL);
    expect(paused).toMatchObject({ paused: true, replicas: 0 });
    expect(paused.pausedReplicas).toBeUndefined();

    queue = await JobQueue.connect(cluster.getNatsUrl());
    const since = Date.now();
    const submitted: Array<{ jobId: string }> = [];
    for (let i = 0; i < jobs; i++) submitted.push(await queue.submit({ tenantId: 'tenant-jobs', tier: 'small', fileName: `doc-${i}.txt`, content: `document ${i}` }));
    await expectSteady(`${WORKER_SMALL} replicas while paused with ${jobs} jobs queued`, () => cluster.getReplicas(WORKER_SMALL), { forMs: steadyMs });
    expect(await cluster.getScalingEvents({ since, scaledObject: WORKER_SMALL }), 'a paused ScaledObject decides nothing').toEqual([]);
    expect((await queue.snapshot()).jobMessages).toBe(jobs);

    const resumed = Date.now();
    await cluster.resumeAutoscaling(WORKER_SMALL);
    // Two polls decide (KEDA activates, the HPA scales up); the lag is read from NATS's monitoring
    // endpoint, not Prometheus, but the same margin as the database's keeps a loaded machine's
    // late poll and slow control API from failing a decision that was on time.
    const ups = await eventually(`${WORKER_SMALL} scaled 0 → N > 1`, () => scaleEvents(WORKER_SMALL, resumed), (ev) => ev.some((e) => e.replicasAfter > 1),
      { timeoutMs: 2 * poll + metricSeenMs, intervalMs: 50, show: showEvents }).catch(async (err: Error) => {
      // What the scaler saw poll by poll (metric, errors): why it did not act.
      const polls = (await cluster.getScalingEvents({ since: resumed, scaledObject: WORKER_SMALL })).slice(-6)
        .map((e) => `${e.reason} ${e.replicasBefore}→${e.replicasAfter} metric=${e.metricValue}${e.error ? ` error=${e.error}` : ''}`);
      throw new Error(`${err.message}\n  its polls since resume: ${polls.join('\n    ') || 'none'}`, { cause: err });
    });
    const [activation, scaleUp] = ups;
    expect(activation).toMatchObject({ actor: 'keda', reason: 'activated', replicasBefore: 0, replicasAfter: 1, trigger: triggerLabel(workerTrigger()) });
    expect(activation!.metricValue).toBeGreaterThan(0);
    expect(scaleUp).toMatchObject({ actor: 'hpa', reason: 'scale-up', replicasBefore: 1, trigger: triggerLabel(workerTrigger()) });
    expect(scaleUp!.replicasAfter).toBe(Math.min(Math.ceil(scaleUp!.metricValue! / lagThreshold), workerSpec.maxReplicaCount));
    const n = scaleUp!.replicasAfter;
    figures.push(`workers 0→1→${n}: resume (lag ${activation!.metricValue}) → KEDA activation ${activation!.at - resumed} ms → HPA scale-up ${scaleUp!.at - resumed} ms`);

    // Every job done (results written through the load balancer), then the lag is 0 and KEDA takes the workers to 0.
    await eventually(`all ${jobs} jobs done`, async () => (await Promise.all(submitted.map((j) => queue!.state(j.jobId)))).map((s) => s?.state ?? 'unknown'),
      (states) => states.every((s) => s === 'done'), { timeoutMs: jobs * profile.parseMs[1] + 2 * podReadyMs, intervalMs: 250 });
    const drained = Date.now();
    const downs = await lastScaleTo(WORKER_SMALL, resumed, 0, profile.scaleDownStabilizationSeconds * S + zeroMetricToZeroMs, `${WORKER_SMALL} back to 0`);
    await cluster.waitForReplicasReady(WORKER_SMALL, 0, { timeoutMs: drainMs + poll });
    expect(downs.at(-1)).toMatchObject({ actor: 'keda', reason: 'deactivated', replicasAfter: 0, trigger: triggerLabel(workerTrigger()), metricValue: 0 });
    figures.push(`workers →0: queue drained → KEDA deactivation ${downs.at(-1)!.at - drained} ms (cooldown ${profile.cooldownSeconds} s)`);
  }, 180_000); // a cap above the bounded waits inside, which fail first and say what they waited for

  it('records every step with trigger, metric value and replicas, in the API and in <runDir>/scaling-events.jsonl', async () => {
    const steps = await cluster.getScalingEvents({ since: startedAt, scaleOnly: true });
    const ours = steps.filter((e) => e.scaledObject === DB || e.scaledObject === WORKER_SMALL);
    expect(ours.length).toBeGreaterThanOrEqual(8);
    for (const e of ours) {
      expect(e.trigger, JSON.stringify(e)).toEqual(expect.any(String));
      expect([e.replicasBefore, e.replicasAfter]).toEqual([expect.any(Number), expect.any(Number)]);
      // Only a pushed activation and a pause carry no metric of their own.
      if (e.trigger !== 'external-push' && e.reason !== 'paused') expect(e.metricValue, JSON.stringify(e)).toEqual(expect.any(Number));
    }
    const file = join(cluster.state.runDir, SCALING_EVENTS_FILE);
    const inFile = await eventually('the events file has every scale event', () => {
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ScalingEvent);
      return lines.filter((e) => e.replicasBefore !== e.replicasAfter && e.at >= startedAt);
    }, (scales) => scales.length >= steps.length, { timeoutMs: 2_000, show: showEvents });
    expect(inFile.slice(0, steps.length)).toEqual(steps);
  });

  it('rejects bad pause and event requests with a 4xx and the reason', async () => {
    const control = cluster.state.control!;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${control.url}${path}`, {
        method, headers: { authorization: `Bearer ${control.token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return [res.status, await res.json()];
    };
    expect(await call('POST', '/scaling/scaledobjects/percolate-nothing/pause', { replicas: 1 })).toEqual([404, { error: 'not_found', reason: expect.stringMatching(/no ScaledObject "percolate-nothing"/) }]);
    expect(await call('POST', `/scaling/scaledobjects/${DB}/pause`, { replicas: -1 })).toEqual([400, { error: 'bad_request', reason: expect.stringMatching(/replicas must be an integer/) }]);
    expect(await call('POST', `/scaling/scaledobjects/${DB}/pause`, { replicas: 'two' })).toEqual([400, { error: 'bad_request', reason: expect.stringMatching(/replicas must be an integer/) }]);
    expect(await call('GET', '/scaling/events?since=yesterday')).toEqual([400, { error: 'bad_request', reason: expect.stringMatching(/since must be a time in ms/) }]);
    expect(await call('GET', '/scaling/nothing')).toEqual([404, { error: 'not_found', reason: expect.any(String) }]);
    expect(await status(DB)).toMatchObject({ paused: false });
  });
});
