import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { TenantClient, http } from '../../lib/http.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { deadlinesFor, loadProfile } from '../../lib/time.ts';
import { pollBound } from '../../lib/poll.ts';

const DB = DB_SMALL;

/**
 * The harness itself: no pod answers for another (pods own their ports), the cluster's own
 * parts are supervised like pods, and a tenant reads its writes through the load balancer
 * while the pool scales.
 */
describe('local cluster supervision', () => {
  let cluster: LocalClusterTarget;

  beforeAll(async () => {
    cluster = await new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).withWorkers(0).withGateways(0).start();
  }, 180_000);
  afterAll(async () => { await cluster?.close(); }, 60_000);

  const client = async (tenant: string) => new TenantClient(cluster.getLoadBalancerUrl(), tenant, await cluster.mintToken(tenant));
  const component = async (name: string) => (await cluster.status()).components.find((c) => c.name === name);

  /**
   * Writes entity versions in a loop over 20 ids per tenant; the last acknowledged value of
   * each id is remembered, to be read back, and every acknowledgement counted (the ids
   * repeat, so progress is the count, not how many ids have been seen).
   */
  function startWriters(tenants: TenantClient[]) {
    const acked = new Map<string, { tenant: TenantClient; value: number }>();
    let attempts = 0;
    let acks = 0;
    let stop = false;
    const loops = tenants.map(async (t, i) => {
      for (let n = 0; !stop; n += 1) {
        const id = `w${i}-${n % 20}`;
        attempts += 1;
        const res = await t.request('PUT', `/api/v1/entities/${id}`, { properties: { n } }).catch(() => undefined);
        if (res?.status === 200 || res?.status === 201) {
          acked.set(`${t.tenantId}/${id}`, { tenant: t, value: n });
          acks += 1;
        }
      }
    });
    return {
      acked,
      get attempts() { return attempts; },
      get acks() { return acks; },
      async stop() { stop = true; await Promise.all(loops); },
    };
  }

  async function expectAllAckedReadable(acked: Map<string, { tenant: TenantClient; value: number }>): Promise<void> {
    const lost: string[] = [];
    for (const [key, { tenant, value }] of acked) {
      const res = await tenant.request('GET', `/api/v1/entities/${key.split('/')[1]}`);
      const got = (res.body as { properties?: { n?: number } })?.properties?.n;
      // Later unacknowledged attempts may have landed too: the value is at least the acknowledged one.
      if (res.status !== 200 || typeof got !== 'number' || got < value) lost.push(`${key}: acked ${value}, read ${res.status} ${got}`);
    }
    expect(lost, `${lost.length} of ${acked.size} acknowledged writes not read back`).toEqual([]);
  }

  it('kill -9 of a NATS server under writers: status shows it down, it is restarted, nothing acknowledged is lost', async () => {
    const tenants = await Promise.all(['sup-a', 'sup-b', 'sup-c'].map(client));
    const writers = startWriters(tenants);
    await expect.poll(() => writers.acks, pollBound('writes acknowledged', 20_000)).toBeGreaterThan(10);
    const before = (await component('nats-1'))!;
    expect(before.state).toBe('up');
    process.kill(before.pid, 'SIGKILL');
    const seen = new Set<string>();
    await expect.poll(async () => {
      const c = await component('nats-1');
      if (c?.state) seen.add(c.state);
      return c?.state === 'up' && (c.restarts ?? 0) === (before.restarts ?? 0) + 1;
    }, { ...pollBound('nats-1 restarted and up', 30_000), interval: 20 }).toBe(true);
    expect([...seen], 'status showed the server down before it came back').toEqual(expect.arrayContaining(['up']));
    expect(seen.has('down') || seen.has('starting'), `states seen: ${[...seen].join(', ')}`).toBe(true);
    expect((await component('nats-1'))!.lastExit).toBe('killed by SIGKILL');
    const acksAfterRestart = writers.acks;
    await expect.poll(() => writers.acks, pollBound('writes acknowledged again', 20_000)).toBeGreaterThan(acksAfterRestart);
    await writers.stop();
    await expectAllAckedReadable(writers.acked);
  });

  it('kill -9 of HAProxy: restarted with every pod back in its backends; of Prometheus: restarted on its data', async () => {
    const tenant = await client('sup-lb');
    expect((await tenant.request('GET', '/api/v1/resources?limit=1')).status).toBe(200);
    for (const name of ['haproxy', 'prometheus']) {
      const before = (await component(name))!;
      expect(before.state, name).toBe('up');
      process.kill(before.pid, 'SIGKILL');
      await expect.poll(async () => {
        const c = await component(name);
        return c?.state === 'up' && c.restarts === (before.restarts ?? 0) + 1 && c.pid !== before.pid;
      }, pollBound(`${name} restarted`, 30_000)).toBe(true);
    }
    // The restarted HAProxy routes to the pod again (replayed through its runtime API).
    await expect.poll(async () => (await tenant.request('GET', '/api/v1/resources?limit=1')).servedBy, pollBound('routed to the db pod', 10_000)).toBe(`${DB}-0`);
    await expect.poll(async () => (await http(`${cluster.getPrometheusUrl()}/-/ready`)).status, pollBound('Prometheus ready', 10_000)).toBe(200);
  });

  it('bursts of pods starting and stopping: every response comes from the pod it names, and reads see their writes', async () => {
    const tenants = await Promise.all(Array.from({ length: 12 }, (_, i) => client(`burst-${i}`)));
    const wrong: string[] = [];
    let requests = 0;
    let stop = false;
    // Read-your-writes through the load balancer while tenants move between pods.
    let transportErrors = 0;
    const traffic = tenants.map(async (t) => {
      for (let n = 0; !stop; n += 1) {
        // A keep-alive connection the proxy closed is retried, as any HTTP client does; what
        // is judged is who answered and what was read.
        const put = await t.request('PUT', '/api/v1/entities/ryw', { properties: { n } }).catch(() => undefined);
        if (!put) { transportErrors += 1; continue; }
        requests += 1;
        if (!new RegExp(`^${DB}-\\d+$`).test(put.servedBy ?? '')) wrong.push(`PUT answered by ${put.servedBy} (${put.status})`);
        if (put.status !== 200 && put.status !== 201) { wrong.push(`PUT ${t.tenantId} ${put.status} ${put.text.slice(0, 120)}`); continue; }
        const get = await t.request('GET', '/api/v1/entities/ryw').catch(() => undefined);
        if (!get) { transportErrors += 1; continue; }
        requests += 1;
        const seen = (get.body as { properties?: { n?: number } })?.properties?.n;
        if (get.status !== 200 || seen !== n) wrong.push(`${t.tenantId}: wrote ${n}, read ${get.status} ${seen} from ${get.servedBy}`);
      }
    });
    /** Every pod's address answers as that pod, whatever else started or stopped meanwhile. */
    const checkIdentities = async () => {
      for (const pod of await cluster.listPods()) {
        if (!pod.ready || pod.terminating) continue;
        const res = await http(`http://${pod.address}/health`).catch(() => undefined);
        if (res && res.servedBy !== pod.name) wrong.push(`${pod.address} is ${pod.name} but answered as ${res.servedBy}`);
      }
    };
    const cycles = Number(process.env.BURST_CYCLES ?? 4);
    // Five pods start at once on two cores: a few pod start-ups' worth.
    const readyMs = 3 * deadlinesFor(loadProfile('fast')).podReadyMs;
    try {
      for (let cycle = 0; cycle < cycles; cycle += 1) {
        await cluster.scale(DB, 5);
        await cluster.scale(WORKER_SMALL, 4);
        await cluster.waitForReplicasReady(DB, 5, { timeoutMs: readyMs });
        await cluster.waitForReplicasReady(WORKER_SMALL, 4, { timeoutMs: readyMs });
        await checkIdentities();
        await cluster.scale(DB, 1);
        await cluster.scale(WORKER_SMALL, 0);
        await cluster.waitForReplicasReady(DB, 1, { timeoutMs: readyMs });
        await cluster.waitForReplicasReady(WORKER_SMALL, 0, { timeoutMs: readyMs });
        await checkIdentities();
      }
    } finally {
      stop = true;
      await Promise.all(traffic);
    }
    console.log(`burst: ${cycles} cycles, ${requests} requests, ${transportErrors} connections closed under a request, ${wrong.length} wrong`);
    expect(requests).toBeGreaterThan(100);
    expect(wrong.slice(0, 20), `${wrong.length} wrong answers in ${requests} requests over ${cycles} cycles`).toEqual([]);
  }, 20 * 60_000);
});
