/**
 * Running the load scripts with a real k6, shared by `npm run load` and the
 * t5-performance suite: finding the binary, minting tokens, bringing tiers to zero for a
 * cold start, and running one script to its LoadSummary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterTarget } from '../../cluster/target.ts';
import { dbWorkload } from '../../lib/names.ts';
import type { LoadPlan, Tenant, Tier } from '../lib/scenarios.ts';
import type { LoadSummary } from '../lib/summary.ts';
import { LOAD_DIR } from './bundle.ts';

/** K6_BINARY, else `k6` on PATH; undefined when neither runs. */
export function findK6(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidate = env.K6_BINARY || 'k6';
  const probe = spawnSync(candidate, ['version'], { stdio: 'ignore', env });
  return probe.status === 0 ? candidate : undefined;
}

export async function mintTokens(target: Pick<ClusterTarget, 'mintToken'>, tenants: readonly Tenant[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(tenants.map(async (t) => [t.id, await target.mintToken(t.id, t.tier)] as const)));
}

/** Holds each tier's ScaledObject at 0 until its pods are gone, then gives it back to the autoscaler. */
export async function bringTiersToZero(target: ClusterTarget, tiers: readonly Tier[], timeoutMs: number): Promise<void> {
  const objects = await target.listScaledObjects();
  for (const tier of tiers) {
    const so = objects.find((o) => o.target.name === dbWorkload(tier));
    if (!so) throw new Error(`no ScaledObject scales ${dbWorkload(tier)} on the ${target.kind} target`);
    await target.pauseAutoscaling(so.name, 0);
    await target.waitForReplicasReady(so.target.name, 0, { timeoutMs });
    await target.resumeAutoscaling(so.name);
  }
}

export interface K6Run { summary: LoadSummary; pointsFile: string; exitCode: number; output: string }

/** `k6 run load/<script>.ts` against a load balancer; resolves with the summary handleSummary wrote. */
export async function runK6(k6: string, plan: LoadPlan, opts: { baseUrl: string; tokens: Record<string, string>; dir: string; runTag: string }): Promise<K6Run> {
  mkdirSync(opts.dir, { recursive: true });
  const tokensFile = join(opts.dir, `tokens-${plan.script}.json`);
  writeFileSync(tokensFile, JSON.stringify(opts.tokens), { mode: 0o600 });
  const pointsFile = join(opts.dir, `${plan.script}.points.json`);
  const child = spawn(k6, ['run', '--quiet', '--out', `json=${pointsFile}`, join(LOAD_DIR, `${plan.script}.ts`)], {
    env: { ...process.env, BASE_URL: opts.baseUrl, TOKENS_FILE: tokensFile, PERCOLATE_PROFILE: plan.profile, SUMMARY_DIR: opts.dir, RUN_TAG: opts.runTag },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exitCode = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const summaryFile = join(opts.dir, `${plan.script}.json`);
  if (!existsSync(summaryFile)) throw new Error(`k6 exited ${exitCode} without writing ${summaryFile}:\n${output.slice(-2000)}`);
  return { summary: JSON.parse(readFileSync(summaryFile, 'utf8')) as LoadSummary, pointsFile, exitCode, output };
}

/**
 * k6's JSON output as (time, latency, failed) per request, to compute what its end-of-test
 * summary cannot: the time a spike took to recover from.
 */
export function requestPoints(pointsFile: string): Array<{ t: number; ms: number; failed: boolean }> {
  const out = new Map<string, { t: number; ms: number; failed: boolean }>();
  const lines = readFileSync(pointsFile, 'utf8').split('\n');
  const failed: Array<{ t: number; value: number }> = [];
  for (const line of lines) {
    if (!line.startsWith('{"metric":"http_req_')) continue;
    const p = JSON.parse(line) as { type: string; metric: string; data: { time: string; value: number; tags?: Record<string, string> } };
    if (p.type !== 'Point' || p.data.tags?.op === 'seed') continue;
    const t = Date.parse(p.data.time);
    if (p.metric === 'http_req_duration') out.set(`${t}:${out.size}`, { t, ms: p.data.value, failed: false });
    else if (p.metric === 'http_req_failed') failed.push({ t, value: p.data.value });
  }
  const points = [...out.values()].sort((a, b) => a.t - b.t);
  // Duration and failed points of one request share a timestamp; mark failures by it.
  const failedAt = new Set(failed.filter((f) => f.value === 1).map((f) => f.t));
  for (const p of points) if (failedAt.has(p.t)) p.failed = true;
  return points;
}
