import { mintTenantToken } from '../shared/auth.ts';
import { TENANT_HEADER } from '../shared/headers.ts';
import type { JobMessage } from '../shared/jobs.ts';
import type { Secrets } from '../shared/secrets.ts';

/** The resource id of a job's result: fixed by the job, so a redelivered job overwrites, never duplicates. */
export const resultIdOf = (jobId: string) => `job-${jobId}`;

const MAX_TITLE = 200;

/**
 * Writes a job's result through the database load balancer as the tenant itself: a
 * token minted for the job's tenant and tier, and the matching X-Tenant-ID, so the
 * database applies the same auth and routing as for any client.
 */
export async function writeResult(
  opts: { dbUrl: string; secrets: Secrets; timeoutMs: number }, job: JobMessage, content: string,
): Promise<string> {
  const id = resultIdOf(job.jobId);
  const token = await mintTenantToken(opts.secrets, job.tenantId, job.tier);
  const res = await fetch(`${opts.dbUrl}/api/v1/resources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, [TENANT_HEADER]: job.tenantId, 'content-type': 'application/json' },
    body: JSON.stringify({ id, title: job.fileName.slice(0, MAX_TITLE), content, tags: ['upload'] }),
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  if (res.status !== 201 && res.status !== 200) {
    const detail = (await res.text().catch(() => '')).slice(0, 300);
    throw new Error(`database answered ${res.status} to the result write: ${detail}`);
  }
  await res.body?.cancel().catch(() => undefined);
  return id;
}
