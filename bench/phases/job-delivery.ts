import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JobMessage, newJobId, objectNameFor } from '../../reference-services/shared/jobs.ts';
import { JOBS_STREAM, ensureStreams, jobSubject } from '../../reference-services/shared/nats.ts';
import type { ServiceProcess } from '../../tests/helpers/processes.ts';
import { eventually } from '../../lib/poll.ts';
import { type BenchEnv, progress, startWorker, tenantHeaders } from '../cluster.ts';
import { type Sample, sampleSum, sampleValue, scrape } from '../prom-text.ts';
import { atFixedRate } from '../schedule.ts';

export interface JobDeliveryOptions { rate: number; seconds: number; warmupJobs: number; tenants?: number }
export interface JobDeliveryResult { p50Ms: number | undefined; p99Ms: number | undefined; published: number; observed: number | undefined; done: number | undefined }

const DELIVERY_SUMMARY = 'percolate_job_delivery_quantile_seconds';

/**
 * Jobs published the way the gateway publishes them (uploads stored first, then the
 * job on percolate.jobs.small with msgID = jobId) at a fixed rate, pulled by one worker
 * that parses in 0–1 ms and writes results to node A. The worker measures delivery
 * (receipt − submittedAt) and exports it as a Summary, which is what we read.
 */
export async function jobDelivery(env: BenchEnv, nodeA: ServiceProcess, opts: JobDeliveryOptions): Promise<JobDeliveryResult> {
  const tenants = Array.from({ length: opts.tenants ?? 4 }, (_, i) => `bench-jobs-${i}`);
  const measured = Math.round(opts.rate * opts.seconds);
  const total = opts.warmupJobs + measured;
  const uploadDir = join(env.dir, 'uploads');
  const jobs: JobMessage[] = Array.from({ length: total }, (_, i) => {
    const tenantId = tenants[i % tenants.length]!;
    const jobId = newJobId();
    const content = `bench job ${i}\n`;
    const objectName = objectNameFor(tenantId, jobId);
    mkdirSync(join(uploadDir, tenantId), { recursive: true });
    writeFileSync(join(uploadDir, objectName), content);
    return { jobId, tenantId, tier: 'small', objectName, fileName: `job-${i}.txt`, size: content.length, submittedAt: 0 };
  });
  // The worker's first result per tenant would otherwise pay node A's cold open.
  for (const tenant of tenants) {
    const res = await fetch(`${nodeA.url}/api/v1/resources?limit=1`, { headers: await tenantHeaders(env, tenant) });
    if (!res.ok) throw new Error(`open job tenant ${tenant} on ${nodeA.name}: HTTP ${res.status}`);
  }

  const { js, jsm } = await env.client();
  await ensureStreams(jsm, [JOBS_STREAM]);
  progress('job delivery: starting one worker (parse 0–1 ms, results to db-node-0)');
  const worker = await startWorker(env, 'worker-0', { DB_URL: nodeA.url, PARSE_MS_MIN: '0', PARSE_MS_MAX: '1', UPLOAD_DIR: uploadDir });
  const metrics = async () => scrape(`${worker.url}/metrics`);

  const publish = (i: number) => {
    const job = { ...jobs[i]!, submittedAt: Date.now() };
    return js.publish(jobSubject('small'), JSON.stringify(job), { msgID: job.jobId });
  };
  const finishedJobs = (samples: Sample[]) => sampleSum(samples, 'percolate_jobs_processed_total') ?? 0;

  // Warm-up, one job at a time: each is published once the previous is finished, so it
  // never waits behind a job whose code path is still cold; the measured jobs then meet
  // a warm worker. (The worker's Summary spans its life, so these count too, but each
  // reaches an idle worker and is delivered at once.)
  progress(`job delivery: ${opts.warmupJobs} warm-up jobs, one at a time`);
  for (let i = 0; i < opts.warmupJobs; i++) {
    await publish(i);
    await eventually(`warm-up job ${i + 1} finished`, async () => finishedJobs(await metrics()), (n) => n >= i + 1, { timeoutMs: 10_000, intervalMs: 5 });
  }

  progress(`job delivery: ${opts.rate} jobs/s for ${opts.seconds}s on ${jobSubject('small')}`);
  let published = opts.warmupJobs;
  const pending = new Set<Promise<void>>();
  await atFixedRate(opts.rate, measured, (k) => {
    const p = publish(opts.warmupJobs + k)
      .then(() => { published++; }, (err: unknown) => { progress(`job delivery: publish failed: ${String(err)}`); })
      .finally(() => pending.delete(p));
    pending.add(p);
  });
  await Promise.all(pending);

  // Received is what the figure needs; finished (acked) keeps the teardown from cutting jobs short.
  await eventually(`worker received and finished ${published} jobs`, async () => {
    const samples = await metrics();
    return { received: sampleValue(samples, `${DELIVERY_SUMMARY}_count`) ?? 0, finished: finishedJobs(samples) };
  }, ({ received, finished }) => received >= published && finished >= published, { timeoutMs: 30_000, intervalMs: 50 }).catch((err: unknown) => progress(String(err)));
  const samples = await metrics();
  const buckets = samples.filter((s) => s.name === 'percolate_job_delivery_seconds_bucket').map((s) => `le ${s.labels.le}: ${s.value}`);
  progress(`job delivery histogram: ${buckets.join(', ')}`);
  const quantile = (q: string) => {
    const v = sampleValue(samples, DELIVERY_SUMMARY, { quantile: q });
    return v === undefined || Number.isNaN(v) ? undefined : v * 1000;
  };
  const result = {
    p50Ms: quantile('0.5'), p99Ms: quantile('0.99'), published,
    observed: sampleValue(samples, `${DELIVERY_SUMMARY}_count`),
    done: sampleValue(samples, 'percolate_jobs_processed_total', { result: 'done' }),
  };
  progress(`job delivery: ${result.observed ?? 'n/a'} of ${published} jobs received, ${result.done ?? 'n/a'} done; ` +
    `delivery p50 ${result.p50Ms?.toFixed(3) ?? 'n/a'} ms, p99 ${result.p99Ms?.toFixed(3) ?? 'n/a'} ms`);
  if (result.p99Ms === undefined) progress(`job delivery: the worker exports no ${DELIVERY_SUMMARY}{quantile="0.99"}`);
  return result;
}
