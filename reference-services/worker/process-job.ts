import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { type JobMessage, type JobState, parseJobMessage, readJobState, updateJobState } from '../shared/jobs.ts';
import type { Logger } from '../shared/logger.ts';
import { DLQ_SUBJECT } from '../shared/nats.ts';
import type { Secrets } from '../shared/secrets.ts';
import type { UploadStore } from '../shared/upload-store.ts';
import { type WorkerConfig, nakDelay } from './config.ts';
import type { WorkerMetrics } from './metrics.ts';
import { parseUpload, summarise } from './parse-upload.ts';
import { writeResult } from './result-writer.ts';

export interface ProcessorDeps {
  config: WorkerConfig;
  pod: string;
  js: JetStreamClient;
  jobState: KV;
  store: UploadStore;
  secrets: Secrets;
  metrics: WorkerMetrics;
  logger: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const finished = (s: JobState | undefined) => s?.state === 'done' || s?.state === 'failed';
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * One delivery of one job, start to ack. Exactly-once completion rests on three things:
 * the result id is fixed by the job (a rerun overwrites), the move to `done` is a
 * compare-and-set (only one delivery wins it and logs "job completed"), and the ack comes
 * last (a worker lost before it leaves the job to be redelivered, never dropped).
 */
export class JobProcessor {
  constructor(private readonly deps: ProcessorDeps) {}

  async handle(msg: JsMsg): Promise<void> {
    const { metrics } = this.deps;
    const endTimer = metrics.processing.startTimer();
    metrics.inFlight.inc();
    // Tell the server we are alive, so ack_wait only ever expires for a lost worker.
    const heartbeat = setInterval(() => msg.working(), Math.max(50, Math.floor(this.deps.config.ackWaitMs / 3)));
    try {
      await this.deliver(msg);
    } finally {
      clearInterval(heartbeat);
      metrics.inFlight.dec();
      endTimer();
    }
  }

  private async deliver(msg: JsMsg): Promise<void> {
    const { logger, metrics } = this.deps;
    let job: JobMessage;
    try {
      job = parseJobMessage(msg.data);
    } catch (err) {
      await this.deadLetter(msg, undefined, err, logger.child({ streamSeq: msg.info.streamSequence }));
      return;
    }
    const delivery = msg.info.deliveryCount;
    if (delivery === 1) {
      const seconds = Math.max(0, Date.now() - job.submittedAt) / 1000;
      metrics.delivery.observe(seconds);
      metrics.deliveryQuantiles.observe(seconds);
    }
    const log = logger.child({ jobId: job.jobId, tenantId: job.tenantId, delivery });
    if (delivery > this.deps.config.maxDeliver) {
      // Its tries are used up and the dead-lettering of the last one failed: only that is left to do.
      const last = await readJobState(this.deps.jobState, job.jobId).catch(() => undefined);
      await this.deadLetter(msg, job, new Error(last?.error ?? `no success in ${this.deps.config.maxDeliver} deliveries`), log);
      return;
    }
    try {
      if (finished(await readJobState(this.deps.jobState, job.jobId))) {
        msg.ack();
        metrics.processed.inc({ result: 'duplicate' });
        log.info('delivery of a finished job: acked without rerunning');
        return;
      }
      await this.setState(job, 'processing', delivery);
      log.info({ size: job.size }, 'job started');
      const started = Date.now();
      const content = await this.parse(job);
      const resultId = await writeResult(
        { dbUrl: this.deps.config.dbUrl, secrets: this.deps.secrets, timeoutMs: this.deps.config.dbTimeoutMs }, job, content,
      );
      const won = await this.setState(job, 'done', delivery, { resultId });
      if (won) {
        metrics.processed.inc({ result: 'done' });
        log.info({ resultId, ms: Date.now() - started }, 'job completed');
      } else {
        metrics.processed.inc({ result: 'duplicate' });
        log.info({ resultId }, 'job was completed by another delivery meanwhile');
      }
      msg.ack();
    } catch (err) {
      await this.failed(msg, job, err, log);
    }
  }

  /** Reads the upload and takes the profile's parse time in all (the reading counts towards it). */
  private async parse(job: JobMessage): Promise<string> {
    const [min, max] = this.deps.config.parseMs;
    const budget = min + Math.random() * (max - min);
    const started = Date.now();
    const parsed = await parseUpload(this.deps.store.read(job.objectName), this.deps.config.failMarker);
    await sleep(Math.max(0, budget - (Date.now() - started)));
    return summarise(job.fileName, parsed);
  }

  private async failed(msg: JsMsg, job: JobMessage, err: unknown, log: Logger): Promise<void> {
    const delivery = msg.info.deliveryCount;
    if (delivery >= this.deps.config.maxDeliver) {
      await this.deadLetter(msg, job, err, log);
      return;
    }
    const delayMs = nakDelay(this.deps.config, delivery);
    await this.setState(job, 'queued', delivery, { error: messageOf(err) }).catch(() => undefined);
    msg.nak(delayMs);
    this.deps.metrics.processed.inc({ result: 'retry' });
    log.warn({ err: messageOf(err), delayMs }, 'job failed: will retry');
  }

  /** Tries a job has had: its deliveries, less those after the last try that only dead-letter. */
  private attemptsOf(msg: JsMsg): number {
    return Math.min(msg.info.deliveryCount, this.deps.config.maxDeliver);
  }

  /** Gives up on a delivery: the job and its error go to the dead-letter subject, the message is terminated. */
  private async deadLetter(msg: JsMsg, job: JobMessage | undefined, err: unknown, log: Logger): Promise<void> {
    const record = {
      job: job ?? null,
      raw: job ? undefined : msg.string().slice(0, 4096),
      error: messageOf(err),
      deliveries: msg.info.deliveryCount,
      streamSequence: msg.info.streamSequence,
      worker: this.deps.pod,
      failedAt: Date.now(),
    };
    try {
      // Keyed by the stream sequence: a repeated dead-lettering of the same message is deduplicated.
      await this.deps.js.publish(DLQ_SUBJECT, JSON.stringify(record), { msgID: `dlq-${msg.info.streamSequence}` });
      if (job) await this.setState(job, 'failed', this.attemptsOf(msg), { error: record.error });
    } catch (publishErr) {
      log.error({ err: messageOf(publishErr) }, 'could not dead-letter the job: will retry');
      // The next delivery only dead-letters: it finds the reason in the job's state.
      if (job) await this.setState(job, 'queued', this.attemptsOf(msg), { error: record.error }).catch(() => undefined);
      msg.nak(nakDelay(this.deps.config, msg.info.deliveryCount));
      return;
    }
    // No reason text: nats-server 2.9 ignores a "+TERM <reason>" and would keep the message.
    msg.term();
    this.deps.metrics.processed.inc({ result: job ? 'dead_letter' : 'failed' });
    log.error({ err: record.error, deliveries: record.deliveries }, job ? 'job dead-lettered' : 'malformed job message dead-lettered');
  }

  /**
   * Moves the job's state unless it is already finished; true when this call made the move.
   * A finished job is never moved back, whatever a late delivery does.
   */
  private async setState(
    job: JobMessage, state: JobState['state'], attempts: number, extra: Pick<JobState, 'resultId' | 'error'> = {},
  ): Promise<boolean> {
    const written = await updateJobState(this.deps.jobState, job.jobId, (current) => (finished(current) ? undefined : {
      jobId: job.jobId, tenantId: job.tenantId, fileName: job.fileName, size: job.size,
      state, attempts, updatedAt: Date.now(), worker: this.deps.pod, ...extra,
    }));
    return written !== undefined;
  }
}
