import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ProfileOverlay, type ScaledObjectSpec, PROFILE_OVERLAYS, renderOverlay, scaledObjects } from '../../cluster/manifests.ts';
import { DB_SMALL, workerWorkload } from '../../lib/names.ts';

const WORKER_LARGE = workerWorkload('large');
import { startAutoscaler, stopAutoscalers } from './autoscaler.harness.ts';

// Whole lives of the two ScaledObjects in manifests/, rendered per overlay, on a simulated
// clock: the database tier goes 0 → 1 → N → 1 → 0 on active tenants, the workers rise and
// drain on queue lag. Every expected time is derived from the overlay's own values
// (pollingInterval P, cooldownPeriod C, scale-down stabilization S) and from the HPA's
// default scale-up policy (4 pods or 100% per 15 s,
// https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#default-behavior).

const POLICY_PERIOD = 15;
const rendered = {} as Record<ProfileOverlay, ScaledObjectSpec[]>;

beforeAll(async () => {
  for (const overlay of PROFILE_OVERLAYS) rendered[overlay] = scaledObjects(await renderOverlay(overlay));
});
afterEach(stopAutoscalers);

function spec(overlay: ProfileOverlay, name: string): ScaledObjectSpec {
  const found = rendered[overlay].find((s) => s.name === name);
  if (!found) throw new Error(`no ScaledObject/${name} in the ${overlay} overlay`);
  return found;
}

function timing(so: ScaledObjectSpec) {
  const P = so.pollingIntervalSeconds;
  const C = so.cooldownPeriodSeconds;
  const S = so.scaleDownStabilizationSeconds ?? 300;
  // The formulas below assume every window ends on a poll.
  expect([C % P, S % P]).toEqual([0, 0]);
  const poll = (t: number) => Math.ceil(t / P) * P;
  return { P, C, S, poll };
}

describe.each(PROFILE_OVERLAYS)('the %s overlay', (overlay) => {
  it(`takes ${DB_SMALL} 0 → 1 → N → 1 → 0 as tenants come and go`, async () => {
    const so = spec(overlay, DB_SMALL);
    const { P, C, S, poll } = timing(so);
    expect(so.triggers[0]).toMatchObject({ type: 'prometheus', threshold: 2, activationThreshold: 0 });
    expect(so.maxReplicaCount).toBe(10);

    // Active tenants: one, then 9, then 40 (more than max × threshold), back to 3, to 1, to none.
    const on = 3 * P, nine = 10 * P, forty = 20 * P, three = forty + 20 * P, one = three + S + 5 * P, none = one + S + 5 * P;
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 0], [on, 1], [nine, 9], [forty, 40], [three, 3], [one, 1], [none, 0]]]]);
    await run.until(none + C + 5 * P);

    expect(run.scales()).toEqual([
      // KEDA activates at the first poll that sees an active tenant (1 > activationThreshold 0).
      [on, 0, 1],
      // ceil(9 / 2) = 5, within the first policy step from 1 (max(1 + 4, 2 × 1) = 5).
      [nine, 1, 5],
      // ceil(40 / 2) = 20, capped at maxReplicaCount 10, once the 15 s policy period since the
      // last scale-up has passed.
      [Math.max(forty, poll(nine + POLICY_PERIOD)), 5, 10],
      // ceil(3 / 2) = 2 once the last recommendation of 20 (the poll before `three`) is S old.
      [three - P + S, 10, 2],
      // ceil(1 / 2) = 1 the same way: the HPA, not the cooldown, takes it to 1.
      [one - P + S, 2, 1],
      // No active tenant: KEDA scales to 0 at the first poll after lastActive + C.
      [none - P + C + P, 1, 0],
    ]);
    const events = run.events();
    expect(events.find((e) => e.replicasAfter === 0 && e.replicasBefore === 1)).toMatchObject({ actor: 'keda', reason: 'deactivated', metricValue: 0 });
    expect(events.filter((e) => e.replicasAfter < e.replicasBefore && e.replicasAfter > 0).every((e) => e.actor === 'hpa')).toBe(true);
  });

  it(`scales ${WORKER_LARGE} on its tier's queue lag up to its maximum and back to zero when the queue drains`, async () => {
    const so = spec(overlay, WORKER_LARGE);
    const { P, C, S, poll } = timing(so);
    expect(so.triggers[0]).toMatchObject({ type: 'nats-jetstream', stream: 'PERCOLATE_JOBS', consumer: 'workers-large', lagThreshold: 5 });
    expect(so.maxReplicaCount).toBe(15);

    const on = 3 * P, drained = 60 * P;
    const run = startAutoscaler(so, [[so.triggers[0]!, [[0, 0], [on, 100], [drained, 0]]]]);
    await run.until(drained + S + C + 5 * P);

    const lastBusy = drained - P;
    const toZero = lastBusy + C + P;
    // ceil(100 / 5) = 20: 5 in the first policy step (4 pods), 10 in the next (100 %), then
    // capped at maxReplicaCount 15. Once the queue is empty, the HPA brings it to 1 after S and
    // KEDA to 0 after C; when C ends first (realistic: 60 s against 300 s) KEDA scales the
    // whole fleet to 0 at once.
    const down: Array<[number, number, number]> = lastBusy + S < toZero ? [[lastBusy + S, 15, 1], [toZero, 1, 0]] : [[toZero, 15, 0]];
    const second = poll(on + POLICY_PERIOD);
    expect(run.scales()).toEqual([[on, 0, 1], [on, 1, 5], [second, 5, 10], [poll(second + POLICY_PERIOD), 10, 15], ...down]);
    expect(run.events().find((e) => e.reason === 'activated')).toMatchObject({ trigger: 'nats-jetstream(PERCOLATE_JOBS/workers-large)', metricValue: 100 });
  });
});
