import { envInt, envString } from '../shared/env.ts';
import { JOBS_ACK_WAIT_MS, jobSubject, jobsConsumer } from '../shared/nats.ts';
import { loadProfile } from '../shared/profile.ts';

export interface WorkerConfig {
  port: number;
  host: string;
  natsUrl: string;
  dbUrl: string;
  consumer: string;
  filter: string;
  parseMs: [number, number];
  ackWaitMs: number;
  maxDeliver: number;
  /** First nak delay; it doubles with every delivery, up to MAX_NAK_DELAY_MS. */
  nakDelayMs: number;
  maxNakDelayMs: number;
  failMarker: string;
  concurrency: number;
  uploadDir: string | undefined;
  dbTimeoutMs: number;
  unreadyGraceMs: number;
  drainTimeoutMs: number;
}

export function workerConfigFromEnv(): WorkerConfig {
  const profile = loadProfile();
  const parseMin = envInt('PARSE_MS_MIN', profile.parseMs[0]);
  const parseMax = Math.max(parseMin, envInt('PARSE_MS_MAX', profile.parseMs[1]));
  return {
    port: envInt('PORT', 8081),
    host: envString('HOST', '127.0.0.1'),
    natsUrl: envString('NATS_URL', 'nats://127.0.0.1:4222'),
    dbUrl: envString('DB_URL', 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    // The manifests give each tier's workers their tier's consumer and subject.
    consumer: envString('JOBS_CONSUMER', jobsConsumer('small')),
    filter: envString('JOBS_FILTER', jobSubject('small')),
    parseMs: [parseMin, parseMax],
    ackWaitMs: Math.max(100, envInt('ACK_WAIT_MS', JOBS_ACK_WAIT_MS)),
    maxDeliver: Math.max(1, envInt('MAX_DELIVER', 5)),
    nakDelayMs: envInt('NAK_DELAY_MS', 1000),
    maxNakDelayMs: envInt('MAX_NAK_DELAY_MS', 30_000),
    failMarker: envString('FAIL_MARKER', '#fail-parse'),
    concurrency: Math.max(1, envInt('JOBS_CONCURRENCY', 1)),
    uploadDir: process.env.UPLOAD_DIR || undefined,
    dbTimeoutMs: envInt('DB_TIMEOUT_MS', 10_000),
    unreadyGraceMs: envInt('UNREADY_GRACE_MS', 0),
    drainTimeoutMs: envInt('DRAIN_TIMEOUT_MS', profile.drainTimeoutMs),
  };
}

/** Nak delay for a job that failed on its `deliveryCount`-th delivery: doubling, capped. */
export function nakDelay(config: Pick<WorkerConfig, 'nakDelayMs' | 'maxNakDelayMs'>, deliveryCount: number): number {
  return Math.min(config.maxNakDelayMs, config.nakDelayMs * 2 ** Math.max(0, deliveryCount - 1));
}
