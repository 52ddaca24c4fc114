/**
 * T5.1 baseline latency (seed 003): steady open-model load on a sample of tenants across
 * tiers; p95 < 500 ms, p99 < 1 s, errors < 0.1 % (fixtures/targets.yaml `performance`).
 *   npm run load -- baseline            # or: k6 run -e BASE_URL=… -e TOKENS_FILE=… load/baseline.ts
 */
import { optionsFor, planFor, readEnv, seedTenants, sendMixed, summaryFiles } from './lib/k6.ts';
import type { SummaryMetrics } from './lib/summary.ts';

const plan = planFor('baseline');
const env = readEnv();

export const options = optionsFor(plan);
export function setup(): void { seedTenants(plan, env); }
export default function (): void { sendMixed(plan, env); }
export function handleSummary(data: { metrics: SummaryMetrics }) { return summaryFiles(plan, env, data); }
