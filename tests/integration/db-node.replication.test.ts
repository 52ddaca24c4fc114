import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollBound } from '../../lib/poll.ts';
import { SYNC_STREAM, syncSubject } from '../../reference-services/shared/nats.ts';
import { ObjectSnapshotStore } from '../../reference-services/db-node/snapshots.ts';
import { sampleValue, scrape } from '../../bench/prom-text.ts';
import { DbTestCluster } from '../helpers/db-cluster.ts';
import { type TenantClient, http, tenantHeaders } from '../../lib/http.ts';

// Two db-nodes on one JetStream: writes acknowledged only once stored in the sync
// stream, applied by every node, last-write-wins, and nothing acknowledged is lost
// when a node is killed.
let cluster: DbTestCluster;

beforeAll(async () => {
  const env = { PUBLISH_TIMEOUT_MS: '1000' };
  cluster = await DbTestCluster.start('db-repl', [{ name: 'db-r-0', env }, { name: 'db-r-1', env }]);
});
afterAll(async () => { await cluster?.stop(); });

async function resourceIds(client: TenantClient, expectAtLeast: number): Promise<Set<string>> {
  // The list endpoint pages at 100; the tenant's stored ids come from the raw view.
  const admin = await cluster.adminToken();
  const res = await http(`${client.baseUrl}/admin/tenants/${client.tenantId}/raw`, { headers: tenantHeaders({ token: admin }) });
  const ids = new Set<string>((res.body.records as Array<{ key: string }>).filter((r) => r.key.startsWith('r!')).map((r) => r.key.slice(2)));
  expect(ids.size).toBeGreaterThanOrEqual(expectAtLeast);
  return ids;
}

