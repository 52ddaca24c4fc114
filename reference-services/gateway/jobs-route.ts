import type { KV } from '@nats-io/kv';
import type { Context } from 'koa';
import { tenantOf } from '../shared/auth.ts';
import { notFound } from '../shared/errors.ts';
import { readJobState } from '../shared/jobs.ts';
import { assertObjectId } from '../shared/tenant-id.ts';

/**
 * GET /jobs/{id}: the job's state, to its own tenant only. Another tenant's job answers
 * exactly like a job that does not exist, so ids can't be probed.
 */
export function jobRoute(jobState: KV) {
  return async (ctx: Context) => {
    const { tenantId } = tenantOf(ctx);
    const jobId = assertObjectId(ctx.params.id, 'job id');
    const state = await readJobState(jobState, jobId);
    if (!state || state.tenantId !== tenantId) throw notFound(`job ${jobId} not found`);
    ctx.body = {
      job_id: state.jobId,
      state: state.state,
      file_name: state.fileName,
      size: state.size,
      attempts: state.attempts,
      updated_at: new Date(state.updatedAt).toISOString(),
      ...(state.resultId ? { result_id: state.resultId } : {}),
      ...(state.error ? { error: state.error } : {}),
    };
  };
}
