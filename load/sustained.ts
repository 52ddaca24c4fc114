/**
 * T5.3 sustained load (seed 003: 24 h on the weekly schedule, realistic profile; a bounded
 * soak on fast): the baseline SLOs held all along; a run that breaks them aborts early.
 *   npm run load -- sustained            # or: k6 run -e BASE_URL=… -e TOKENS_FILE=… load/sustained.ts
 */
import { optionsFor, planFor, readEnv, seedTenants, sendMixed, summaryFiles } from './lib/k6.ts';
import type { SummaryMetrics } from './lib/summary.ts';

const plan = planFor('sustained');
const env = readEnv();

export const options = optionsFor(plan);
export function setup(): void { seedTenants(plan, env); }
export default function (): void { sendMixed(plan, env); }
export function handleSummary(data: { metrics: SummaryMetrics }) { return summaryFiles(plan, env, data); }
