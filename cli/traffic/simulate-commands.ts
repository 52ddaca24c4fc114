import { type Command, Option } from 'commander';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { count, number, seconds, tenantId } from '../args.ts';
import { type CommandContext, EXIT, runWith } from '../command.ts';
import { heldRequestTimeoutMs } from '../../lib/time.ts';
import { DEFAULT_MIX, type Mix, parseMix } from './mix.ts';
import { formatSummary, progressLine, summaryOf } from './simulate-report.ts';
import { simulate } from './simulation.ts';
import { firstTenants, newRunId, tierFor } from './tenants.ts';

interface TrafficOptions {
  duration: number;
  rate: number;
  mix: Mix;
  maxRequests: number;
  maxInFlight: number;
  timeout: number;
  progress: number;
  json?: boolean;
}

/** Beyond this the generator, not the cluster, would be what a run measures (2 cores). */
const MAX_TOTAL_RATE = 5_000;

function trafficOptions(cmd: Command, rateHelp: string, defaultRate: number): Command {
  return cmd
    .option('--duration <seconds>', 'how long to send', seconds('--duration', 86_400), 60)
    .option('--rate <n>', rateHelp, number('--rate', 0, 1_000, { exclusiveMin: true }), defaultRate)
    .addOption(new Option('--mix <weights>', 'operation weights by name; operations left out weigh 0').argParser(parseMix)
      .default(DEFAULT_MIX, Object.entries(DEFAULT_MIX).map(([op, w]) => `${op}=${w}`).join(',')))
    .option('--max-requests <n>', 'upper bound on the requests of one tenant', count('--max-requests', 1, 10_000_000), 1_000_000)
    .option('--max-in-flight <n>', 'unanswered requests (all tenants) beyond which arrivals are dropped and counted', count('--max-in-flight', 1, 4_000), 1_000)
    // Above the time-to-first-response bound (30 s): a pool at zero holds the first requests that long.
    .option('--timeout <ms>', 'a request unanswered this long counts as "timeout"', count('--timeout', 1, 300_000), heldRequestTimeoutMs())
    .option('--progress <seconds>', 'seconds between progress lines', number('--progress (seconds)', 0.1, 3_600), 5)
    .option('--json', 'print the summary as JSON on stdout');
}

async function run(ctx: CommandContext, command: string, tenants: Array<{ tenant: string; tier: Tier }>, o: TrafficOptions): Promise<number> {
  if (tenants.length * o.rate > MAX_TOTAL_RATE) return ctx.usage(`${tenants.length} tenants × ${o.rate}/s is above ${MAX_TOTAL_RATE} requests/s, more than one machine's generator measures honestly`);
  const target = await ctx.target();
  const { loadBalancerUrl } = await target.getEndpoints();
  const withTokens = await Promise.all(tenants.map(async (t) => ({ ...t, token: await target.mintToken(t.tenant, t.tier) })));
  const runId = newRunId('sim');
  const label = tenants.length === 1 ? tenants[0]!.tenant : `${tenants.length} tenants`;
  ctx.err(`${command}: ${label} at ${o.rate}/s${tenants.length > 1 ? ' each' : ''} for ${o.duration} s through ${loadBalancerUrl} (run ${runId}); Ctrl-C stops with a summary`);
  const result = await simulate({
    loadBalancerUrl, tenants: withTokens, rate: o.rate, durationMs: o.duration * 1000, maxRequestsPerTenant: o.maxRequests,
    maxInFlight: o.maxInFlight, timeoutMs: o.timeout, mix: o.mix, runId, signal: ctx.signal, graceMs: 2_000,
    progressEveryMs: o.progress * 1000, onProgress: (p) => ctx.err(progressLine(p, label)),
  });
  const summary = summaryOf(command, runId, loadBalancerUrl, o.rate, o.duration, result, new Map(tenants.map((t) => [t.tenant, t.tier])));
  ctx.out(o.json ? JSON.stringify(summary) : formatSummary(summary));
  return summary.total.serverErrors ? EXIT.failed : EXIT.ok;
}

export function registerSimulateCommands(parent: Command): void {
  const one = parent.command('simulate-tenant')
    .description('open-model mixed traffic (reads, searches, writes, entity merges, moments) for one tenant through the load balancer; exit 1 on any 5xx or failed request')
    .argument('<tenant>', 'tenant id', tenantId)
    .addOption(new Option('--tier <tier>', 'the tenant\'s tier (default: its tier in fixtures/tenants.yaml, else small)').choices([...TIERS]));
  trafficOptions(one, 'requests per second', 10).action(runWith(async (ctx, tenant: string, o: TrafficOptions & { tier?: Tier }) =>
    run(ctx, 'simulate-tenant', [{ tenant, tier: tierFor(tenant, o.tier) }], o), { interrupt: 'summary' }));

  const many = parent.command('simulate-tenants')
    .description('simulate-tenant for several tenants at once: the first N fixture tenants of a tier, or a list')
    .option('--tenants <n>', 'how many of the tier\'s fixture tenants (fixtures/tenants.yaml, in file order)', count('--tenants', 1, 100), 5)
    .addOption(new Option('--tier <tier>', 'the tier to take them from').choices([...TIERS]).default('small'))
    .option('--tenant-ids <ids>', 'comma-separated tenant ids instead (tiers from the fixtures, else --tier)');
  trafficOptions(many, 'requests per second, per tenant', 5).action(runWith(async (ctx, o: TrafficOptions & { tenants: number; tier: Tier; tenantIds?: string }) => {
    let ids: string[];
    if (o.tenantIds !== undefined) {
      ids = [...new Set(o.tenantIds.split(',').map((s) => s.trim()).filter(Boolean))];
      if (!ids.length) return ctx.usage('--tenant-ids lists no tenant');
      for (const id of ids) { try { tenantId(id); } catch (e) { return ctx.usage(`--tenant-ids: "${id}": ${(e as Error).message}`); } }
    } else {
      const picked = firstTenants(o.tier, o.tenants);
      if ('error' in picked) return ctx.usage(picked.error);
      ids = picked.tenants;
    }
    const explicit = o.tenantIds !== undefined;
    return run(ctx, 'simulate-tenants', ids.map((tenant) => ({ tenant, tier: explicit ? tierFor(tenant, undefined, o.tier) : o.tier })), o);
  }, { interrupt: 'summary' }));
}
