import { type Command, Option } from 'commander';
import { loadTenants } from '../../fixtures/tenants.ts';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { table } from '../format.ts';
import { count, number, tenantId } from '../args.ts';
import { EXIT, runWith } from '../command.ts';
import { Latency, fmtLatency, fmtMs } from '../../lib/latency.ts';
import { dbPodSelector } from '../../lib/names.ts';
import { type ProbeResult, type ReplicaLag, probeReplication } from './replication.ts';
import { newRunId, tierFor } from './tenants.ts';

interface ReplicationOptions { allTenants?: boolean; tier?: Tier; maxTenants: number; maxLag: number; timeout: number; json?: boolean }

const fmtLag = (r: ReplicaLag) => (r.lagMs !== undefined ? fmtMs(r.lagMs) : '✗ never');

export function registerReplicationCommand(parent: Command): void {
  const cmd = parent.command('check-replication')
    .description('write a probe through the load balancer and time until each ready database pod can read it (lag per replica); exit 1 if a replica is over --max-lag or never sees it')
    .argument('[tenant]', 'tenant id', tenantId)
    .option('--all-tenants', 'probe each fixture tenant of the tier (fixtures/tenants.yaml), at most --max-tenants')
    .addOption(new Option('--tier <tier>', 'the tier (default: the tenant\'s tier in the fixtures, else small)').choices([...TIERS]))
    .option('--max-tenants <n>', 'with --all-tenants: how many (each one probed becomes an active tenant, which the autoscaler sees)', count('--max-tenants', 1, 100), 10)
    .option('--max-lag <ms>', 'the lag a replica must stay under (seed 000: < 100 ms)', number('--max-lag', 0, 600_000, { exclusiveMin: true }), 100)
    .option('--timeout <ms>', 'how long to wait for the probe on each pod', count('--timeout', 1, 600_000), 5_000)
    .option('--json', 'print the result as JSON');
  cmd.action(runWith(async (ctx, tenant: string | undefined, o: ReplicationOptions) => {
    if (tenant && o.allTenants) return ctx.usage('give a tenant or --all-tenants, not both');
    if (!tenant && !o.allTenants) return ctx.usage('give a tenant, or --all-tenants');
    const tier = tenant ? tierFor(tenant, o.tier) : (o.tier ?? 'small');
    let tenants: string[];
    if (tenant) tenants = [tenant];
    else {
      tenants = loadTenants(tier).slice(0, o.maxTenants).map((t) => t.id);
      if (!tenants.length) return ctx.usage(`fixtures/tenants.yaml has no ${tier} tenant`);
    }

    const target = await ctx.target();
    const { loadBalancerUrl } = await target.getEndpoints();
    const pods = (await target.listPods(dbPodSelector(tier)))
      .filter((p) => p.ready && !p.terminating).sort((a, b) => a.name.localeCompare(b.name));
    if (!pods.length) {
      ctx.err(`no ready database pod of the ${tier} tier: nothing to measure (start some: \`npx percolate test-topology scale db 2\`, or send traffic first)`);
      return EXIT.failed;
    }
    if (pods.length === 1) ctx.err(`only one ready ${tier} database pod (${pods[0]!.name}): no replica to measure, only read-your-write on it`);

    const runId = newRunId('chk');
    const results: ProbeResult[] = [];
    for (const t of tenants) {
      if (ctx.signal.aborted) break;
      const who = { tenant: t, token: await target.mintToken(t, tier) };
      const r = await probeReplication({ loadBalancerUrl, pods, who, probeId: `${runId}-${t}`, timeoutMs: o.timeout, signal: ctx.signal });
      results.push(r);
      if (tenants.length > 1 && !o.json) ctx.err(`  ${t}: ${r.writeStatus === '201' ? `max replica lag ${r.maxReplicaLagMs !== undefined ? fmtMs(r.maxReplicaLagMs) : 'n/a'}` : `write failed: ${r.writeStatus}`}`);
    }

    const failures = results.filter((r) => r.writeStatus !== '201' || r.missing > 0 || (r.maxReplicaLagMs ?? 0) > o.maxLag);
    const lags = new Latency();
    for (const r of results) for (const x of r.replicas) if (x.role === 'replica' && x.lagMs !== undefined) lags.record(x.lagMs);
    const pass = results.length === tenants.length && failures.length === 0;
    if (o.json) {
      ctx.out(JSON.stringify({ command: 'check-replication', tier, runId, loadBalancerUrl, maxLagMs: o.maxLag, pods: pods.map((p) => p.name), results, replicaLag: lags.summary(), pass, interrupted: ctx.signal.aborted }));
    } else if (tenant) {
      const r = results[0];
      if (r) {
        ctx.out(`check-replication ${tenant} (${tier}): probe ${r.probeId} written through the load balancer in ${fmtMs(r.writeMs)} (${r.writeStatus}), served by ${r.origin ?? '?'}`);
        if (r.replicas.length) {
          ctx.out('  lag: from the write\'s acknowledgement until a read straight at the pod found the probe (it appeared within BETWEEN)');
          ctx.out(table([
            ['  POD', 'ZONE', 'ROLE', 'LAG', 'BETWEEN', 'READS', ''],
            ...r.replicas.map((x) => [`  ${x.pod}`, x.zone, x.role, fmtLag(x),
              x.lagMs !== undefined ? `${fmtMs(x.lagLowerBoundMs ?? 0)} – ${fmtMs(x.lagMs)}` : '-', String(x.reads), x.error ?? '']),
          ]));
        }
      }
    } else {
      ctx.out(`check-replication: ${results.length} ${tier} tenants, ${pods.length} ready pods (${pods.map((p) => p.name).join(', ')})`);
      ctx.out(table([
        ['  TENANT', 'ORIGIN', 'MAX REPLICA LAG', 'PER POD'],
        ...results.map((r) => [`  ${r.tenant}`, r.origin ?? `write ${r.writeStatus}`, r.maxReplicaLagMs !== undefined ? fmtMs(r.maxReplicaLagMs) : '-',
          r.replicas.filter((x) => x.role === 'replica').map((x) => `${x.pod} ${fmtLag(x)}`).join(', ')]),
      ]));
      ctx.out(`  replica lag over ${results.length} probes: ${fmtLatency(lags.summary())}`);
    }
    if (!o.json) {
      const worst = Math.max(0, ...results.map((r) => r.maxReplicaLagMs ?? 0));
      ctx.out(pass ? `  ✓ every replica under ${fmtMs(o.maxLag)}${results.some((r) => r.maxReplicaLagMs !== undefined) ? ` (max ${fmtMs(worst)})` : ''}`
        : `  ✗ ${failures.length} of ${results.length} probes failed: a write refused, a replica that never saw it, or lag over ${fmtMs(o.maxLag)}${ctx.signal.aborted ? ' (interrupted)' : ''}`);
    }
    return pass ? EXIT.ok : EXIT.failed;
  }, { interrupt: 'summary' }));
}

