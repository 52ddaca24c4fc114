import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollBound } from '../../lib/poll.ts';
import {
  Autoscaler, JetStreamLag, MetricReadError, PrometheusQuery, type ScaleTarget, TriggerMetricSource, decisionBounds,
} from '../../cluster/autoscaler/index.ts';
import type { PrometheusQueryOptions } from '../../cluster/autoscaler/metric-sources.ts';
import type { ScaledObjectSpec } from '../../cluster/manifests.ts';
import { WORKER_SMALL } from '../../lib/names.ts';
import { JOBS_STREAM, ensureJobsConsumer, ensureStreams, jobSubject } from '../../reference-services/shared/nats.ts';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { type Child, binary, spawnChild, whenHealthy } from '../../cluster/local/process/child.ts';
import { freePort } from '../helpers/ports.ts';
import { scratchDir } from '../helpers/processes.ts';

// The metric readers against the real servers they read in a cluster: nats-server's /jsz
// (what KEDA's nats-jetstream scaler reads) and Prometheus's instant-query API (what KEDA's
// prometheus scaler reads).

const scratch = scratchDir('autoscaler-metrics');
const POLL_BOUND_MS = 15_000;
afterAll(() => scratch.cleanup());

describe('JetStreamLag against nats-server', () => {
  let nats: LocalNatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let monitoringUrl: string;
  const workers = { account: '$G', stream: JOBS_STREAM, consumer: 'workers' };

  beforeAll(async () => {
    nats = await LocalNatsCluster.start(scratch.dir);
    monitoringUrl = nats.monitoringUrl;
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  const lag = (where = workers) => new JetStreamLag(monitoringUrl).read(where);

  it('reads no stream as 0, as a KEDA scaler that never found it does', async () => {
    expect(await lag()).toEqual({ lag: 0, from: 'no-stream' });
  });

  // KEDA pkg/scalers/nats_jetstream_scaler.go getMaxMsgLag: lag = num_pending + num_ack_pending.
  it('counts pending and unacknowledged messages of the consumer', async () => {
    await ensureStreams(jsm, [JOBS_STREAM]);
    await ensureJobsConsumer(jsm, 'workers', jobSubject('small'), { ackWaitMs: 60_000 });
    for (let i = 0; i < 7; i++) await js.publish(jobSubject('small'), `job-${i}`);
    await expect.poll(() => lag(), pollBound('lag 7', POLL_BOUND_MS)).toEqual({ lag: 7, from: 'consumer' });

    const consumer = await js.consumers.get(JOBS_STREAM, 'workers');
    const taken = [];
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 2_000 })) {
      taken.push(m);
      if (taken.length === 3) break;
    }
    expect(taken).toHaveLength(3);
    // Taken but not acknowledged: still lag (4 pending + 3 ack-pending).
    await expect.poll(async () => (await jsm.consumers.info(JOBS_STREAM, 'workers')).num_ack_pending, pollBound('3 jobs pending acknowledgement', POLL_BOUND_MS)).toBe(3);
    expect(await lag()).toEqual({ lag: 7, from: 'consumer' });

    for (const m of taken.slice(0, 2)) await m.ackAck();
    await expect.poll(() => lag(), pollBound('lag 5 after two acks', POLL_BOUND_MS)).toEqual({ lag: 5, from: 'consumer' });
  });

  // Same function: without a consumer of that name it returns the stream's state.last_seq.
  it('falls back to the stream last_seq when the consumer is missing', async () => {
    const info = await jsm.streams.info(JOBS_STREAM);
    expect(info.state.last_seq).toBe(7);
    expect(await lag({ ...workers, consumer: 'nobody' })).toEqual({ lag: 7, from: 'stream-last-seq' });
    await jsm.consumers.delete(JOBS_STREAM, 'workers');
    // Two jobs were acked and removed from the work queue, yet the fallback still says 7.
    expect(await lag()).toEqual({ lag: 7, from: 'stream-last-seq' });
  });

  it('fails with a MetricReadError that carries the cause when the endpoint is down', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const error = await new JetStreamLag(closed, { timeoutMs: 2_000 }).read(workers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricReadError);
    expect((error as MetricReadError).source).toBe('nats-jetstream');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('drives the autoscaler: queued jobs start workers within the polling bounds', async () => {
    await ensureJobsConsumer(jsm, 'workers', jobSubject('small'), { ackWaitMs: 60_000 });
    for (let i = 0; i < 11; i++) await js.publish(jobSubject('small'), `more-${i}`);
    // 5 left in the queue + 11 new = 16 pending: ceil(16 / 5) = 4 workers.
    const so: ScaledObjectSpec = {
      name: WORKER_SMALL, target: { kind: 'Deployment', name: WORKER_SMALL }, minReplicaCount: 0, maxReplicaCount: 8,
      pollingIntervalSeconds: 1, cooldownPeriodSeconds: 10, scaleDownStabilizationSeconds: 5, scaleUpStabilizationSeconds: undefined,
      triggers: [{ type: 'nats-jetstream', ...workers, lagThreshold: 5, activationLagThreshold: 0 }],
    };
    let replicas = 0;
    const target: ScaleTarget = { getReplicas: async () => replicas, scale: async (_w, n) => { replicas = n; } };
    const autoscaler = new Autoscaler({ scaledObjects: [so], target, metrics: new TriggerMetricSource({ prometheusUrl: 'http://127.0.0.1:1', natsMonitoringUrl: monitoringUrl }) });
    const bounds = decisionBounds(autoscaler.configs[0]!);
    const bound = bounds.activationMs + bounds.scaleUpMs + 2_000;
    autoscaler.start();
    try {
      await expect.poll(() => replicas, pollBound('4 workers', bound)).toBe(4);
      expect(autoscaler.getEvents({ scaleOnly: true }).map((e) => [e.replicasBefore, e.replicasAfter, e.metricValue])).toEqual([[0, 1, 16], [1, 4, 16]]);
    } finally {
      await autoscaler.stop();
    }
  });
});

