/**
 * T5.5 concurrent tenants (seed 003): all 100 tenants of fixtures/tenants.yaml (small 70,
 * medium 25, large 5) active at once; p95 < 750 ms, errors < 0.5 %, per tier as well.
 *   npm run load -- concurrent-tenants
 */
import { optionsFor, planFor, readEnv, seedTenants, sendMixed, summaryFiles } from './lib/k6.ts';
import type { SummaryMetrics } from './lib/summary.ts';

const plan = planFor('concurrent-tenants');
const env = readEnv();

export const options = optionsFor(plan);
export function setup(): void { seedTenants(plan, env); }
export default function (): void { sendMixed(plan, env); }
export function handleSummary(data: { metrics: SummaryMetrics }) { return summaryFiles(plan, env, data); }
