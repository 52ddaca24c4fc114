import { createHash } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Context } from 'koa';
import { tenantOf } from '../shared/auth.ts';
import { HttpError, badRequest } from '../shared/errors.ts';
import { type JobMessage, type JobState, newJobId, objectNameFor, readJobState } from '../shared/jobs.ts';
import type { Logger } from '../shared/logger.ts';
import { jobSubject, publishDurably } from '../shared/nats.ts';
import type { UploadStore } from '../shared/upload-store.ts';
import { type GatewayMetrics, uploadResultOf } from './metrics.ts';
import { receiveUpload } from './multipart-upload.ts';

export interface UploadDeps {
  store: UploadStore;
  js: JetStreamClient;
  jobState: KV;
  maxUploadBytes: number;
  publishTimeoutMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** What an `Idempotency-Key` may be (the IETF draft leaves it to the server): short, printable, no spaces. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The job id of a keyed upload: the same tenant and key always name the same job, so a
 * client that retries an upload (its answer lost to a crashed gateway) reaches the job
 * its first attempt created instead of a second one. The tenant is part of it, so two
 * tenants' keys never meet.
 */
export function idempotentJobId(tenantId: string, key: string): string {
  return createHash('sha256').update(`${tenantId}\u0000${key}`).digest().subarray(0, 16).toString('base64url');
}

function idempotencyKeyOf(ctx: Context): string | undefined {
  const raw = ctx.get('Idempotency-Key');
  if (!raw) return undefined;
  if (!IDEMPOTENCY_KEY.test(raw)) throw badRequest(`Idempotency-Key must match ${IDEMPOTENCY_KEY.source}`);
  return raw;
}

/**
 * POST /upload: stream the file to the store, record the job as queued, publish it on
 * the tenant's tier, answer 202. Tenant and tier come from the token only; an
 * X-Tenant-ID sent by the client plays no part.
 *
 * With an `Idempotency-Key` header the job id is derived from tenant and key, and the job
 * KV (whose `create` succeeds once per key) decides which attempt records the job: a retry
 * answers 202 with the same id and `Idempotent-Replayed: true`. A retry of a job still
 * `queued` publishes it again under the same message id, which JetStream's duplicate window
 * drops if the first attempt had published it — and delivers if that attempt died between
 * recording the job and publishing it. Each job is therefore created once and queued at
 * least once; the worker's compare-and-set on `done` completes it once.
 */
export function uploadRoute(deps: UploadDeps) {
  return async (ctx: Context) => {
    try {
      await accept(ctx, deps);
      deps.metrics.uploads.inc({ result: 'accepted' });
    } catch (err) {
      deps.metrics.uploads.inc({ result: uploadResultOf(err instanceof HttpError ? err.status : 500) });
      throw err;
    }
  };
}

async function accept(ctx: Context, deps: UploadDeps): Promise<void> {
  const { tenantId, tier } = tenantOf(ctx);
  const idempotencyKey = idempotencyKeyOf(ctx);
  const jobId = idempotencyKey ? idempotentJobId(tenantId, idempotencyKey) : newJobId();
  const objectName = objectNameFor(tenantId, jobId);
  const { fileName, size } = await receiveUpload(ctx.req, { maxBytes: deps.maxUploadBytes, store: deps.store, objectName });

  const submittedAt = Date.now();
  const state: JobState = { jobId, tenantId, state: 'queued', fileName, size, attempts: 0, updatedAt: submittedAt };
  const job: JobMessage = { jobId, tenantId, tier, objectName, fileName, size, submittedAt };
  let replayed = false;
  try {
    // State first: a worker that picks the job up at once must find it to move it on.
    try {
      await deps.jobState.create(jobId, JSON.stringify(state));
    } catch (err) {
      const existing = idempotencyKey ? await readJobState(deps.jobState, jobId) : undefined;
      if (!existing) throw err;
      replayed = true;
      if (existing.state === 'queued') await publishDurably(deps.js, jobSubject(tier), JSON.stringify({ ...job, submittedAt: existing.updatedAt }), { msgID: jobId, timeoutMs: deps.publishTimeoutMs });
    }
    if (!replayed) await publishDurably(deps.js, jobSubject(tier), JSON.stringify(job), { msgID: jobId, timeoutMs: deps.publishTimeoutMs });
  } catch (err) {
    // A keyed job stays recorded: its retry publishes it; a job without a key has no retry to wait for.
    if (!idempotencyKey) {
      await deps.jobState.delete(jobId).catch(() => undefined);
      await deps.store.remove(objectName).catch(() => undefined);
    }
    throw new HttpError(503, 'queue_unavailable', 'the job queue is unavailable; try again', { 'Retry-After': '1' }, { cause: err });
  }
  if (replayed) {
    deps.logger.info({ jobId, tenantId }, 'upload retried with its idempotency key: same job');
    ctx.set('Idempotent-Replayed', 'true');
    ctx.status = 202;
    ctx.set('Location', `/jobs/${jobId}`);
    ctx.body = { job_id: jobId };
    return;
  }
  deps.metrics.uploadBytes.inc(size);
  deps.logger.info({ jobId, tenantId, tier, size }, 'job queued');
  ctx.status = 202;
  ctx.set('Location', `/jobs/${jobId}`);
  ctx.body = { job_id: jobId };
}
