import { type Command, Option } from 'commander';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { heldRequestTimeoutMs } from '../../lib/time.ts';
import { table } from '../format.ts';
import { count, number, tenantId } from '../args.ts';
import { EXIT, runWith } from '../command.ts';
import { sendAs } from '../../lib/http.ts';
import { fmtLatency } from '../../lib/latency.ts';
import { TrafficStats, fmtOutcomes, isErrorOutcome } from '../../lib/traffic-stats.ts';
import { tierFor } from './tenants.ts';

interface AffinityOptions { requests: number; minShare: number; spacing: number; timeout: number; tier?: Tier; json?: boolean }

export interface AffinityResult {
  tenant: string;
  tier: Tier;
  loadBalancerUrl: string;
  requests: number;
  outcomes: Record<string, number>;
  /** `x-served-by` → requests it answered. */
  pods: Record<string, number>;
  topPod: string | null;
  /** Requests answered by the most frequent pod over all requests sent (a failed request is not "on the pod"). */
  share: number;
  minShare: number;
  pass: boolean;
  interrupted: boolean;
}

export function registerAffinityCommand(parent: Command): void {
  const cmd = parent.command('verify-affinity')
    .description('send N requests for one tenant through the load balancer and report the share served by one pod (x-served-by); exit 1 below --min-share')
    .argument('<tenant>', 'tenant id', tenantId)
    .option('--requests <n>', 'how many requests', count('--requests', 1, 100_000), 100)
    .option('--min-share <share>', 'the share on the most frequent pod that passes (seed 000: > 95%)', number('--min-share', 0, 1), 0.95)
    .option('--spacing <ms>', 'pause between requests, to spread them over time', number('--spacing', 0, 60_000), 0)
    .option('--timeout <ms>', 'per request (above the 30 s time-to-first-response bound of a pool at zero)', count('--timeout', 1, 300_000), heldRequestTimeoutMs())
    .addOption(new Option('--tier <tier>', 'the tenant\'s tier (default: from fixtures/tenants.yaml, else small)').choices([...TIERS]))
    .option('--json', 'print the result as JSON');
  cmd.action(runWith(async (ctx, tenant: string, o: AffinityOptions) => {
    const target = await ctx.target();
    const tier = tierFor(tenant, o.tier);
    const { loadBalancerUrl } = await target.getEndpoints();
    const who = { tenant, token: await target.mintToken(tenant, tier) };
    const stats = new TrafficStats();
    // One request at a time: affinity is about where each request lands, not about load.
    for (let i = 0; i < o.requests && !ctx.signal.aborted; i++) {
      if (i > 0 && o.spacing > 0) await new Promise((r) => setTimeout(r, o.spacing));
      stats.recordSent('search');
      const r = await sendAs(loadBalancerUrl, who, { method: 'GET', path: '/api/v1/resources?limit=1' }, { timeoutMs: o.timeout, signal: ctx.signal });
      stats.recordOutcome(r.outcome, r.ms, r.pod);
    }
    const s = stats.snapshot();
    const [topPod, top] = Object.entries(s.pods).sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
    const share = s.sent ? top / s.sent : 0;
    const result: AffinityResult = {
      tenant, tier, loadBalancerUrl, requests: s.sent, outcomes: s.outcomes, pods: s.pods, topPod, share, minShare: o.minShare,
      pass: s.sent > 0 && share >= o.minShare, interrupted: ctx.signal.aborted,
    };
    if (o.json) ctx.out(JSON.stringify(result));
    else {
      const unserved = s.sent - Object.values(s.pods).reduce((a, b) => a + b, 0);
      ctx.out(`verify-affinity ${tenant} (${tier}): ${s.sent} requests through ${loadBalancerUrl}${result.interrupted ? ', interrupted' : ''}`);
      ctx.out(table([
        ['  POD', 'REQUESTS', 'SHARE'],
        ...Object.entries(s.pods).sort((a, b) => b[1] - a[1]).map(([pod, n]) => [`  ${pod}`, String(n), `${((100 * n) / s.sent).toFixed(1)}%`]),
        ...(unserved ? [['  (no x-served-by)', String(unserved), `${((100 * unserved) / s.sent).toFixed(1)}%`]] : []),
      ]));
      if (s.errors) ctx.out(`  errors      ${fmtOutcomes(s.outcomes, isErrorOutcome)}`);
      ctx.out(`  latency     ${fmtLatency(s.latency)}`);
      ctx.out(`  ${result.pass ? '✓' : '✗'} ${(100 * share).toFixed(1)}% on ${topPod ?? 'no pod'} (min ${(100 * o.minShare).toFixed(1)}%)`);
    }
    return result.pass ? EXIT.ok : EXIT.failed;
  }, { interrupt: 'summary' }));
}
