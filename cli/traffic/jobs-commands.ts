import { openAsBlob, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Command, Option } from 'commander';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { table } from '../format.ts';
import { count, seconds, tenantId } from '../args.ts';
import { type CommandContext, EXIT, runWith } from '../command.ts';
import { type TrackedJob, type UploadFile, countStates, generatedFile, isFinal, latencyOf, pollOnce, upload } from './jobs.ts';
import { fmtLatency, fmtMs } from '../../lib/latency.ts';
import { newRunId, tierFor } from './tenants.ts';

interface JobOptions { tenant: string; tier?: Tier; wait?: boolean; waitTimeout: number; poll: number; timeout: number; json?: boolean }

function jobOptions(cmd: Command, waitByDefault: boolean): Command {
  return cmd
    .requiredOption('--tenant <tenant>', 'the tenant the jobs belong to (the token carries it; the gateway derives X-Tenant-ID)', tenantId)
    .addOption(new Option('--tier <tier>', 'the tenant\'s tier (default: from fixtures/tenants.yaml, else small)').choices([...TIERS]))
    .option(waitByDefault ? '--no-wait' : '--wait', waitByDefault ? 'return once the gateway has queued the job' : 'poll GET /jobs/{id} until every job is done or failed')
    .option('--wait-timeout <seconds>', 'longest wait for the jobs to finish', seconds('--wait-timeout', 86_400), 300)
    .option('--poll <ms>', 'interval of GET /jobs/{id} while waiting (the resolution of job latency)', count('--poll', 10, 60_000), 200)
    .option('--timeout <ms>', 'per request', count('--timeout', 1, 600_000), 60_000)
    .option('--json', 'print the summary as JSON');
}

async function submitAndWait(ctx: CommandContext, command: string, files: Array<() => Promise<UploadFile>>, o: JobOptions, runId: string): Promise<number> {
  const target = await ctx.target();
  const tier = tierFor(o.tenant, o.tier);
  const { gatewayUrl } = await target.getEndpoints();
  const who = { tenant: o.tenant, token: await target.mintToken(o.tenant, tier) };
  const started = performance.now();
  const elapsed = () => `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
  ctx.err(`${command}: ${files.length} upload${files.length === 1 ? '' : 's'} for ${o.tenant} (${tier}) to ${gatewayUrl} (run ${runId})`);

  const jobs: TrackedJob[] = [];
  for (const next of files) {
    if (ctx.signal.aborted) break;
    const job = await upload(gatewayUrl, who, await next(), o.timeout, ctx.signal);
    jobs.push(job);
    ctx.err(`${elapsed()} ${job.file} (${job.size} B): ${job.jobId ? `202 job ${job.jobId}` : `${job.upload} ${job.error ?? ''}`} in ${fmtMs(job.uploadMs)}`);
  }

  let timedOut = false;
  if (o.wait && !ctx.signal.aborted) {
    const deadline = performance.now() + o.waitTimeout * 1000;
    let lastLine = 0;
    while (!jobs.every(isFinal) && !ctx.signal.aborted) {
      if (performance.now() >= deadline) { timedOut = true; break; }
      await new Promise((r) => setTimeout(r, o.poll));
      await pollOnce(gatewayUrl, who, jobs, o.timeout, ctx.signal);
      if (performance.now() - lastLine >= 2_000 || jobs.every(isFinal)) {
        lastLine = performance.now();
        ctx.err(`${elapsed()} ${Object.entries(countStates(jobs)).map(([s, n]) => `${s} ${n}`).join('  ')}`);
      }
    }
  }

  const states = countStates(jobs);
  const latency = latencyOf(jobs);
  const failed = jobs.filter((j) => !j.jobId || j.state === 'failed').length;
  const unfinished = o.wait ? jobs.filter((j) => !isFinal(j)).length : 0;
  const summary = {
    command, runId, tenant: o.tenant, tier, gatewayUrl, waited: Boolean(o.wait), interrupted: ctx.signal.aborted, timedOut,
    submitted: jobs.length, accepted: jobs.filter((j) => j.jobId).length, states, failed, unfinished,
    latencyMs: latency, pollIntervalMs: o.poll,
    jobs: jobs.map(({ acceptedAt: _a, ...j }) => j),
  };
  if (o.json) ctx.out(JSON.stringify(summary));
  else {
    ctx.out(`${command} ${o.tenant}: ${summary.submitted} submitted, ${summary.accepted} accepted${o.wait ? `, ${states.done ?? 0} done, ${states.failed ?? 0} failed, ${unfinished} unfinished` : ''}${summary.interrupted ? ', interrupted' : ''}${timedOut ? `, gave up after ${o.waitTimeout} s` : ''}`);
    if (jobs.length <= 20) {
      ctx.out(table([
        ['  JOB', 'FILE', 'STATE', 'ATTEMPTS', 'LATENCY', 'RESULT'],
        ...jobs.map((j) => [`  ${j.jobId ?? '-'}`, j.file, j.jobId ? (j.state ?? '?') : `rejected ${j.upload}`, String(j.attempts ?? '-'),
          j.latencyMs !== undefined ? fmtMs(j.latencyMs) : '-', j.resultId ?? j.error ?? '']),
      ]));
    }
    if (o.wait) ctx.out(`  latency     ${fmtLatency(latency)} (202 → done/failed, polled every ${o.poll} ms)`);
  }
  return failed || unfinished ? EXIT.failed : EXIT.ok;
}

export function registerJobCommands(parent: Command): void {
  const jobs = parent.command('submit-jobs')
    .description('POST /upload generated documents to the gateway --count times (each queues a parse job); with --wait, poll each job until done or failed')
    .option('--count <n>', 'how many jobs', count('--count', 1, 10_000), 10)
    .option('--size <bytes>', 'size of each generated document', count('--size', 1, 64 * 1024 * 1024), 4096);
  jobOptions(jobs, false).action(runWith(async (ctx, o: JobOptions & { count: number; size: number }) => {
    const runId = newRunId('job');
    const files = Array.from({ length: o.count }, (_, i) => async () => generatedFile(runId, i, o.size));
    return submitAndWait(ctx, 'submit-jobs', files, o, runId);
  }, { interrupt: 'summary' }));

  const one = parent.command('submit-upload')
    .description('POST one file to the gateway (as curl -F file=@FILE) and wait until its job is done or failed')
    .requiredOption('--file <path>', 'the file to upload (streamed, never read whole into memory)');
  jobOptions(one, true).action(runWith(async (ctx, o: JobOptions & { file: string }) => {
    const path = resolve(o.file);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch (err) {
      return ctx.usage(`--file ${o.file} cannot be read: ${(err as Error).message}`);
    }
    if (!st.isFile()) return ctx.usage(`--file ${o.file} is not a regular file`);
    const size = st.size;
    const runId = newRunId('upload');
    ctx.err(`uploading ${path} (${size} B)`);
    return submitAndWait(ctx, 'submit-upload', [async () => ({ name: basename(path), blob: await openAsBlob(path) })], o, runId);
  }, { interrupt: 'summary' }));
}
