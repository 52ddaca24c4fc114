import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import { ControlApiError, type LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { isListening } from '../../cluster/local/network/net-util.ts';
import { RUN_MARKER_ENV } from '../../cluster/local/process/paths.ts';
import { isRunning, processesWithEnv } from '../../cluster/local/process/proc-identity.ts';
import { tenantHeaders } from '../../lib/http.ts';
import { DB_SMALL, GATEWAY, SERVED_BY_HEADER, WORKER_SMALL } from '../../lib/names.ts';
import { PrometheusClient } from '../../lib/prometheus.ts';
import { deadlinesFor, loadProfile, runtimeSettings } from '../../lib/time.ts';
import { pollBound } from '../../lib/poll.ts';
import { lbReader } from '../helpers/lb-reader.ts';

const DB = DB_SMALL;
const settings = runtimeSettings('fast');
const deadlines = deadlinesFor(loadProfile('fast'));

/** HAProxy's view of the database backend: server name → status (UP, DOWN, MAINT…). */
async function dbServers(statsUrl: string): Promise<Record<string, string>> {
  const csv = await (await fetch(`${statsUrl};csv`)).text();
  return Object.fromEntries(csv.split('\n')
    .map((line) => line.split(','))
    .filter((f) => f[0] === DB && !['FRONTEND', 'BACKEND', 'activator'].includes(f[1]!))
    .map((f) => [f[1]!, f[17]!]));
}

/** Prometheus' active targets of one scrape job: pod → health. */
async function promTargets(promUrl: string, job: string): Promise<Record<string, string>> {
  const targets = await new PrometheusClient(promUrl).activeTargets();
  return Object.fromEntries(targets.filter((t) => t.labels.job === job).map((t) => [t.labels.pod ?? t.labels.instance!, t.health]));
}

describe('local cluster', () => {
  let cluster: LocalClusterTarget;

  const dbGet = lbReader(() => cluster);

  beforeAll(async () => {
    cluster = await new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).withWorkers(0).withGateways(1).start();
  });
  afterAll(async () => { await cluster?.close(); });

  it('answers on every endpoint once up returns', async () => {
    const e = await cluster.getEndpoints();
    const token = await cluster.mintToken('tenant-up');
    const write = await fetch(`${e.loadBalancerUrl}/api/v1/resources`, {
      method: 'POST',
      headers: tenantHeaders({ tenant: 'tenant-up', token }, { 'content-type': 'application/json' }),
      body: JSON.stringify({ title: 'first', content: 'through the load balancer' }),
    });
    expect(write.status).toBe(201);
    expect(write.headers.get(SERVED_BY_HEADER)).toBe(`${DB}-0`);
    expect((await fetch(`${e.gatewayUrl}/health`)).status).toBe(200);
    expect((await fetch(`${e.natsMonitoringUrl}/healthz?js-enabled-only=true`)).status).toBe(200);
    expect((await fetch(`${e.prometheusUrl}/-/ready`)).status).toBe(200);
    const pods = await cluster.listPods();
    expect(pods.map((p) => p.workload).sort()).toEqual([DB, GATEWAY]);
    // Replica counts given at start hold: their ScaledObjects start paused there (paused-replicas).
    expect((await cluster.listScaledObjects()).filter((so) => so.paused).map((so) => [so.name, so.pausedReplicas, so.replicas]))
      .toEqual([[DB, 1, 1], [WORKER_SMALL, 0, 0]]);
    expect(pods.every((p) => p.ready && p.zone.startsWith('zone-') && p.node.startsWith('node-'))).toBe(true);
    // Every pod is scraped through file_sd, and is up.
    await expect.poll(async () => promTargets(e.prometheusUrl, 'db-node'), { ...pollBound('prometheus scrapes the db pod', 15_000), interval: 250 })
      .toEqual({ [`${DB}-0`]: 'up' });
  });

  it('scales the database 1 → 3 → 1: HAProxy servers and file_sd follow, and a tenant stays on one pod', async () => {
    const e = await cluster.getEndpoints();
    const sdFile = join(cluster.state.runDir, 'prometheus', 'targets', 'db-node.json');
    const sdPods = () => (JSON.parse(readFileSync(sdFile, 'utf8')) as { labels: { pod: string } }[]).map((g) => g.labels.pod).sort();

    await cluster.scale(DB, 3);
    const pods = await cluster.waitForReplicasReady(DB, 3, { timeoutMs: settings.podsReadyMs });
    expect(pods.map((p) => p.name).sort()).toEqual([`${DB}-0`, `${DB}-1`, `${DB}-2`]);
    expect(new Set(pods.map((p) => p.zone)).size).toBe(3);
    expect(await dbServers(e.extra.haproxyStats!)).toEqual({ [`${DB}-0`]: 'UP', [`${DB}-1`]: 'UP', [`${DB}-2`]: 'UP' });
    await expect.poll(sdPods, pollBound('file_sd lists the 3 pods', 2_000)).toEqual(pods.map((p) => p.name).sort());

    // Affinity: each tenant always lands on the same pod; tenants spread over several pods.
    // 25 tenants, every other round in reverse, so that no rotation of servers can pass for affinity.
    const servedBy = new Map<string, Set<string>>();
    const tenants = Array.from({ length: 25 }, (_, i) => i);
    for (let round = 0; round < 4; round++) {
      for (const t of round % 2 ? [...tenants].reverse() : tenants) {
        const r = await dbGet(`tenant-${t}`);
        expect(r.status).toBe(200);
        servedBy.set(`tenant-${t}`, (servedBy.get(`tenant-${t}`) ?? new Set()).add(r.pod!));
      }
    }
    expect([...servedBy].filter(([, s]) => s.size > 1).map(([t]) => t)).toEqual([]);
    expect(new Set([...servedBy.values()].flatMap((s) => [...s])).size).toBeGreaterThan(1);

    await cluster.scale(DB, 1);
    await cluster.waitForReplicasReady(DB, 1, { timeoutMs: settings.podsReadyMs });
    await expect.poll(() => dbServers(e.extra.haproxyStats!), pollBound('HAProxy keeps only pod 0', 5_000))
      .toEqual({ [`${DB}-0`]: 'UP' });
    await expect.poll(sdPods, pollBound('file_sd lists only pod 0', 2_000)).toEqual([`${DB}-0`]);
  });

  it('zone outage, node drain and a killed container: as the target says', async () => {
    await cluster.scale(DB, 2);
    let [p0, p1] = await cluster.waitForReplicasReady(DB, 2, { timeoutMs: settings.podsReadyMs }).then((ps) => ps.sort((a, b) => a.name.localeCompare(b.name)));
    expect(p0!.zone).not.toBe(p1!.zone);

    // Zone outage: pod 0 is cut off and not ready; every tenant is served by pod 1.
    await cluster.failZone(p0!.zone);
    expect((await cluster.listZones()).find((z) => z.name === p0!.zone)?.failed).toBe(true);
    await expect.poll(async () => (await cluster.listPods({ workload: DB })).find((p) => p.name === p0!.name)?.ready, pollBound('pod 0 reported unready', 2_000)).toBe(false);
    await expect(fetch(`http://${p0!.address}/health`)).rejects.toThrow();
    for (let t = 0; t < 10; t++) expect((await dbGet(`tenant-${t}`)).pod).toBe(p1!.name);
    await cluster.restoreZone(p0!.zone);
    await cluster.waitForReplicasReady(DB, 2, { timeoutMs: 10_000 });

    // Node drain: pod 1 is evicted and recreated, same name, on another node; its node is cordoned.
    await cluster.drainNode(p1!.node, { timeoutMs: settings.podsReadyMs });
    const nodes = await cluster.listNodes();
    expect(nodes.find((n) => n.name === p1!.node)?.cordoned).toBe(true);
    [p0, p1] = (await cluster.waitForReplicasReady(DB, 2, { timeoutMs: 10_000 })).sort((a, b) => a.name.localeCompare(b.name));
    expect(p1!.name).toBe(`${DB}-1`);
    expect(p1!.node).not.toBe(nodes.find((n) => n.cordoned)!.name);
    await cluster.uncordonNode(nodes.find((n) => n.cordoned)!.name);

    // A killed container restarts in place: same pod, node and address, one more restart.
    await cluster.killPod(p0!.name, { signal: 'SIGKILL' });
    await expect.poll(async () => (await cluster.listPods({ workload: DB })).find((p) => p.name === p0!.name)?.restarts, pollBound('restart counted', 5_000)).toBe(1);
    const [again] = (await cluster.waitForReplicasReady(DB, 2, { timeoutMs: 15_000 })).filter((p) => p.name === p0!.name);
    expect([again!.node, again!.address]).toEqual([p0!.node, p0!.address]);

    await cluster.scale(DB, 1);
    await cluster.waitForReplicasReady(DB, 1, { timeoutMs: settings.podsReadyMs });
  });

  it('holds a request at zero database pods and answers it once a pod is ready (no 503)', async () => {
    // Held at 0 by pausing its ScaledObject there, until the scaler's metric has forgotten the
    // tenants of the tests before; then KEDA owns it again, and only the held request can wake it.
    await cluster.pauseAutoscaling(DB, 0);
    await cluster.waitForReplicasReady(DB, 0, { timeoutMs: settings.podsReadyMs });
    expect(await dbServers((await cluster.getEndpoints()).extra.haproxyStats!)).toEqual({});
    const activeTenants = () => new PrometheusClient(cluster.getPrometheusUrl()).scalar('count(count by (tenant_id) (percolate_tenant_active{tier="small"}))');
    await expect.poll(activeTenants, { ...pollBound('the scaler\'s metric at 0 once the pods are gone', deadlines.metricSeenMs), interval: 100 }).toBe(0);
    await cluster.resumeAutoscaling(DB);
    const activatorMetrics = `${(await cluster.getEndpoints()).extra[`activator:${DB}`]}/metrics`;

    const sentAt = Date.now();
    const pending = dbGet('tenant-cold');
    // While held, the request is demand the scaler can see.
    await expect.poll(async () => (await fetch(activatorMetrics)).text(), { ...pollBound('the activator reports the held request', 5_000), interval: 20 })
      .toContain(`percolate_activator_pending_requests{workload="${DB}",tier="small"} 1`);
    const answer = await pending;
    console.log(`held first request at zero db pods answered in ${Math.round(answer.ms)} ms`);
    expect(answer.status, answer.body).toBe(200);
    expect(answer.pod).toBe(`${DB}-0`);
    expect(answer.ms).toBeLessThan(settings.activationTimeoutMs);
    expect(await cluster.getReplicas(DB)).toBe(1);
    expect(await (await fetch(activatorMetrics)).text()).toContain(`percolate_activator_requests_total{workload="${DB}",tier="small",outcome="forwarded"} 1`);
    // KEDA did it: the autoscaler's activation, pushed by the held request.
    expect((await cluster.getScalingEvents({ since: sentAt })).filter((e) => e.scaledObject === DB && e.replicasAfter !== e.replicasBefore))
      .toEqual([expect.objectContaining({ actor: 'keda', reason: 'activated', trigger: 'external-push', replicasBefore: 0, replicasAfter: 1 })]);
    // The tests after this one want one pod whatever the load: hold it there.
    await cluster.pauseAutoscaling(DB, 1);
  });

  it('faults set in a pod\'s sidecar apply to its traffic; bad requests get a 4xx with the reason', async () => {
    const [pod] = await cluster.waitForReplicasReady(DB, 1, { timeoutMs: 10_000 });
    // With nothing to do, the sidecar is left out of the load balancer's path (straight to
    // the container); a fault puts it back before the call returns, and clearing it takes it out.
    const lbAddress = async () => (await cluster.listPods({ workload: DB }))[0]!.lbAddress;
    const container = await lbAddress();
    expect(container, 'the load balancer goes straight to the container').toMatch(/^127\.0\.0\.1:\d+$/);
    expect(container).not.toBe(pod!.address);
    await cluster.setNetworkFault(pod!.name, { link: 'inbound', flow: 'from-pod' }, { delayMs: 300 });
    expect(await lbAddress(), 'through the sidecar while it has a fault').toBe(pod!.address);
    expect((await dbGet('tenant-slow')).ms).toBeGreaterThanOrEqual(290);
    await cluster.setNetworkFault(pod!.name, { link: 'inbound' }, undefined);
    expect(await lbAddress()).toBe(container);
    expect((await dbGet('tenant-slow')).ms).toBeLessThan(250);
    // A fault on another link leaves the load balancer's path alone.
    await cluster.setNetworkFault(pod!.name, { link: 'outbound' }, { delayMs: 1 });
    expect(await lbAddress()).toBe(container);
    await cluster.setNetworkFault(pod!.name, { link: 'outbound' }, undefined);

    const rejects = async (call: Promise<unknown>, status: number, reason: RegExp) => {
      const err = await call.then(() => undefined, (e: unknown) => e);
      expect(err, `expected a ${status}`).toBeInstanceOf(ControlApiError);
      expect([(err as ControlApiError).status, (err as ControlApiError).reason]).toEqual([status, expect.stringMatching(reason)]);
    };
    await rejects(cluster.scale('percolate-nothing', 1), 404, /no workload "percolate-nothing"/);
    await rejects(cluster.scale(DB, -1), 400, /replicas must be an integer/);
    await rejects(cluster.killPod('no-such-pod'), 404, /no pod "no-such-pod"/);
    await rejects(cluster.killPod(pod!.name, { signal: 'SIGFOO' as NodeJS.Signals }), 400, /signal must be one of/);
    await rejects(cluster.setNetworkFault(pod!.name, {}, { delayMs: -5 }), 400, /delayMs must be a non-negative number/);
    await rejects(cluster.failZone('zone-z'), 404, /no zone "zone-z"/);
    const noToken = await fetch(`${cluster.state.control!.url}/status`);
    expect([noToken.status, await noToken.json()]).toEqual([401, { error: 'unauthorized', reason: expect.any(String) }]);
    await expect(cluster.applyExperiment('chaos/no-such-experiment.yaml')).rejects.toThrow(/cannot read the experiment/);
  });

  it('down leaves no process, port, run dir or state behind', async () => {
    const status = await cluster.status();
    const pids = status.components.map((c) => c.pid);
    const ports = [
      ...status.components.flatMap((c) => c.ports),
      ...status.pods.map((p) => Number(p.address.split(':')[1])),
      ...[status.endpoints.loadBalancerUrl, status.endpoints.prometheusUrl, status.endpoints.natsMonitoringUrl].map((u) => Number(new URL(u).port)),
    ];
    expect(pids.length).toBeGreaterThanOrEqual(6); // daemon, nats, prometheus, haproxy, db pod, gateway pod
    expect(pids.every(isRunning)).toBe(true);
    const { runDir } = status;
    const { stateDir } = cluster;

    await cluster.close();

    expect(pids.filter(isRunning), 'processes still running').toEqual([]);
    expect(processesWithEnv(RUN_MARKER_ENV, runDir), 'processes of the run found by their marker').toEqual([]);
    const listening = (await Promise.all(ports.map(async (p) => ((await isListening(p, 300)) ? p : 0)))).filter(Boolean);
    expect(listening, 'ports still listening').toEqual([]);
    expect(existsSync(runDir), `run dir ${runDir}`).toBe(false);
    expect(existsSync(stateDir), `state dir ${stateDir}`).toBe(false);
  });
});
