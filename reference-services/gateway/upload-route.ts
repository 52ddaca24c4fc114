import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Context } from 'koa';
import { tenantOf } from '../shared/auth.ts';
import { HttpError } from '../shared/errors.ts';
import { type JobMessage, type JobState, newJobId, objectNameFor } from '../shared/jobs.ts';
import type { Logger } from '../shared/logger.ts';
import { jobSubject } from '../shared/nats.ts';
import type { UploadStore } from '../shared/upload-store.ts';
import { type GatewayMetrics, uploadResultOf } from './metrics.ts';
import { receiveUpload } from './multipart-upload.ts';

export interface UploadDeps {
  store: UploadStore;
  js: JetStreamClient;
  jobState: KV;
  maxUploadBytes: number;
  metrics: GatewayMetrics;
  logger: Logger;
}

/**
 * POST /upload: stream the file to the store, record the job as queued, publish it on
 * the tenant's tier, answer 202. Tenant and tier come from the token only; an
 * X-Tenant-ID sent by the client plays no part.
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
  const jobId = newJobId();
  const objectName = objectNameFor(tenantId, jobId);
  const { fileName, size } = await receiveUpload(ctx.req, { maxBytes: deps.maxUploadBytes, store: deps.store, objectName });

  const submittedAt = Date.now();
  const state: JobState = { jobId, tenantId, state: 'queued', fileName, size, attempts: 0, updatedAt: submittedAt };
  const job: JobMessage = { jobId, tenantId, tier, objectName, fileName, size, submittedAt };
  try {
    // State first: a worker that picks the job up at once must find it to move it on.
    await deps.jobState.create(jobId, JSON.stringify(state));
    await deps.js.publish(jobSubject(tier), JSON.stringify(job), { msgID: jobId });
  } catch (err) {
    await deps.jobState.delete(jobId).catch(() => undefined);
    await deps.store.remove(objectName).catch(() => undefined);
    throw new HttpError(503, 'queue_unavailable', 'the job queue is unavailable; try again', { 'Retry-After': '1' }, { cause: err });
  }
  deps.metrics.uploadBytes.inc(size);
  deps.logger.info({ jobId, tenantId, tier, size }, 'job queued');
  ctx.status = 202;
  ctx.set('Location', `/jobs/${jobId}`);
  ctx.body = { job_id: jobId };
}
