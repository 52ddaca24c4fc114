import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager,
  type ConsumerUpdateConfig, type JetStreamClient, type JetStreamManager, type PubAck, type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from './logger.ts';
import { TIERS } from './tenant-id.ts';

/** Names shared by every service: the streams, buckets and subjects of the architecture. */
export const SYNC_STREAM = 'PERCOLATE_SYNC';
export const SYNC_SUBJECT_PREFIX = 'percolate.sync';
export const JOBS_STREAM = 'PERCOLATE_JOBS';
export const JOBS_SUBJECT_PREFIX = 'percolate.jobs';
export const DLQ_STREAM = 'PERCOLATE_DLQ';
export const DLQ_SUBJECT = 'percolate.dlq.jobs';
export const KEYS_BUCKET = 'percolate_tenant_keys';
export const JOB_STATE_BUCKET = 'percolate_job_state';
export const UPLOADS_BUCKET = 'percolate_uploads';
/** Snapshots of the database's replicated state: where a starting db-node begins instead of the stream's first message. */
export const SNAPSHOT_BUCKET = 'percolate_sync_snapshots';

export const syncSubject = (tenantId: string) => `${SYNC_SUBJECT_PREFIX}.${tenantId}`;
export const jobSubject = (tier: string) => `${JOBS_SUBJECT_PREFIX}.${tier}`;
/** A tier's durable consumer on the job stream: its workers pull from it, its ScaledObject reads its lag. */
export const jobsConsumer = (tier: string) => `workers-${tier}`;
/** How long a worker may hold a job before JetStream hands it to another (the consumer's ack_wait). */
export const JOBS_ACK_WAIT_MS = 30_000;

const DAY_NS = 24 * 60 * 60 * 1e9;

/**
 * Copies JetStream keeps of every stream and bucket: 3 on the 3-server cluster of the
 * manifests (seed 002 replicates 3×), so losing one server loses nothing and interrupts
 * nothing; 1 against a single server.
 */
export function streamReplicas(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.NATS_STREAM_REPLICAS;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new Error(`environment variable NATS_STREAM_REPLICAS must be an integer from 1 to 5, got "${raw}"`);
  return n;
}