describe('PrometheusQuery against prometheus', () => {
  let exporter: Server;
  let prometheus: Child;
  let prometheusUrl: string;
  const gauges = new Map<string, number>([['db-0', 3], ['db-1', 2]]);

  beforeAll(async () => {
    // A pod of our own: percolate_active_tenants per pod, as db-nodes export it.
    exporter = createServer((req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end([...gauges].map(([pod, v]) => `percolate_active_tenants{tier="small",pod="${pod}"} ${v}\n`).join(''));
    }).listen(0, '127.0.0.1');
    await once(exporter, 'listening');
    const exporterPort = (exporter.address() as { port: number }).port;
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const config = join(scratch.dir, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: db-node',
      `    static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }]`,
    ].join('\n'));
    prometheus = spawnChild('prometheus', binary('prometheus'), [
      `--config.file=${config}`, `--storage.tsdb.path=${join(scratch.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], process.env, join(scratch.dir, 'prometheus.log'), [port]);
    await whenHealthy(prometheus, 'prometheus ready', 15_000, async () => (await fetch(`${prometheusUrl}/-/ready`)).ok);
  });

  afterAll(async () => {
    await prometheus?.stop(10_000);
    exporter?.close();
  });

  const query = (q: string, options?: PrometheusQueryOptions) => new PrometheusQuery(prometheusUrl, options).query(q);

  it('reads a summed instant vector, and follows the gauge', async () => {
    const q = 'sum(percolate_active_tenants{tier="small"})';
    await expect.poll(() => query(q).catch(() => -1), pollBound('5 tenants', POLL_BOUND_MS)).toBe(5);
    gauges.set('db-0', 0).set('db-1', 4);
    await expect.poll(() => query(q), pollBound('4 tenants', POLL_BOUND_MS)).toBe(4);
    expect(await query(`scalar(${q})`)).toBe(4);
    expect(await new TriggerMetricSource({ prometheusUrl, natsMonitoringUrl: 'http://127.0.0.1:1' }).read({ type: 'prometheus', query: q, threshold: 2, activationThreshold: 0 })).toBe(4);
  });

  // https://keda.sh/docs/2.15/scalers/prometheus/ ignoreNullValues (default true): an empty
  // result reads as 0; with false, a lost target is an error. KEDA's scaler also takes NaN and
  // ±Inf as 0 under ignoreNullValues.
  it('reads an empty result and NaN as 0 by default, and fails on them without ignoreNullValues', async () => {
    expect(await query('sum(percolate_active_tenants{tier="large"})')).toBe(0);
    expect(await query('vector(0) / 0')).toBe(0);
    await expect(query('sum(percolate_active_tenants{tier="large"})', { ignoreNullValues: false })).rejects.toThrow(/the result is empty/);
    await expect(query('vector(1) / 0', { ignoreNullValues: false })).rejects.toThrow(/returned \+Inf/);
  });

  // KEDA's prometheus scaler: a query returning more than one element is an error.
  it('refuses a query that is not aggregated to one series, and passes on PromQL errors', async () => {
    await expect(query('percolate_active_tenants')).rejects.toThrow(/returned 2 series/);
    const error = await query('sum(').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricReadError);
    expect((error as Error).message).toMatch(/answered 400: .*parse error/);
  });
});
