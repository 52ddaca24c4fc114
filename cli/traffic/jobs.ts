import { performance } from 'node:perf_hooks';
import { type TenantCredentials, sendAs } from '../../lib/http.ts';
import { Latency, type LatencySummary } from '../../lib/latency.ts';

export type JobState = 'queued' | 'processing' | 'done' | 'failed';
const FINAL: ReadonlySet<string> = new Set(['done', 'failed']);

export interface UploadFile { name: string; blob: Blob }

export interface TrackedJob {
  file: string;
  size: number;
  /** The gateway's answer to the upload: 202, or why not. */
  upload: string;
  uploadMs: number;
  jobId?: string;
  state?: JobState | 'unknown';
  attempts?: number;
  resultId?: string;
  error?: string;
  /** From the 202 to the first poll that saw done or failed (resolution: the poll interval). */
  latencyMs?: number;
  /** performance.now() at the 202. */
  acceptedAt?: number;
}

/** POST /upload as `curl -F file=@name` does: one multipart part named "file". */
export async function upload(gatewayUrl: string, who: TenantCredentials, file: UploadFile, timeoutMs: number, signal?: AbortSignal): Promise<TrackedJob> {
  const form = new FormData();
  form.set('file', file.blob, file.name);
  const r = await sendAs<{ job_id?: string; reason?: string }>(gatewayUrl, who, { method: 'POST', path: '/upload', body: form }, { timeoutMs, signal });
  const job: TrackedJob = { file: file.name, size: file.blob.size, upload: 'failure' in r.outcome ? r.outcome.failure : String(r.outcome.status), uploadMs: r.ms };
  if ('status' in r.outcome && r.outcome.status === 202 && typeof r.result?.body?.job_id === 'string') {
    job.jobId = r.result.body.job_id;
    job.state = 'queued';
    job.acceptedAt = performance.now();
  } else if (r.result) {
    const reason = r.result.body && typeof r.result.body === 'object' ? r.result.body.reason : undefined;
    job.error = reason ?? r.result.text.slice(0, 200);
  }
  return job;
}

/** One round of GET /jobs/{id} for every accepted job not yet done or failed. */
export async function pollOnce(gatewayUrl: string, who: TenantCredentials, jobs: TrackedJob[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  await Promise.all(jobs.filter((j) => j.jobId && !FINAL.has(j.state ?? '')).map(async (j) => {
    const r = await sendAs<{ state?: JobState; attempts?: number; result_id?: string; error?: string }>(
      gatewayUrl, who, { method: 'GET', path: `/jobs/${encodeURIComponent(j.jobId!)}` }, { timeoutMs, signal });
    if (!('status' in r.outcome) || r.outcome.status !== 200 || !r.result) return;
    const body = r.result.body;
    j.state = body.state ?? 'unknown';
    j.attempts = body.attempts;
    if (body.result_id) j.resultId = body.result_id;
    if (body.error) j.error = body.error;
    if (FINAL.has(j.state) && j.acceptedAt !== undefined) j.latencyMs = performance.now() - j.acceptedAt;
  }));
}

export const isFinal = (j: TrackedJob) => !j.jobId || FINAL.has(j.state ?? '');

export function countStates(jobs: TrackedJob[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of jobs) {
    const key = j.jobId ? (j.state ?? 'unknown') : 'rejected';
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

export function latencyOf(jobs: TrackedJob[]): LatencySummary {
  const l = new Latency();
  for (const j of jobs) if (j.latencyMs !== undefined) l.record(j.latencyMs);
  return l.summary();
}

/** A generated document: a few KiB of text stamped with the run id. */
export function generatedFile(runId: string, i: number, bytes: number): UploadFile {
  const line = `Document ${i} of run ${runId}: quarterly report, contract terms, meeting notes.\n`;
  const text = line.repeat(Math.max(1, Math.ceil(bytes / line.length))).slice(0, Math.max(1, bytes));
  return { name: `${runId}-${i}.txt`, blob: new Blob([text], { type: 'text/plain' }) };
}