describe('replication', () => {
  it('a write acknowledged on one node is readable on the other', async () => {
    const on0 = await cluster.client('tenant-r1', 'db-r-0');
    const on1 = on0.at(cluster.node('db-r-1').url);
    const created = await on0.request('POST', '/api/v1/resources', { title: 'replicated', content: 'hello' });
    expect(created.status).toBe(201);
    await expect.poll(async () => (await on1.request('GET', `/api/v1/resources/${created.body.id}`)).status,
      pollBound('write visible on the peer', 2000)).toBe(200);
    const metrics = await http(`${cluster.node('db-r-1').url}/metrics`);
    expect(Number(/percolate_replication_lag_seconds_count\S* (\d+)/.exec(metrics.text)?.[1] ?? 0)).toBeGreaterThan(0);
  });

  it('concurrent entity writes on two nodes merge per property and converge to the same state', async () => {
    const on0 = await cluster.client('tenant-lww', 'db-r-0');
    const on1 = on0.at(cluster.node('db-r-1').url);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i += 1) {
      writes.push(on0.request('PUT', '/api/v1/entities/acct', { properties: { color: `red-${i}`, size: i } }));
      writes.push(on1.request('PUT', '/api/v1/entities/acct', { properties: { color: `blue-${i}`, weight: i } }));
    }
    const results = (await Promise.all(writes)) as Array<{ status: number }>;
    expect(results.every((r) => r.status === 200)).toBe(true);
    for (const c of [on0, on1]) expect((await c.request('POST', '/api/v1/sync', { timeoutMs: 5000 })).body.caughtUp).toBe(true);
    const [e0, e1] = await Promise.all([on0.request('GET', '/api/v1/entities/acct'), on1.request('GET', '/api/v1/entities/acct')]);
    expect(e0.body.properties).toEqual(e1.body.properties);
    // Per-property merge: each node's own property survives the other node's writes.
    expect(e0.body.properties).toMatchObject({ size: 19, weight: 19 });
  });

  it('a node is not ready until it has applied the stream up to where it stood at start', async () => {
    const writer = await cluster.client('tenant-catchup', 'db-r-0');
    // A long log, written straight into the stream so that its replay takes a while:
    // a node that said "ready" before replaying it would be caught reading too early.
    const total = 20_000;
    const nc = await connect({ servers: cluster.nats.url });
    try {
      const js = jetstream(nc);
      const node = 'db-r-elsewhere';
      const base = Date.now() * 1000;
      for (let batch = 0; batch < total; batch += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, j) => {
          const i = batch + j;
          const message = { v: 1, op: 'resource.put', tenant: writer.tenantId, node, ts: base + i,
            entries: [{ key: `r!w${i}`, ts: base + i, node, kv: 1, ct: Buffer.from(`opaque ${i}`).toString('base64') }] };
          return js.publish(syncSubject(writer.tenantId), JSON.stringify(message));
        }));
      }
    } finally {
      await nc.close();
    }
    const late = await cluster.addNode('db-r-late', {}, { waitReady: false });
    try {
      await late.waitReady(20_000);
      // Read at once, no polling: readiness itself must mean "caught up".
      const ids = await resourceIds(writer.at(late.url), total);
      for (let i = 0; i < total; i += 1) expect(ids.has(`w${i}`), `w${i} on the late node when it became ready`).toBe(true);
    } finally {
      await late.stop('SIGKILL');
      cluster.nodes.delete('db-r-late');
    }
  });

  it('a node that starts after a snapshot applies only the stream after it, and holds every write when ready', async () => {
    const writer = await cluster.client('tenant-snapshot', 'db-r-0');
    // A node that snapshots as soon as 100 messages are new, looking every 200 ms.
    const snapper = await cluster.addNode('db-r-snapper', { SNAPSHOT_INTERVAL_MS: '200', SNAPSHOT_MIN_MESSAGES: '100' });
    const nc = await connect({ servers: cluster.nats.url });
    let late: Awaited<ReturnType<typeof cluster.addNode>> | undefined;
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const publish = async (from: number, count: number) => {
        const base = Date.now() * 1000;
        await Promise.all(Array.from({ length: count }, (_, j) => {
          const i = from + j;
          const message = { v: 1, op: 'resource.put', tenant: writer.tenantId, node: 'db-r-elsewhere', ts: base + j,
            entries: [{ key: `r!s${i}`, ts: base + j, node: 'db-r-elsewhere', kv: 1, ct: Buffer.from(`opaque ${i}`).toString('base64') }] };
          return js.publish(syncSubject(writer.tenantId), JSON.stringify(message));
        }));
      };
      await publish(0, 2_000);
      const beforeSnapshot = (await jsm.streams.info(SYNC_STREAM)).state.last_seq;
      const snapshots = await ObjectSnapshotStore.open(nc);
      await expect.poll(async () => (await snapshots.latestSeq()) ?? 0, pollBound(`a snapshot at or past sequence ${beforeSnapshot}`, 10_000)).toBeGreaterThanOrEqual(beforeSnapshot);
      const snapshotSeq = (await snapshots.latestSeq())!;
      // Writes after the snapshot: the late node takes these from the stream.
      await publish(2_000, 50);
      const lastSeq = (await jsm.streams.info(SYNC_STREAM)).state.last_seq;
      late = await cluster.addNode('db-r-late-snap', {}, { waitReady: false });
      await late.waitReady(20_000);
      const ids = await resourceIds(writer.at(late.url), 2_050);
      for (let i = 0; i < 2_050; i += 1) expect(ids.has(`s${i}`), `s${i} on the late node when it became ready`).toBe(true);
      const metrics = await scrape(`${late.url}/metrics`);
      expect(sampleValue(metrics, 'percolate_sync_snapshot_start_sequence'), 'the snapshot it started from').toBe(snapshotSeq);
      expect(sampleValue(metrics, 'percolate_sync_stream_messages_applied_total'), 'stream messages applied: only those after the snapshot').toBe(lastSeq - snapshotSeq);
    } finally {
      await nc.close();
      await late?.stop('SIGKILL');
      await snapper.stop('SIGKILL');
      cluster.nodes.delete('db-r-late-snap');
      cluster.nodes.delete('db-r-snapper');
    }
  });

  it('kill -9 of a node while a writer runs loses no acknowledged write', async () => {
    const writer = await cluster.client('tenant-kill', 'db-r-0');
    const acknowledged: string[] = [];
    let attempt = 0;
    let killed = false;
    const killAfter = 150;
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (;;) {
        const id = `k${attempt++}`;
        let status = 0;
        try {
          status = (await writer.request('POST', '/api/v1/resources', { id, title: id, content: 'must survive' })).status;
        } catch {
          return; // connection refused or reset: the node is gone
        }
        if (status === 201) acknowledged.push(id);
        if (acknowledged.length >= killAfter && !killed) {
          killed = true;
          await cluster.node('db-r-0').stop('SIGKILL');
        }
        if (killed && status !== 201) return;
      }
    }));
    expect(acknowledged.length).toBeGreaterThanOrEqual(killAfter);

    const survivor = writer.at(cluster.node('db-r-1').url);
    expect((await survivor.request('POST', '/api/v1/sync', { timeoutMs: 5000 })).body.caughtUp).toBe(true);
    const onSurvivor = await resourceIds(survivor, acknowledged.length);
    expect(acknowledged.filter((id) => !onSurvivor.has(id)), 'acknowledged writes missing on the surviving node').toEqual([]);

    await cluster.node('db-r-0').restart();
    const onRestarted = await resourceIds(writer, acknowledged.length);
    expect(acknowledged.filter((id) => !onRestarted.has(id)), 'acknowledged writes missing on the restarted node').toEqual([]);
  });

  // Last in this file: it stops NATS.
  it('while JetStream cannot store a write, the write is refused with 503 and never acknowledged', async () => {
    const client = await cluster.client('tenant-outage', 'db-r-1');
    expect((await client.request('POST', '/api/v1/resources', { id: 'before-outage', title: 't', content: 'c' })).status).toBe(201);
    await cluster.nats.stopNode('nats-0');
    const refused = await client.request('POST', '/api/v1/resources', { id: 'during-outage', title: 't', content: 'c' });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.body).toMatchObject({ error: 'replication_unavailable' });
    expect(refused.headers.get('retry-after')).toBe('1');

    await cluster.nats.startNode('nats-0');
    await expect.poll(async () => (await client.request('POST', '/api/v1/resources', { id: 'after-outage', title: 't', content: 'c' })).status,
      pollBound('writes accepted again after NATS came back', 10_000)).toBe(201);
    const other = client.at(cluster.node('db-r-0').url);
    await expect.poll(async () => (await other.request('GET', '/api/v1/resources/after-outage')).status,
      pollBound('post-outage write replicated', 5_000)).toBe(200);
  });
});