const STREAMS: Record<string, Partial<StreamConfig>> = {
  // Replication log: every node replays it at start and applies it for ever after.
  [SYNC_STREAM]: {
    subjects: [`${SYNC_SUBJECT_PREFIX}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits,
    max_age: DAY_NS, duplicate_window: 120e9,
  },
  // Work queue: a job is removed once a worker acks it.
  [JOBS_STREAM]: {
    subjects: [`${JOBS_SUBJECT_PREFIX}.>`], storage: StorageType.File, retention: RetentionPolicy.Workqueue,
    duplicate_window: 120e9,
  },
  [DLQ_STREAM]: { subjects: [DLQ_SUBJECT], storage: StorageType.File, retention: RetentionPolicy.Limits, max_age: 7 * DAY_NS },
};

export interface NatsHandles {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export async function connectNats(url: string, name: string, logger: Logger): Promise<NatsHandles> {
  const nc = await connect({
    // A Service address, or a comma-separated list of servers (a client outside the mesh).
    servers: url.split(',').map((s) => s.trim()).filter(Boolean), name,
    // Pods start before or while NATS does; keep trying rather than crash-looping.
    waitOnFirstConnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') logger.warn({ nats: status.type }, 'nats connection changed');
    }
  })();
  const jsm = await jetstreamManager(nc);
  return { nc, js: jetstream(nc), jsm };
}

/**
 * How long a write may wait for JetStream to store it (`PUBLISH_TIMEOUT_MS`): a stream leader
 * re-elected after its server died, with a round to spare. nats-server's Raft followers wait
 * 4–9 s without a leader before they campaign (0.1–0.8 s); a split vote takes a second round.
 * Measured here, a publish to an R3 stream whose leader was SIGKILLed was stored again after
 * 4.1–5.6 s, past the 5 s this bound once was. A write still waiting when quorum is gone is
 * refused at this bound, never acknowledged.
 */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 20_000;

/**
 * One attempt's wait for JetStream's answer. A publish sent as its stream's leader dies is
 * lost with it and never answered: an attempt that waited for the whole bound would fail a
 * write the next attempt stores (seen in T6.4: writes refused after 20 s while others were
 * stored all along). Far above a healthy publish's round trip (milliseconds, a second under
 * load); a late answer to an attempt given up on is harmless, the retry is its duplicate.
 */
export const PUBLISH_ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * Publishes with a message id and keeps trying until JetStream acknowledges or `timeoutMs`
 * has passed. When the server holding a stream's leader dies, its peers take a few seconds
 * to elect another; meanwhile a publish gets "no responders" at once, or waits on a server
 * that is gone. The same `msgID` inside the stream's duplicate window makes a retry of a
 * publish that was in fact stored a duplicate, answered with the first one's sequence, never
 * a second copy. The last error is thrown, as the cause, when the time is up.
 */
export async function publishDurably(js: JetStreamClient, subject: string, data: string, o: { msgID: string; timeoutMs: number; attemptTimeoutMs?: number }): Promise<PubAck> {
  const deadline = Date.now() + o.timeoutMs;
  const attemptMs = o.attemptTimeoutMs ?? PUBLISH_ATTEMPT_TIMEOUT_MS;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await js.publish(subject, data, { msgID: o.msgID, timeout: Math.max(1, Math.min(attemptMs, deadline - Date.now())) });
    } catch (err) {
      const pause = Math.min(50 * 2 ** attempt, 500);
      if (Date.now() + pause >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/** Creates the named streams when missing; a stream that exists is left as it is. */
export async function ensureStreams(jsm: JetStreamManager, names: string[]): Promise<void> {
  for (const name of names) {
    const config = STREAMS[name];
    if (!config) throw new Error(`unknown stream ${name}`);
    try {
      await jsm.streams.info(name);
    } catch {
      try {
        await jsm.streams.add({ name, num_replicas: streamReplicas(), ...config });
      } catch (err) {
        // Another pod created it between our look and our add.
        await jsm.streams.info(name).catch(() => { throw err; });
      }
    }
  }
}

/**
 * A tier's durable consumer. It has no `max_deliver` of its own: the worker counts
 * deliveries and dead-letters a job after its last try. A server-side limit would stop
 * redelivering exactly when the dead-letter publish of that last try failed (its nak would
 * never come back), leaving the job neither done nor dead-lettered and the queue's lag
 * above zero for ever.
 *
 * A worker passes its own ack wait, and an existing consumer is brought to it. The gateway
 * creates every tier's consumer before it queues a job, passing none: a tier whose
 * workers never ran must still have a consumer, or KEDA's scaler reads the whole stream's
 * last sequence as that tier's lag (its fallback for a missing consumer) and wakes
 * workers for other tiers' jobs.
 */
export async function ensureJobsConsumer(jsm: JetStreamManager, durable: string, filter: string, opts: { ackWaitMs?: number } = {}) {
  const ackWaitNs = (opts.ackWaitMs ?? JOBS_ACK_WAIT_MS) * 1e6;
  const existing = await jsm.consumers.info(JOBS_STREAM, durable).catch(() => undefined);
  if (existing) {
    const update: Partial<ConsumerUpdateConfig> = {};
    // A consumer made by an older worker, with a server-side limit: lift it.
    if ((existing.config.max_deliver ?? -1) !== -1) update.max_deliver = -1;
    if (opts.ackWaitMs !== undefined && existing.config.ack_wait !== ackWaitNs) update.ack_wait = ackWaitNs;
    return Object.keys(update).length > 0 ? jsm.consumers.update(JOBS_STREAM, durable, update) : existing;
  }
  try {
    return await jsm.consumers.add(JOBS_STREAM, {
      durable_name: durable, filter_subject: filter, ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All, ack_wait: ackWaitNs, max_deliver: -1,
    });
  } catch (err) {
    // Another pod created it between our look and our add.
    const made = await jsm.consumers.info(JOBS_STREAM, durable).catch(() => undefined);
    if (made) return made;
    // A work queue gives each subject to one consumer: name the one that holds this filter.
    const holders: string[] = [];
    for await (const c of jsm.consumers.list(JOBS_STREAM)) {
      if (subjectsOverlap(c.config.filter_subject ?? '>', filter)) holders.push(`${c.name} (${c.config.filter_subject ?? 'every subject'})`);
    }
    if (holders.length === 0) throw err;
    throw new Error(
      `cannot create the job consumer ${durable} on ${filter}: on the work-queue stream ${JOBS_STREAM} that subject is already taken by ${holders.join(', ')}; ` +
      `delete it (nats consumer rm ${JOBS_STREAM} <name>) once its jobs are done`, { cause: err });
  }
}

/** Every tier's consumer, created where missing. */
export async function ensureTierJobsConsumers(jsm: JetStreamManager): Promise<void> {
  for (const tier of TIERS) await ensureJobsConsumer(jsm, jobsConsumer(tier), jobSubject(tier));
}

/** Whether two NATS subject filters can match one subject (`*` one token, `>` the rest). */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    if (x[i] === '>' || y[i] === '>') return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return true;
}

export async function openKv(nc: NatsConnection, bucket: string, opts: { timeoutMs?: number; ttlMs?: number } = {}): Promise<KV> {
  const { timeoutMs = 5000, ttlMs } = opts;
  // The KV's requests take their timeout from the JetStream client it is built on.
  return new Kvm(jetstream(nc, { timeout: timeoutMs })).create(bucket, {
    history: 1, storage: StorageType.File, replicas: streamReplicas(), timeout: timeoutMs, ...(ttlMs ? { ttl: ttlMs } : {}),
  });
}

/** A job's state is kept this long after its last change (JetStream's `max_age` on the bucket). */
export const JOB_STATE_TTL_SECONDS = 7 * 24 * 3600;

export function jobStateTtlSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.JOB_STATE_TTL_SECONDS;
  if (raw === undefined || raw === '') return JOB_STATE_TTL_SECONDS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`environment variable JOB_STATE_TTL_SECONDS must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * The job-state bucket, made with the TTL by whichever pod opens it first. Without one,
 * every job ever submitted would keep its state for ever. A bucket that exists is bound
 * as it is; a pod configured with another TTL says so in its log.
 */
export async function openJobStateKv(nc: NatsConnection, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<KV> {
  const configuredSeconds = jobStateTtlSeconds(env);
  const kv = await openKv(nc, JOB_STATE_BUCKET, { ttlMs: configuredSeconds * 1000 });
  const bucketSeconds = Math.round((await kv.status()).ttl / 1000);
  if (bucketSeconds !== configuredSeconds) {
    logger.warn({ bucket: JOB_STATE_BUCKET, bucketSeconds, configuredSeconds }, 'job-state bucket exists with another TTL: keeping the bucket\'s');
  }
  return kv;
}
