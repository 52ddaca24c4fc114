/**
 * What every T5 script does in k6: the target and tokens from `__ENV`, the plan's
 * scenario as k6 options (arrival-rate executors: an open model), seed 000's request mix
 * with checks, and a `handleSummary` that writes the run's LoadSummary (JSON and text)
 * into reports/.
 *
 * Environment: BASE_URL (the database load balancer), TOKENS_FILE (JSON object tenant →
 * bearer token, as `npm run load` writes it) or TOKENS (the same JSON inline),
 * PERCOLATE_PROFILE (fast | realistic; default fast), SUMMARY_DIR (default reports/load),
 * RUN_TAG (marks what the run writes), SUMMARY_STDOUT=json (also print the summary as one
 * JSON line: a k6-operator runner's files are gone with its pod, its log is read back).
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import type { Options, Scenario } from 'k6/options';
import { requestFor, seedRequest, tenantFor } from './mix.ts';
import { type LoadPlan, type ScriptName, type Tenant, isProfile, loadPlan, peakRate, phaseAt, planDurationS } from './scenarios.ts';
import { SUMMARY_LINE_PREFIX, type SummaryMetrics, summarize, summaryText } from './summary.ts';

export interface K6Env {
  baseUrl: string;
  tokens: Record<string, string>;
  summaryDir: string;
  runTag: string;
}

const profileName = __ENV.PERCOLATE_PROFILE ?? 'fast';
if (!isProfile(profileName)) throw new Error(`PERCOLATE_PROFILE must be fast or realistic, got "${profileName}"`);

/** The plan of a script for the profile in PERCOLATE_PROFILE. */
export const planFor = (script: ScriptName): LoadPlan => loadPlan(script, profileName);

/** Reads __ENV; call in the init context (k6 allows `open()` only there). */
export function readEnv(): K6Env {
  const baseUrl = (__ENV.BASE_URL ?? '').replace(/\/$/, '');
  if (!baseUrl) throw new Error('BASE_URL is not set: run through `npm run load -- <script>`, or pass -e BASE_URL=http://… -e TOKENS_FILE=…');
  const raw = __ENV.TOKENS ?? (__ENV.TOKENS_FILE ? open(__ENV.TOKENS_FILE) : '');
  if (!raw) throw new Error('TOKENS_FILE (or TOKENS) is not set: `npm run load` mints the tokens and passes the file');
  return { baseUrl, tokens: JSON.parse(raw) as Record<string, string>, summaryDir: __ENV.SUMMARY_DIR ?? 'reports/load', runTag: __ENV.RUN_TAG ?? 'k6' };
}

const SUMMARY_STATS = ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)', 'count'];

/** k6 options for a load plan: one arrival-rate scenario, the plan's thresholds. */
export function optionsFor(plan: LoadPlan): Options {
  const peak = peakRate(plan);
  const constant = plan.stages.length === 1;
  const scenario: Scenario = constant
    ? { executor: 'constant-arrival-rate', rate: plan.startRate, timeUnit: '1s', duration: `${plan.stages[0]!.durationS}s`, preAllocatedVUs: Math.max(10, Math.ceil(peak / 2)), maxVUs: Math.max(50, peak * 2) }
    : {
      executor: 'ramping-arrival-rate', startRate: plan.startRate, timeUnit: '1s',
      stages: plan.stages.map((s) => ({ target: s.target, duration: `${s.durationS}s` })),
      preAllocatedVUs: Math.max(10, Math.ceil(peak / 2)), maxVUs: Math.max(50, peak * 2),
    };
  return {
    scenarios: { [plan.script]: scenario },
    thresholds: plan.thresholds,
    summaryTrendStats: SUMMARY_STATS,
    // Tags carry tenant tiers and phases, not URLs: one time series per resource id would explode.
    systemTags: ['status', 'method', 'scenario', 'check', 'error', 'expected_response'],
  };
}

function headersFor(env: K6Env, tenant: Tenant): Record<string, string> {
  const token = env.tokens[tenant.id];
  if (!token) throw new Error(`no token for ${tenant.id} in TOKENS_FILE`);
  return { authorization: `Bearer ${token}`, 'x-tenant-id': tenant.id, 'content-type': 'application/json' };
}

/** setup(): the resource every read asks for, per tenant (idempotent: a put by id). */
export function seedTenants(plan: LoadPlan, env: K6Env): void {
  for (const tenant of plan.tenants) {
    const req = seedRequest(tenant);
    const res = http.request(req.method, `${env.baseUrl}${req.path}`, req.body ?? null, { headers: headersFor(env, tenant), tags: { op: 'seed', tier: tenant.tier } });
    if (res.status >= 300) throw new Error(`seeding ${tenant.id} failed: ${res.status} ${String(res.body).slice(0, 200)}`);
  }
}

/** One arrival: request i of the mix, tagged with its tenant's tier, its operation and its phase. */
export function sendMixed(plan: LoadPlan, env: K6Env): void {
  const i = exec.scenario.iterationInTest;
  const tenant = tenantFor(i, plan.tenants);
  const req = requestFor(i, tenant, env.runTag);
  const phase = phaseAt(plan, (Date.now() - exec.scenario.startTime) / 1000);
  const res = http.request(req.method, `${env.baseUrl}${req.path}`, req.body ?? null, {
    headers: headersFor(env, tenant), tags: { op: req.op, tier: tenant.tier, phase }, timeout: '10s',
  });
  check(res, {
    'status is 2xx': (r) => r.status >= 200 && r.status < 300,
    'served by a pod of the tenant\'s tier': (r) => String(r.headers['X-Served-By'] ?? '').startsWith(`percolate-db-${tenant.tier}-`),
  });
}

/** handleSummary(): the LoadSummary as JSON and text in SUMMARY_DIR, the text on stdout too. */
export function summaryFiles(plan: LoadPlan, env: K6Env, data: { metrics: SummaryMetrics; state?: { testRunDurationMs?: number } }): Record<string, string> {
  const durationSeconds = (data.state?.testRunDurationMs ?? planDurationS(plan) * 1000) / 1000;
  const summary = summarize(plan, data.metrics, { executor: 'k6', baseUrl: env.baseUrl, durationSeconds });
  const text = summaryText(summary);
  return {
    [`${env.summaryDir}/${plan.script}.json`]: JSON.stringify(summary, null, 2),
    [`${env.summaryDir}/${plan.script}.txt`]: text,
    stdout: __ENV.SUMMARY_STDOUT === 'json' ? `${text}${SUMMARY_LINE_PREFIX}${JSON.stringify(summary)}\n` : text,
  };
}
