import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_STREAM, DLQ_SUBJECT, JOBS_STREAM, jobSubject, jobsConsumer } from '../../reference-services/shared/nats.ts';
import { DbTestCluster } from '../helpers/db-cluster.ts';
import { http } from '../../lib/http.ts';
import { JobQueue } from '../helpers/job-queue.ts';
import type { Child } from '../../cluster/local/process/child.ts';
import type { ServiceProcess } from '../helpers/processes.ts';
import { eventually } from '../../lib/poll.ts';

// Workers against a real nats-server and a real db-node. Parsing (1.5 s) outlasts
// ack_wait (1 s) on purpose: only the worker's progress heartbeats keep a live job from
// being redelivered, and a killed worker's job comes back within a second.
const ACK_WAIT_MS = 1000;
const PARSE_MS = 1500;
const MAX_DELIVER = 3;
const NAK_DELAY_MS = 100;
const JOB_DEADLINE_MS = 20_000;
const JOB_WAIT = { timeoutMs: JOB_DEADLINE_MS };
/** Something that has already happened showing up: the queue's state, a log line through a pipe. */
const SETTLE = { timeoutMs: 5_000 };

let cluster: DbTestCluster;
let queue: JobQueue;
let workerEnv: NodeJS.ProcessEnv;
const workers = new Map<string, ServiceProcess>();
/** Every worker process that ever ran in this file, for log checks across restarts and kills. */
const workerProcesses: Child[] = [];

async function startWorker(name: string): Promise<ServiceProcess> {
  const worker = await cluster.services.startService('worker', name, workerEnv, { waitReady: false });
  workerProcesses.push(worker.process);
  await worker.waitReady();
  workers.set(name, worker);
  return worker;
}

async function restartWorker(worker: ServiceProcess): Promise<void> {
  await worker.restart({ waitReady: false });
  workerProcesses.push(worker.process);
  await worker.waitReady();
}

// A test that stopped a worker and then failed must not leave the next test one worker short.
afterEach(async () => {
  for (const worker of workers.values()) if (!worker.process.running) await restartWorker(worker);
});

/** Log lines with this message about this job, across every worker process so far. */
function logLines(msg: string, jobId: string): Array<Record<string, unknown> & { process: Child }> {
  return workerProcesses.flatMap((p) => p.jsonLogs().filter((l) => l.msg === msg && l.jobId === jobId).map((l) => ({ ...l, process: p })));
}

/** A job's state record, sampled by `eventually` until it is in a state (`inState`). */
const stateOf = (jobId: string) => async () => {
  const current = await queue.state(jobId);
  if (!current) throw new Error(`no state record for job ${jobId} yet`);
  return current;
};
const inState = (state: string) => (current: { state: string }) => current.state === state;
const queuedJobIds = async () => (await queue.jobMessages()).map((m) => m.job.jobId);
const completedLogged = (jobId: string) => () => logLines('job completed', jobId).length;

async function metric(worker: ServiceProcess, line: string): Promise<number> {
  const text = (await http(`${worker.url}/metrics`)).text;
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.split(' ').pop()) : 0;
}

const doneTotal = (w: ServiceProcess) => metric(w, 'percolate_jobs_processed_total{result="done"');

beforeAll(async () => {
  cluster = await DbTestCluster.start('worker', [{ name: 'db-w-0' }]);
  workerEnv = {
    DB_URL: cluster.node('db-w-0').url,
    ACK_WAIT_MS: String(ACK_WAIT_MS),
    PARSE_MS_MIN: String(PARSE_MS),
    PARSE_MS_MAX: String(PARSE_MS),
    MAX_DELIVER: String(MAX_DELIVER),
    NAK_DELAY_MS: String(NAK_DELAY_MS),
    DRAIN_TIMEOUT_MS: '10000',
  };
  queue = await JobQueue.connect(cluster.nats.url);
  await Promise.all([startWorker('worker-a'), startWorker('worker-b')]);
});

afterAll(async () => {
  await queue?.close();
  await Promise.all([...workers.values()].map((w) => w.stop('SIGKILL')));
  await cluster?.stop();
});

