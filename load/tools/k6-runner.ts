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
import { LOAD_DIR, bundleScript } from './bundle.ts';

/** K6_BINARY, else `k6` on PATH; undefined when neither runs. */
export function findK6(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidate = env.K6_BINARY || 'k6';
  const probe = spawnSync(candidate, ['version'], { stdio: 'ignore', env });
  return probe.status === 0 ? candidate : undefined;
}

/** k6 reads TypeScript without a flag from v0.57. */
const NATIVE_TYPESCRIPT_MINOR = 57;

/** The release `k6 version` prints ("k6 v0.48.0 (…)"); undefined when it says none. */
export function k6Release(k6: string, env: NodeJS.ProcessEnv = process.env): [number, number, number] | undefined {
  const out = spawnSync(k6, ['version'], { encoding: 'utf8', env }).stdout ?? '';
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(out);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * What to hand `k6 run`: the TypeScript script where k6 reads TypeScript itself (v0.57 on),
 * else the script's ES2017 bundle written into `dir` — the same script, for an older k6.
 */
export async function k6Script(k6: string, script: string, dir: string): Promise<{ file: string; form: string }> {
  const release = k6Release(k6);
  const version = release ? `v${release.join('.')}` : 'unknown version';
  if (!release || release[0] >= 1 || release[1] >= NATIVE_TYPESCRIPT_MINOR) return { file: join(LOAD_DIR, `${script}.ts`), form: `k6 ${version}, TypeScript` };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${script}.bundle.js`);
  writeFileSync(file, await bundleScript(script));
  return { file, form: `k6 ${version} (before native TypeScript), ES2017 bundle` };
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

export interface K6Run { summary: LoadSummary; pointsFile: string; exitCode: number; output: string; /** Which k6 ran which form of the script. */ form: string }

/** `k6 run load/<script>.ts` against a load balancer; resolves with the summary handleSummary wrote. */
export async function runK6(k6: string, plan: LoadPlan, opts: { baseUrl: string; tokens: Record<string, string>; dir: string; runTag: string }): Promise<K6Run> {
  mkdirSync(opts.dir, { recursive: true });
  const tokensFile = join(opts.dir, `tokens-${plan.script}.json`);
  writeFileSync(tokensFile, JSON.stringify(opts.tokens), { mode: 0o600 });
  const pointsFile = join(opts.dir, `${plan.script}.points.json`);
  const { file, form } = await k6Script(k6, plan.script, opts.dir);
  const child = spawn(k6, ['run', '--quiet', '--out', `json=${pointsFile}`, file], {
    env: { ...process.env, BASE_URL: opts.baseUrl, TOKENS_FILE: tokensFile, PERCOLATE_PROFILE: plan.profile, SUMMARY_DIR: opts.dir, RUN_TAG: opts.runTag },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exitCode = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const summaryFile = join(opts.dir, `${plan.script}.json`);
  if (!existsSync(summaryFile)) throw new Error(`k6 exited ${exitCode} without writing ${summaryFile}:\n${output.slice(-2000)}`);
  return { summary: JSON.parse(readFileSync(summaryFile, 'utf8')) as LoadSummary, pointsFile, exitCode, output, form };
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

export interface SecondBucket { second: number; requests: number; errors: number; slow: number }

/**
 * Requests per second of the run by the second they started in: k6 stamps a request's
 * points with its end, so its start is `t − ms`, and the run's first second is that of the
 * earliest start (not of the first request to end: a slow first request starts before it).
 */
export function requestTimeline(points: ReadonlyArray<{ t: number; ms: number; failed: boolean }>, slowMs: number): SecondBucket[] {
  const timeline: SecondBucket[] = [];
  if (points.length === 0) return timeline;
  const t0 = Math.min(...points.map((p) => p.t - p.ms));
  for (const p of points) {
    const s = Math.floor((p.t - p.ms - t0) / 1000);
    while (timeline.length <= s) timeline.push({ second: timeline.length, requests: 0, errors: 0, slow: 0 });
    const b = timeline[s]!;
    b.requests += 1;
    if (p.failed) b.errors += 1;
    if (p.ms >= slowMs) b.slow += 1;
  }
  return timeline;
}
