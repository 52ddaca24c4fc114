import { skipUnless } from '../../cluster/target.ts';
import { Ledger, disruption, outcomeOf } from '../lib/checker/index.ts';
import { reportAvailability } from '../lib/checker/report.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { mapConcurrent } from '../lib/concurrency.ts';
import { measure, recordFigure } from '../lib/measure.ts';
import { eventually, pollBound } from '../../lib/poll.ts';
import { expect, test } from '../fixtures/index.ts';
import { DB_SMALL, GATEWAY, WORKER_SMALL } from '../../lib/names.ts';

test.describe('T6.5 gateway failure', () => {
  test('T6.5 every gateway pod killed during uploads (and a worker mid-job): back within the bound, each retried upload one job, each job done once @pr', async ({ cluster, endpoints, tenants, pools, faults, plan, deadlines, timeProfile, testId }) => {
    const s = skipUnless(cluster, 'localChaos');
    test.skip(s.skip && !cluster.capabilities.has('chaosMesh'), s.reason);
    const owners = tenants.ofTier('small', 5);
    const tokens = new Map(await Promise.all(owners.map(async (t) => [t.id, await tenants.token(t.id)] as const)));
    // Every upload attempt is an operation of the ledger: key = the Idempotency-Key, value = the job id answered.
    const ledger = new Ledger();
    const jobsByKey = new Map<string, Set<string>>();
    const events: Array<{ t: number; kind: string; label: string }> = [];
    let running = true;
    let faultAt = 0;
    const tag = `t65${testId}`.replace(/[^A-Za-z0-9_-]/g, '');

    const upload = async (lane: number, tenant: string, key: string): Promise<boolean> => {
      const complete = ledger.invoke({ type: 'write', process: lane, tenant, key, value: null, start: Date.now() });
      const form = new FormData();
      form.append('file', new Blob([`${key} quarterly numbers for ${tenant}`]), `${key}.txt`);
      try {
        const res = await http(`${endpoints.gatewayUrl}/upload`, { method: 'POST', body: form, signal: AbortSignal.timeout(8000), headers: tenantHeaders({ token: tokens.get(tenant)! }, { 'idempotency-key': key }) });
        const { outcome, detail } = outcomeOf(res);
        complete(outcome, detail, res.status === 202 ? String(res.body.job_id) : null);
        if (res.status === 202) {
          const ids = jobsByKey.get(key) ?? new Set<string>();
          ids.add(String(res.body.job_id));
          jobsByKey.set(key, ids);
          return true;
        }
      } catch (err) {
        complete(outcomeOf(err as Error).outcome, String(err));
      }
      return false;
    };

    // Each lane uploads new files; a failed upload is retried with the same key until accepted, as a client would.
    const lanes = Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; running; i += 1) {
        const tenant = owners[(lane + i) % owners.length]!.id;
        const key = `${tag}-${lane}-${i}`;
        // A retried upload of one file, polled until accepted within a bound well past the
        // gateway's recovery bound; one that never is stays in the ledger as failed.
        await eventually(`upload ${key} accepted`, () => upload(lane, tenant, key), (ok) => ok,
          { timeoutMs: 20_000, intervalMs: 100 }).catch(() => undefined);
      }
    });

    try {
      await test.step('setup: gateways running this build, one database pod, one worker, uploads flowing', async () => {
        await pools.hold(DB_SMALL, 1);
        await pools.hold(WORKER_SMALL, 1);
        await eventually('20 uploads accepted before the fault', async () => ledger.ops.filter((o) => o.outcome === 'ok').length, (n) => n >= 20, { timeoutMs: deadlines.podReadyMs });
      });

      await test.step('fault: chaos/gateway-pod-kill.yaml (every gateway pod), then the worker killed mid-job', async () => {
        const before = new Set((await cluster.listPods({ workload: GATEWAY })).map((p) => p.name));
        faultAt = Date.now();
        events.push({ t: faultAt, kind: 'chaos-start', label: 'gateway-pod-kill' });
        await faults.applyExperiment('chaos/gateway-pod-kill.yaml');
        const workers = await cluster.listPods({ workload: WORKER_SMALL });
        for (const w of workers) await cluster.killPod(w.name);
        await expect.poll(async () => (await cluster.listPods({ workload: GATEWAY })).filter((p) => p.ready && !p.terminating && !before.has(p.name)).length, {
          ...pollBound('new gateway pods ready', deadlines.recoveryMs),
        }).toBeGreaterThanOrEqual(before.size);
        const readyAt = Date.now();
        events.push({ t: readyAt, kind: 'chaos-stop', label: 'new gateway pods ready' });
        recordFigure(test.info(), { name: 'new gateway pods ready', value: (readyAt - faultAt) / 1000, unit: 's' });
        await eventually('20 uploads accepted after the gateways came back', async () => ledger.ops.filter((o) => o.outcome === 'ok' && o.start >= readyAt).length, (n) => n >= 20, { timeoutMs: deadlines.podReadyMs });
      });
    } finally {
      running = false;
      await Promise.all(lanes);
      ledger.seal();
    }

    await test.step('assess: recovery time, one job per key, every job done exactly once', async () => {
      const d = disruption(ledger.ops, faultAt);
      await reportAvailability(test.info(), 'upload availability', ledger, d, events);
      measure(test.info(), 'recovery time', d.recoveryMs / 1000, 's', { op: '<', value: plan.chaos.gatewayRecoverySeconds, source: 'targets.yaml chaos.gatewayRecoverySeconds (seed 003 T6.5)' });
      const keys = [...new Set(ledger.ops.map((o) => o.key))];
      const unaccepted = keys.filter((k) => !jobsByKey.has(k));
      expect(unaccepted, 'every upload accepted in the end (retried with its key)').toEqual([]);
      const split = [...jobsByKey].filter(([, ids]) => ids.size > 1);
      measure(test.info(), 'keys answered with more than one job', split.length, 'keys', { op: '<=', value: plan.chaos.duplicateJobs, source: 'targets.yaml chaos.duplicateJobs' });
      const retried = keys.filter((k) => ledger.ops.filter((o) => o.key === k).length > 1).length;
      recordFigure(test.info(), { name: 'uploads retried', value: retried, unit: 'uploads' });
      const jobs = [...jobsByKey].map(([key, ids]) => ({ key, jobId: [...ids][0]!, tenant: ledger.ops.find((o) => o.key === key)!.tenant }));
      // The clients uploaded faster than one worker parses: the backlog is cleared by more
      // workers, and its bound grows with it (each worker one job at a time, the slowest parse).
      const drainers = 4;
      await pools.hold(WORKER_SMALL, drainers);
      const backlogMs = deadlines.jobsRecoveredMs + Math.ceil(jobs.length / drainers) * timeProfile.parseMs[1];
      const states = await eventually(`all ${jobs.length} jobs done`, async () => mapConcurrent(jobs, 8, async (j) =>
        (await http(`${endpoints.gatewayUrl}/jobs/${j.jobId}`, { headers: tenantHeaders({ token: tokens.get(j.tenant)! }) })).body.state as string),
      (st) => st.every((x) => x === 'done'), { timeoutMs: backlogMs, intervalMs: 1000 });
      expect(states.filter((x) => x !== 'done')).toEqual([]);
      const logs = (await Promise.all((await cluster.listPods({ workload: WORKER_SMALL })).map((p) => cluster.getPodLogs(p.name)))).join('\n');
      const completions = new Map<string, number>();
      for (const line of logs.split('\n')) {
        if (!line.includes('"job completed"')) continue;
        const id = /"jobId":"([^"]+)"/.exec(line)?.[1];
        if (id) completions.set(id, (completions.get(id) ?? 0) + 1);
      }
      const twice = jobs.filter((j) => (completions.get(j.jobId) ?? 0) > 1).length;
      recordFigure(test.info(), { name: 'jobs', value: jobs.length, unit: 'jobs' });
      measure(test.info(), 'jobs completed more than once', twice, 'jobs', { op: '<=', value: plan.chaos.duplicateJobs, source: 'targets.yaml chaos.duplicateJobs' });
    });
  });
});