describe('worker', () => {
  it('pulls its tier\'s jobs through the tier\'s durable consumer of a file-backed work queue', async () => {
    const stream = await queue.jsm.streams.info(JOBS_STREAM);
    expect(stream.config).toMatchObject({ retention: 'workqueue', storage: 'file', subjects: ['percolate.jobs.>'] });
    const consumer = await queue.consumer(jobsConsumer('small'));
    expect(consumer.config).toMatchObject({
      durable_name: 'workers-small', ack_policy: 'explicit', ack_wait: ACK_WAIT_MS * 1e6, filter_subject: 'percolate.jobs.small',
    });
    // The worker counts deliveries itself (see the dead-letter test below): no server-side limit.
    expect(consumer.config.max_deliver ?? -1).toBe(-1);
  });

  it('parses a job, writes the result as the tenant, marks it done, with one delivery although parsing outlasts ack_wait', async () => {
    const content = 'quarterly report\nrevenue up\n';
    const job = await queue.submit({ tenantId: 'tenant-parse', fileName: 'report.txt', content });
    const done = await eventually(`job ${job.jobId} done`, stateOf(job.jobId), inState('done'), JOB_WAIT);
    expect(done).toMatchObject({ tenantId: 'tenant-parse', attempts: 1, resultId: `job-${job.jobId}`, fileName: 'report.txt', size: content.length });

    // The result is the tenant's own resource: readable with its token, invisible to another tenant.
    const owner = await cluster.client('tenant-parse', 'db-w-0');
    const result = await owner.request('GET', `/api/v1/resources/job-${job.jobId}`);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ tenant: 'tenant-parse', title: 'report.txt', tags: ['upload'] });
    expect(result.body.content).toContain(createHash('sha256').update(content).digest('hex'));
    expect(result.body.content).toContain('2 lines');
    const other = await cluster.client('tenant-other', 'db-w-0');
    expect((await other.request('GET', `/api/v1/resources/job-${job.jobId}`)).status).toBe(404);

    // Without heartbeats the idle second worker would have been handed the job after 1 s.
    expect(logLines('job started', job.jobId), 'deliveries of the job').toHaveLength(1);
    expect(logLines('job completed', job.jobId)).toHaveLength(1);
    await eventually('work queue empty', queuedJobIds, (ids) => ids.length === 0, SETTLE);

    const all = [...workers.values()];
    expect((await Promise.all(all.map(doneTotal))).reduce((a, b) => a + b)).toBe(1);
    const deliveryCounts = await Promise.all(all.map((w) => metric(w, 'percolate_job_delivery_quantile_seconds_count')));
    expect(deliveryCounts.reduce((a, b) => a + b)).toBe(1);
    const metricsText = (await http(`${all[0]!.url}/metrics`)).text;
    for (const name of ['percolate_job_processing_seconds', 'percolate_job_delivery_seconds']) expect(metricsText).toContain(`# TYPE ${name} histogram`);
    expect(metricsText).toContain('# TYPE percolate_job_delivery_quantile_seconds summary');
    expect(metricsText).toMatch(/percolate_job_delivery_quantile_seconds\{quantile="0\.99"/);
  });

  it('leaves another tier\'s jobs to that tier\'s workers', async () => {
    const other = await queue.submit({ tenantId: 'tenant-medium', tier: 'medium', fileName: 'medium.txt', content: 'not for small workers' });
    const own = await queue.submit({ tenantId: 'tenant-small', fileName: 'small.txt', content: 'for small workers' });
    try {
      // Published after the medium job: done means the small workers have looked past it.
      await eventually(`job ${own.jobId} done`, stateOf(own.jobId), inState('done'), JOB_WAIT);
      expect(await queue.state(other.jobId)).toMatchObject({ state: 'queued', attempts: 0 });
      expect(logLines('job started', other.jobId), 'deliveries of the medium tier\'s job to small workers').toEqual([]);
      expect(await queuedJobIds()).toEqual([other.jobId]);
    } finally {
      await queue.jsm.streams.purge(JOBS_STREAM, { filter: jobSubject('medium') });
    }
  });

  it('finishes the job in hand on SIGTERM, then exits 0', async () => {
    const job = await queue.submit({ tenantId: 'tenant-term', fileName: 'term.txt', content: 'drain me' });
    const processing = await eventually(`job ${job.jobId} processing`, stateOf(job.jobId), inState('processing'), JOB_WAIT);
    const holder = workers.get(processing.worker!)!;
    const holderProcess = holder.process;
    await holder.stop('SIGTERM');
    expect(await holderProcess.exited).toEqual({ code: 0, signal: null });

    const done = await eventually(`job ${job.jobId} done`, stateOf(job.jobId), inState('done'), JOB_WAIT);
    expect(done).toMatchObject({ worker: holder.name, attempts: 1 });
    // Output of an exited process can still be in the pipe for a moment.
    await eventually('"job completed" logged', completedLogged(job.jobId), (n) => n > 0, SETTLE);
    const completed = logLines('job completed', job.jobId);
    expect(completed).toHaveLength(1);
    expect(completed[0]!.process).toBe(holderProcess);
    await restartWorker(holder);
  });

  it('kill -9 mid-job: the job is redelivered and completes exactly once', async () => {
    const fileName = `killed-${Date.now()}.txt`;
    const job = await queue.submit({ tenantId: 'tenant-kill', fileName, content: 'survive a lost worker' });
    const processing = await eventually(`job ${job.jobId} processing`, stateOf(job.jobId), inState('processing'), JOB_WAIT);
    const victim = workers.get(processing.worker!)!;
    const victimProcess = victim.process;
    // The worker records 'processing' before it logs the start: kill it once both are out, mid-job.
    await eventually(`${victim.name} logging "job started"`, () => logLines('job started', job.jobId).some((l) => l.process === victimProcess), (seen) => seen, SETTLE);
    await victim.stop('SIGKILL');
    expect(await victimProcess.exited).toMatchObject({ signal: 'SIGKILL' });

    const done = await eventually(`job ${job.jobId} done`, stateOf(job.jobId), inState('done'), JOB_WAIT);
    expect(done.worker).not.toBe(victim.name);
    expect(done.attempts).toBe(2);
    // The state is read from NATS; the log line comes through a pipe and can trail it.
    await eventually('"job completed" logged', completedLogged(job.jobId), (n) => n > 0, SETTLE);
    const completed = logLines('job completed', job.jobId);
    expect(completed, 'one "job completed" line across all worker processes').toHaveLength(1);
    expect(completed[0]!.process).not.toBe(victimProcess);

    const owner = await cluster.client('tenant-kill', 'db-w-0');
    const listed = await owner.request('GET', '/api/v1/resources?limit=100');
    expect(listed.body.items.filter((r: { title: string }) => r.title === fileName).map((r: { id: string }) => r.id)).toEqual([`job-${job.jobId}`]);
    await eventually('work queue empty', queuedJobIds, (ids) => ids.length === 0, SETTLE);
    await restartWorker(victim);
  });

  it('a worker frozen past ack_wait (kill -STOP) and then resumed does not complete the job a second time', async () => {
    const fileName = `frozen-${Date.now()}.txt`;
    const job = await queue.submit({ tenantId: 'tenant-frozen', fileName, content: 'two runs, one result' });
    const processing = await eventually(`job ${job.jobId} processing`, stateOf(job.jobId), inState('processing'), JOB_WAIT);
    const frozen = workers.get(processing.worker!)!;
    const pgid = -frozen.process.pid;
    process.kill(pgid, 'SIGSTOP');
    try {
      // The other worker is handed the job once the frozen one's ack_wait runs out.
      await eventually('redelivery to the other worker', stateOf(job.jobId), (s) => s.worker !== frozen.name && s.attempts >= 2, JOB_WAIT);
    } finally {
      process.kill(pgid, 'SIGCONT');
    }
    // Both runs finish; the compare-and-set lets only one of them be the completion.
    const finishedRuns = () => [...logLines('job completed', job.jobId), ...logLines('job was completed by another delivery meanwhile', job.jobId)];
    await eventually('both runs finished', () => finishedRuns().length, (n) => n === 2, JOB_WAIT);
    expect(logLines('job completed', job.jobId), 'one "job completed" line across all worker processes').toHaveLength(1);
    expect((await queue.state(job.jobId))?.state).toBe('done');
    const owner = await cluster.client('tenant-frozen', 'db-w-0');
    const listed = await owner.request('GET', '/api/v1/resources?limit=100');
    expect(listed.body.items.filter((r: { title: string }) => r.title === fileName)).toHaveLength(1);
    await eventually('work queue empty', queuedJobIds, (ids) => ids.length === 0, SETTLE);
  });

  it('naks a failing job with growing backoff, then dead-letters it after MAX_DELIVER deliveries', async () => {
    const job = await queue.submit({ tenantId: 'tenant-fail', fileName: 'broken.txt', content: 'header\n#fail-parse\n' });
    const failed = await eventually(`job ${job.jobId} failed`, stateOf(job.jobId), inState('failed'), JOB_WAIT);
    expect(failed.attempts).toBe(MAX_DELIVER);
    expect(failed.error).toContain('fail marker');

    const retries = logLines('job failed: will retry', job.jobId).map((l) => l.delayMs).sort((a, b) => Number(a) - Number(b));
    expect(retries).toEqual([NAK_DELAY_MS, NAK_DELAY_MS * 2]);
    const dead = (await queue.deadLetters()).filter((d) => d.job?.jobId === job.jobId);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ deliveries: MAX_DELIVER, job: { tenantId: 'tenant-fail', objectName: job.objectName } });
    expect(logLines('job dead-lettered', job.jobId)).toHaveLength(1);
    // Terminated, so the work queue no longer holds it, and no result was written.
    await eventually('work queue empty', queuedJobIds, (ids) => ids.length === 0, SETTLE);
    const owner = await cluster.client('tenant-fail', 'db-w-0');
    expect((await owner.request('GET', `/api/v1/resources/job-${job.jobId}`)).status).toBe(404);
  });

  it('a dead-letter publish that fails on the last delivery is retried until it lands: the job is never stuck', async () => {
    // The dead-letter stream stops taking its subject, so publishing there fails (no responders).
    const paused = 'percolate.dlq.paused';
    await queue.jsm.streams.update(DLQ_STREAM, { subjects: [paused] });
    let job: Awaited<ReturnType<typeof queue.submit>>;
    try {
      job = await queue.submit({ tenantId: 'tenant-dlq-down', fileName: 'broken.txt', content: 'header\n#fail-parse\n' });
      await eventually(`a failed dead-letter publish of job ${job.jobId} logged`,
        () => logLines('could not dead-letter the job: will retry', job.jobId).length, (n) => n >= 1, JOB_WAIT);
    } finally {
      await queue.jsm.streams.update(DLQ_STREAM, { subjects: [DLQ_SUBJECT] });
    }
    const failed = await eventually(`job ${job.jobId} failed once the dead-letter stream is back`, stateOf(job.jobId), inState('failed'), JOB_WAIT);
    expect(failed).toMatchObject({ attempts: MAX_DELIVER, error: expect.stringContaining('fail marker') });
    const dead = (await queue.deadLetters()).filter((d) => d.job?.jobId === job.jobId);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.deliveries).toBeGreaterThan(MAX_DELIVER);
    // Parsed MAX_DELIVER times only: the deliveries after the last try only dead-letter.
    expect(logLines('job started', job.jobId)).toHaveLength(MAX_DELIVER);
    await eventually('work queue empty and nothing pending on the consumer', async () => {
      const consumer = await queue.consumer();
      return { queued: await queuedJobIds(), pending: consumer.num_pending, unacked: consumer.num_ack_pending };
    }, (q) => q.queued.length === 0 && q.pending === 0 && q.unacked === 0, SETTLE);
  });

  it('with zero workers the queue holds the job; a worker started later completes it', async () => {
    await Promise.all([...workers.values()].map((w) => w.stop('SIGTERM')));
    const job = await queue.submit({ tenantId: 'tenant-zero', fileName: 'later.txt', content: 'wait for me' });
    expect((await queue.jobMessages()).map((m) => m.job.jobId)).toEqual([job.jobId]);
    expect((await queue.consumer()).num_pending).toBe(1);
    expect((await queue.state(job.jobId))?.state).toBe('queued');

    await restartWorker(workers.get('worker-a')!);
    expect(await eventually(`job ${job.jobId} done`, stateOf(job.jobId), inState('done'), JOB_WAIT)).toMatchObject({ worker: 'worker-a', attempts: 1 });
    await eventually('work queue empty', queuedJobIds, (ids) => ids.length === 0, SETTLE);
  });
});
