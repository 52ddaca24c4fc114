/**
 * T5.4 cold start (seed 003): the first request of a tenant of each tier while that tier's
 * database pool is at zero pods — held by the activator, answered once a pod is ready.
 * p95 of the time to first response < 30 s (fixtures/targets.yaml `performance`).
 *
 * Precondition: every tier is at zero (idle past its cooldown). k6 cannot scale a cluster,
 * so one run measures one cold start per tier, all tiers at once; `npm run load --
 * cold-start` and the t5-performance suite bring the tiers to zero before each run and
 * repeat it `iterationsPerTier` times (fixtures/load-scenarios.yaml).
 */
import { check } from 'k6';
import http from 'k6/http';
import { Trend } from 'k6/metrics';
import type { Options, Scenario } from 'k6/options';
import { planFor, readEnv, summaryFiles } from './lib/k6.ts';
import type { SummaryMetrics } from './lib/summary.ts';

const plan = planFor('cold-start');
const env = readEnv();
const ttfr = new Trend('ttfr', true);

const scenarios: Record<string, Scenario> = {};
for (const tenant of plan.tenants) {
  scenarios[`cold-${tenant.tier}`] = { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: `${4 * plan.coldStart!.boundSeconds}s`, env: { TENANT: tenant.id, TIER: tenant.tier } };
}

export const options: Options = { scenarios, thresholds: plan.thresholds, summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)', 'count'] };

export default function (): void {
  const tenant = plan.tenants.find((t) => t.id === __ENV.TENANT)!;
  const started = Date.now();
  const res = http.get(`${env.baseUrl}/api/v1/resources?limit=1`, {
    headers: { authorization: `Bearer ${env.tokens[tenant.id]}`, 'x-tenant-id': tenant.id }, tags: { tier: tenant.tier }, timeout: `${2 * plan.coldStart!.boundSeconds}s`,
  });
  ttfr.add(Date.now() - started, { tier: tenant.tier });
  check(res, {
    'first request answered 200': (r) => r.status === 200,
    'served by a pod of the tier': (r) => String(r.headers['X-Served-By'] ?? '').startsWith(`percolate-db-${tenant.tier}-`),
  });
}

export function handleSummary(data: { metrics: SummaryMetrics }) { return summaryFiles(plan, env, data); }
