import { Readable } from 'node:stream';
import type { ConsumerInfo, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { type JobMessage, type JobState, newJobId, objectNameFor, readJobState } from '../../reference-services/shared/jobs.ts';
import {
  DLQ_STREAM, JOBS_STREAM, UPLOADS_BUCKET, connectNats, ensureStreams, ensureTierJobsConsumers, jobSubject, jobsConsumer, openJobStateKv,
} from '../../reference-services/shared/nats.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';
import { type UploadStore, openUploadStore } from '../../reference-services/shared/upload-store.ts';
import { createLogger } from '../../reference-services/shared/logger.ts';

export interface DeadLetter {
  job: JobMessage | null;
  error: string;
  deliveries: number;
}

/** What a count of messages looks like across the job queue's moving parts, for "nothing half-written" checks. */
export interface QueueSnapshot {
  jobMessages: number;
  jobStates: number;
  uploadStreamMessages: number;
  uploads: string[];
}

/**
 * A test's own view of the job queue through JetStream: submit jobs the way the gateway
 * does, and read back streams, consumer, job states and stored uploads.
 */
export class JobQueue {
  private constructor(readonly nc: NatsConnection, readonly js: JetStreamClient, readonly jsm: JetStreamManager, readonly states: KV, readonly store: UploadStore) {}

  /**
   * `tierConsumers` (default true) makes every tier's consumer, as the gateway does before its
   * first job, so each tier's lag is its own; false where a gateway runs and must be seen doing it.
   */
  static async connect(natsUrl: string, opts: { uploadDir?: string; tierConsumers?: boolean } = {}): Promise<JobQueue> {
    const logger = createLogger('test', 'job-queue');
    const { nc, js, jsm } = await connectNats(natsUrl, 'test-job-queue', logger);
    await ensureStreams(jsm, [JOBS_STREAM, DLQ_STREAM]);
    if (opts.tierConsumers ?? true) await ensureTierJobsConsumers(jsm);
    return new JobQueue(nc, js, jsm, await openJobStateKv(nc, logger), await openUploadStore({ uploadDir: opts.uploadDir, nc }));
  }

  /** Stores an upload, records it queued and publishes its job: the gateway's steps, without HTTP. */
  async submit(opts: { tenantId: string; tier?: Tier; fileName: string; content: string | Buffer }): Promise<JobMessage> {
    const jobId = newJobId();
    const tier = opts.tier ?? 'small';
    const objectName = objectNameFor(opts.tenantId, jobId);
    const { size } = await this.store.put(objectName, Readable.from([Buffer.from(opts.content)]));
    const submittedAt = Date.now();
    const state: JobState = { jobId, tenantId: opts.tenantId, state: 'queued', fileName: opts.fileName, size, attempts: 0, updatedAt: submittedAt };
    await this.states.create(jobId, JSON.stringify(state));
    const job: JobMessage = { jobId, tenantId: opts.tenantId, tier, objectName, fileName: opts.fileName, size, submittedAt };
    await this.js.publish(jobSubject(tier), JSON.stringify(job), { msgID: jobId });
    return job;
  }

  state(jobId: string): Promise<JobState | undefined> {
    return readJobState(this.states, jobId);
  }

  consumer(name = jobsConsumer('small')): Promise<ConsumerInfo> {
    return this.jsm.consumers.info(JOBS_STREAM, name);
  }

  /** Every message still in the work queue, with its subject. */
  async jobMessages(): Promise<Array<{ subject: string; job: JobMessage }>> {
    return (await this.messages(JOBS_STREAM)).map((m) => ({ subject: m.subject, job: m.json<JobMessage>() }));
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.messages(DLQ_STREAM)).map((m) => m.json<DeadLetter>());
  }

  async snapshot(): Promise<QueueSnapshot> {
    const [jobs, states, uploadsStream, uploads] = await Promise.all([
      this.jsm.streams.info(JOBS_STREAM), this.states.status(),
      this.jsm.streams.info(`OBJ_${UPLOADS_BUCKET}`).catch(() => undefined), this.store.list(),
    ]);
    return {
      jobMessages: jobs.state.messages,
      jobStates: states.values,
      uploadStreamMessages: uploadsStream?.state.messages ?? 0,
      uploads: uploads.sort(),
    };
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  private async messages(stream: string) {
    const { state } = await this.jsm.streams.info(stream);
    const out = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq += 1) {
      const msg = await this.jsm.streams.getMessage(stream, { seq });
      if (msg) out.push(msg);
    }
    return out;
  }
}
