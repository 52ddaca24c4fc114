/**
 * T5.2 spike (seed 003 "0s:10,30s:100,60s:10"): the base rate, a ramp to 10× that, held,
 * back down, then a recovery at base. No errors during the spike (the run aborts when there
 * are), p95 during and after it within the SLO. Requests are tagged warm | spike | recovery.
 *   npm run load -- spike
 */
import { optionsFor, planFor, readEnv, seedTenants, sendMixed, summaryFiles } from './lib/k6.ts';
import type { SummaryMetrics } from './lib/summary.ts';

const plan = planFor('spike');
const env = readEnv();

export const options = optionsFor(plan);
export function setup(): void { seedTenants(plan, env); }
export default function (): void { sendMixed(plan, env); }
export function handleSummary(data: { metrics: SummaryMetrics }) { return summaryFiles(plan, env, data); }
