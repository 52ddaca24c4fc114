import { randomBytes } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { OBJECT_ID_PATTERN, TENANT_ID_PATTERN, type Tier, isTier } from './tenant-id.ts';

/** What the gateway publishes to `percolate.jobs.{tier}` (with msgID = jobId) and a worker pulls. */
export interface JobMessage {
  jobId: string;
  tenantId: string;
  tier: Tier;
  /** Key of the upload in the object store (or path below UPLOAD_DIR); never client-chosen. */
  objectName: string;
  /** The client's file name, sanitised, for display only. */
  fileName: string;
  size: number;
  /** Epoch ms at which the gateway published the job. */
  submittedAt: number;
}

export const JOB_STATES = ['queued', 'processing', 'done', 'failed'] as const;
export type JobStateName = (typeof JOB_STATES)[number];

/** The value kept under the job id in the `percolate_job_state` bucket. */
export interface JobState {
  jobId: string;
  tenantId: string;
  state: JobStateName;
  fileName: string;
  size: number;
  attempts: number;
  updatedAt: number;
  resultId?: string;
  error?: string;
  /** The worker pod that holds (or last held) the job. */
  worker?: string;
}

/** 128 random bits, URL-safe; matches OBJECT_ID_PATTERN so it is safe as a key, subject token and path segment. */
export function newJobId(): string {
  return randomBytes(16).toString('base64url');
}

export function objectNameFor(tenantId: string, jobId: string): string {
  return `${tenantId}/${jobId}`;
}

/** Validates a job message from the stream; a message that fails is poison and is dead-lettered. */
export function parseJobMessage(data: Uint8Array): JobMessage {
  let raw: Partial<JobMessage>;
  try {
    raw = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<JobMessage>;
  } catch {
    throw new Error('job message is not JSON');
  }
  const problems: string[] = [];
  if (typeof raw.jobId !== 'string' || !OBJECT_ID_PATTERN.test(raw.jobId)) problems.push('jobId');
  if (typeof raw.tenantId !== 'string' || !TENANT_ID_PATTERN.test(raw.tenantId)) problems.push('tenantId');
  if (!isTier(raw.tier)) problems.push('tier');
  if (typeof raw.tenantId === 'string' && typeof raw.jobId === 'string' && raw.objectName !== objectNameFor(raw.tenantId, raw.jobId)) {
    problems.push('objectName');
  }
  if (typeof raw.fileName !== 'string' || raw.fileName.length === 0) problems.push('fileName');
  if (!Number.isSafeInteger(raw.size) || (raw.size as number) < 0) problems.push('size');
  if (!Number.isFinite(raw.submittedAt)) problems.push('submittedAt');
  if (problems.length > 0) throw new Error(`job message has invalid ${problems.join(', ')}`);
  return raw as JobMessage;
}

export async function readJobState(kv: KV, jobId: string): Promise<JobState | undefined> {
  const entry = await kv.get(jobId);
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
  return entry.json<JobState>();
}

/**
 * Compare-and-set on a job's state: `change` sees the current value and returns the next
 * one, or undefined to leave it. Concurrent writers (a redelivery racing a slow worker)
 * retry on the new value, so a transition such as "to done" happens once.
 * Returns the value written, or undefined when `change` declined.
 */
export async function updateJobState(
  kv: KV, jobId: string, change: (current: JobState | undefined) => JobState | undefined,
): Promise<JobState | undefined> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const entry = await kv.get(jobId);
    const current = entry && entry.operation === 'PUT' && entry.length > 0 ? entry.json<JobState>() : undefined;
    const next = change(current);
    if (!next) return undefined;
    try {
      if (entry) await kv.update(jobId, JSON.stringify(next), entry.revision);
      else await kv.create(jobId, JSON.stringify(next));
      return next;
    } catch (err) {
      if (!isRevisionConflict(err)) throw err;
    }
  }
  throw new Error(`job ${jobId}: state kept changing under us`);
}

function isRevisionConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence
    || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
