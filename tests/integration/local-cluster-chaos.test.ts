import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, expectSteady, pollBound } from '../../lib/poll.ts';
import { runtimeSettings } from '../../lib/time.ts';
import { loadChaosFile } from '../../cluster/chaos/parse.ts';
import type { ExperimentRecord } from '../../cluster/chaos/records.ts';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import { ControlApiError, type LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { skipUnless } from '../../cluster/target.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL, NAME_LABEL, WORKER_SMALL } from '../../lib/names.ts';

const settings = runtimeSettings('fast');
const DB = DB_SMALL;
const CHAOS = new URL('../../chaos/', import.meta.url).pathname;
/** An example of chaos/ with some fields of its spec changed (a test-sized duration). */
const example = (file: string, spec: Record<string, unknown>) => {
  const r = loadChaosFile(join(CHAOS, file));
  return { ...r, spec: { ...r.spec, ...spec } };
};

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);

describe('local cluster: chaos executor', () => {
  let cluster: LocalClusterTarget;
  let token: string;
  const TENANT = 'tenant-chaos';

  const lb = async (method: 'GET' | 'POST', body?: unknown) => {
    const res = await fetch(`${cluster.getLoadBalancerUrl()}/api/v1/resources${method === 'GET' ? '?query=chaos' : ''}`, {
      method,
      headers: tenantHeaders({ tenant: TENANT, token }, body ? { 'content-type': 'application/json' } : {}),
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.text() };
  };
  const dbPod = async () => (await cluster.listPods({ workload: DB }))[0]!;
  const record = async (name: string): Promise<ExperimentRecord> => (await cluster.listExperiments()).find((r) => r.name === name)!;

  beforeAll(async () => {
    cluster = await new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).withWorkers(0).withGateways(0).start();
    token = await cluster.mintToken(TENANT);
  });
  afterAll(async () => { await cluster?.close(); });

  it('declares localChaos, so chaos suites run here', () => {
    expect(skipUnless(cluster, 'localChaos')).toEqual({ skip: false, reason: '' });
  });

  it('pod-kill (chaos/db-pod-kill.yaml): the pod comes back under its name, ready, with every acknowledged write', async () => {
    expect((await lb('POST', { title: 'before the kill', content: 'chaos: acknowledged' })).status).toBe(201);
    const before = await dbPod();
    const t0 = performance.now();
    const rec = await cluster.applyExperimentFile('chaos/db-pod-kill.yaml');
    expect(rec).toMatchObject({ kind: 'PodChaos', action: 'pod-kill', phase: 'finished', selected: [before.name] });
    const back = (await eventually(`${before.name} recreated, ready and routable`,
      async () => (await cluster.listPods({ workload: DB })).find((p) => p.name === before.name),
      (p) => p !== undefined && p.createdAt > before.createdAt && p.ready && p.routable, { timeoutMs: settings.podsReadyMs, intervalMs: 20 }))!;
    const readyMs = performance.now() - t0;
    console.log(`pod-kill → ${back.name} ready again (routable) in ${Math.round(readyMs)} ms`);
    expect(back.name).toBe(before.name);
    expect(back.createdAt).toBeGreaterThan(before.createdAt);
    expect(back.restarts).toBe(0);
    const read = await lb('GET');
    expect(read.status).toBe(200);
    expect(read.body).toContain('before the kill');
  });

  it('network delay 100 ms ± 10 ms (chaos/db-network-delay.yaml): measured on the pod\'s address; recovered on request', async () => {
    const pod = await dbPod();
    const sample = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const res = await fetch(`http://${pod.address}/health`);
        await res.text();
        out.push(performance.now() - t);
      }
      return out;
    };
    await sample(5); // warm the connection and the handler
    const base = median(await sample(30));

    const rec = await cluster.applyExperimentFile('chaos/db-network-delay.yaml');
    expect(rec).toMatchObject({ phase: 'injected', selected: [pod.name] });
    expect(rec.steps).toEqual(expect.arrayContaining([
      { type: 'network', pod: pod.name, link: 'inbound', flow: 'from-pod', fault: { delayMs: 100, jitterMs: 10, correlation: 0.25 } },
    ]));
    const delayed = await sample(60);
    const added = delayed.map((ms) => ms - base).sort((a, b) => a - b);
    const [p10, p50, p90] = [quantile(added, 0.1), quantile(added, 0.5), quantile(added, 0.9)];
    console.log(`delay 100ms ±10ms (25% correlated): added p10 ${p10.toFixed(1)} ms, median ${p50.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, min ${added[0]!.toFixed(1)}, max ${added.at(-1)!.toFixed(1)} (baseline median ${base.toFixed(2)} ms)`);
    expect(p50).toBeGreaterThanOrEqual(90);
    expect(p50).toBeLessThanOrEqual(120);
    // 100 ms - 10 ms of jitter is a floor for every answer (1 ms for the sidecar's clock granularity).
    expect(Math.min(...delayed)).toBeGreaterThanOrEqual(89);
    expect(p90 - p10, 'the jitter shows as spread').toBeGreaterThan(3);
    expect(p90).toBeLessThanOrEqual(135);

    const [recovered] = await cluster.recoverExperiments('db-network-delay');
    expect(recovered).toMatchObject({ phase: 'recovered', recoveredBy: 'request' });
    expect(median(await sample(20))).toBeLessThan(base + 20);
  });

  it('partition db ↔ NATS: writes refused (503), reads still served; it heals at the end of its duration', async () => {
    expect((await lb('POST', { title: 'before the partition', content: 'chaos: acknowledged' })).status).toBe(201);
    // Longer than the db-node's 20 s publish bound: the write below is refused while the cut holds.
    const rec = await cluster.applyExperimentResource(example('db-nats-network-partition.yaml', { duration: '26s' }));
    const pod = await dbPod();
    expect(rec.steps.map((s) => s.type === 'network' && `${s.pod} ${s.link} ${s.flow}`).sort()).toEqual([`${pod.name} nats from-pod`, `${pod.name} nats to-pod`]);

    const write = await lb('POST', { title: 'during the partition', content: 'not acknowledged' });
    expect(write.status, write.body).toBe(503);
    expect(JSON.parse(write.body)).toMatchObject({ error: 'replication_unavailable' });
    const read = await lb('GET');
    expect(read.status).toBe(200);
    expect(read.body).toContain('before the partition');
    expect((await record('db-nats-network-partition')).phase).toBe('injected');

    await expect.poll(async () => (await record('db-nats-network-partition')).phase, { ...pollBound('recovered at the end of its 26 s', 12_000), interval: 100 }).toBe('recovered');
    expect((await record('db-nats-network-partition')).recoveredBy).toBe('duration');
    await expect.poll(async () => (await lb('POST', { title: 'after the partition', content: 'y' })).status, { ...pollBound('writes acknowledged again after healing', 15_000), interval: 200 }).toBe(201);
  });

  it('pod-failure for a duration: the pod stays, not ready; ready again (same pod) when it ends', async () => {
    const before = await dbPod();
    expect(before.ready).toBe(true);
    const rec = await cluster.applyExperimentResource(example('db-pod-failure.yaml', { duration: '4s' }));
    await expect.poll(async () => {
      const p = await dbPod();
      return { name: p.name, createdAt: p.createdAt, ready: p.ready, running: p.pid !== undefined, phase: p.phase };
    }, { ...pollBound('container stopped, pod kept', 10_000), interval: 50 }).toEqual({ name: before.name, createdAt: before.createdAt, ready: false, running: false, phase: 'Running' });
    // Held down for the whole duration: the kubelet part does not restart the container.
    const held = await expectSteady('the failed pod (ready, running)', async () => { const p = await dbPod(); return { ready: p.ready, running: p.pid !== undefined }; },
      { forMs: rec.endsAt! - 300 - Date.now(), intervalMs: 100 });
    expect(held.value).toEqual({ ready: false, running: false });
    expect(held.samples, 'looked at the pod during the failure').toBeGreaterThan(5);
    expect((await record('db-pod-failure')).phase).toBe('injected');

    await expect.poll(async () => (await record('db-pod-failure')).phase, { ...pollBound('recovered at the end of its 4 s', 10_000), interval: 100 }).toBe('recovered');
    const [after] = await cluster.waitForReplicasReady(DB, 1, { timeoutMs: settings.podsReadyMs });
    expect([after!.name, after!.createdAt]).toEqual([before.name, before.createdAt]);
    expect(after!.restarts).toBe(before.restarts + 2);
    expect((await lb('GET')).status).toBe(200);
  });

  it('bad experiments get a 4xx with the reason; recover with nothing in force is a no-op', async () => {
    const rejects = async (call: Promise<unknown>, status: number, reason: RegExp) => {
      const err = await call.then(() => undefined, (e: unknown) => e);
      expect(err, `expected a ${status}`).toBeInstanceOf(ControlApiError);
      expect([(err as ControlApiError).status, (err as ControlApiError).reason]).toEqual([status, expect.stringMatching(reason)]);
    };
    await rejects(cluster.applyExperimentResource({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'PodChaos', metadata: { name: 'x' }, spec: { action: 'pod-kill', mode: 'fixed' } }), 400, /spec\.value: mode fixed needs value/);
    await rejects(cluster.applyExperimentResource(example('db-network-delay.yaml', { action: 'duplicate', duplicate: { duplicate: '5' } })), 422, /duplicate/);
    await rejects(cluster.applyExperimentResource(example('db-pod-kill.yaml', { selector: { labelSelectors: { [NAME_LABEL]: WORKER_SMALL } } })), 409, /no pod matches/);
    await rejects(cluster.recover('never-applied'), 404, /no experiment "never-applied"/);
    await expect(cluster.applyExperiment('chaos/no-such-file.yaml')).rejects.toThrow(/cannot read the experiment chaos\/no-such-file\.yaml: ENOENT/);
    expect(await cluster.recoverExperiments()).toEqual([]);
  });
});
