import { PrometheusClient, PrometheusError, type ScalarOptions } from '../../lib/prometheus.ts';
import type { ScaledObjectTrigger } from '../manifests.ts';

/**
 * The two scalers the manifests use, reading what KEDA's scalers read: Prometheus's HTTP
 * query API (KEDA pkg/scalers/prometheus_scaler.go), through the project's Prometheus client
 * (lib/prometheus.ts), and the NATS monitoring endpoint's /jsz (KEDA
 * pkg/scalers/nats_jetstream_scaler.go).
 */

/** What the controller needs from metrics: a number per trigger, or a rejection. */
export interface MetricSource {
  read(trigger: ScaledObjectTrigger): Promise<number>;
}

export class MetricReadError extends Error {
  constructor(readonly source: 'prometheus' | 'nats-jetstream', message: string, options?: { cause?: unknown }) {
    super(`${source}: ${message}`, options);
    this.name = 'MetricReadError';
  }
}

const DEFAULT_TIMEOUT_MS = 3_000; // KEDA's default global HTTP timeout

async function getJson(source: MetricReadError['source'], url: string, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new MetricReadError(source, `GET ${url} failed`, { cause: err });
  }
  const text = await res.text().catch((err: unknown) => { throw new MetricReadError(source, `reading the body of ${url} failed`, { cause: err }); });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (!res.ok) throw new MetricReadError(source, `GET ${url} answered ${res.status}: ${text.slice(0, 200)}`);
    throw new MetricReadError(source, `GET ${url} did not answer JSON`, { cause: err });
  }
  if (!res.ok) {
    const reason = (body as { error?: unknown })?.error;
    throw new MetricReadError(source, `GET ${url} answered ${res.status}${typeof reason === 'string' ? `: ${reason}` : ''}`);
  }
  return body;
}

export interface PrometheusQueryOptions extends ScalarOptions {
  timeoutMs?: number;
}

/**
 * Instant queries against a Prometheus server, with KEDA's rules for what counts as a value
 * (lib/prometheus.ts's `scalar`); any failure is a MetricReadError whose cause is the
 * client's PrometheusError.
 */
export class PrometheusQuery {
  private readonly client: PrometheusClient;
  private readonly ignoreNullValues: boolean;

  constructor(baseUrl: string, options: PrometheusQueryOptions = {}) {
    this.client = new PrometheusClient(baseUrl, { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    this.ignoreNullValues = options.ignoreNullValues ?? true;
  }

  async query(query: string): Promise<number> {
    try {
      return await this.client.scalar(query, { ignoreNullValues: this.ignoreNullValues });
    } catch (err) {
      if (err instanceof PrometheusError) throw new MetricReadError('prometheus', err.message, { cause: err });
      throw err;
    }
  }
}

export interface JetStreamLagReading {
  lag: number;
  /**
   * Where the lag came from: the consumer (num_pending + num_ack_pending), the stream's
   * last_seq when the consumer is missing (KEDA's fallback), or nothing when the stream is
   * missing (a KEDA scaler that never saw the stream reads 0).
   */
  from: 'consumer' | 'stream-last-seq' | 'no-stream';
}

interface JszAccount { name?: string; id?: string; stream_detail?: JszStream[] }
interface JszStream { name?: string; state?: { last_seq?: number }; consumer_detail?: JszConsumer[] }
interface JszConsumer { name?: string; num_pending?: number; num_ack_pending?: number; cluster?: { leader?: string } }

/** KEDA's getMaxMsgLag over a /jsz?consumers=true answer. */
export function lagFromJsz(body: unknown, where: { account: string; stream: string; consumer: string }): JetStreamLagReading {
  const accounts = (body as { account_details?: JszAccount[] })?.account_details;
  if (accounts !== undefined && !Array.isArray(accounts)) throw new MetricReadError('nats-jetstream', 'account_details is not a list');
  const account = (accounts ?? []).find((a) => a.name === where.account || a.id === where.account);
  const stream = account?.stream_detail?.find((s) => s.name === where.stream);
  if (!stream) return { lag: 0, from: 'no-stream' };
  const consumer = stream.consumer_detail?.find((c) => c.name === where.consumer);
  if (consumer) return { lag: (consumer.num_pending ?? 0) + (consumer.num_ack_pending ?? 0), from: 'consumer' };
  return { lag: stream.state?.last_seq ?? 0, from: 'stream-last-seq' };
}

/**
 * A JetStream consumer's lag from the NATS monitoring endpoint, as KEDA's nats-jetstream
 * scaler reads it. Given several servers (a comma-separated list: a NATS cluster), it reads
 * the consumer from the server that leads it, as KEDA does in a cluster: a follower's
 * figures can trail the leader's.
 */
export class JetStreamLag {
  private readonly urls: string[];
  private readonly names = new Map<string, string>();

  constructor(monitoringUrl: string, private readonly options: { timeoutMs?: number } = {}) {
    this.urls = monitoringUrl.split(',').map((u) => u.trim().replace(/\/$/, '')).filter(Boolean);
  }

  async read(where: { account: string; stream: string; consumer: string }): Promise<JetStreamLagReading> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const jsz = (url: string) => getJson('nats-jetstream', `${url}/jsz?acc=${encodeURIComponent(where.account)}&consumers=true&config=true`, timeoutMs);
    if (this.urls.length === 1) return lagFromJsz(await jsz(this.urls[0]!), where);
    const answers = await Promise.allSettled(this.urls.map(async (url) => ({ name: await this.serverName(url, timeoutMs), body: await jsz(url) })));
    const ok = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    if (ok.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    const leader = ok.find(({ name, body }) => consumerOf(body, where)?.cluster?.leader === name);
    return lagFromJsz((leader ?? ok[0]!).body, where);
  }

  private async serverName(url: string, timeoutMs: number): Promise<string> {
    let name = this.names.get(url);
    if (name === undefined) {
      name = String(((await getJson('nats-jetstream', `${url}/varz`, timeoutMs)) as { server_name?: string }).server_name ?? '');
      this.names.set(url, name);
    }
    return name;
  }
}

function consumerOf(body: unknown, where: { account: string; stream: string; consumer: string }): JszConsumer | undefined {
  const accounts = (body as { account_details?: JszAccount[] })?.account_details;
  const account = Array.isArray(accounts) ? accounts.find((a) => a.name === where.account || a.id === where.account) : undefined;
  return account?.stream_detail?.find((s) => s.name === where.stream)?.consumer_detail?.find((c) => c.name === where.consumer);
}

/**
 * Reads each trigger from the endpoints of the cluster at hand. The manifests name in-cluster
 * addresses (prometheus.percolate.svc, nats.percolate.svc); a target passes its own.
 */
export class TriggerMetricSource implements MetricSource {
  private readonly prometheus: PrometheusQuery;
  private readonly jetstream: JetStreamLag;

  constructor(endpoints: { prometheusUrl: string; natsMonitoringUrl: string }, options: PrometheusQueryOptions = {}) {
    this.prometheus = new PrometheusQuery(endpoints.prometheusUrl, options);
    this.jetstream = new JetStreamLag(endpoints.natsMonitoringUrl, { timeoutMs: options.timeoutMs });
  }

  async read(trigger: ScaledObjectTrigger): Promise<number> {
    if (trigger.type === 'prometheus') return this.prometheus.query(trigger.query);
    return (await this.jetstream.read(trigger)).lag;
  }
}
