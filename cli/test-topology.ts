import { Command, Option } from 'commander';
import { UpAborted, UpError, downLocalCluster } from '../cluster/local/control/launcher.ts';
import { DB_SMALL as DB_WORKLOAD, GATEWAY as GATEWAY_WORKLOAD, WORKER_SMALL as WORKER_WORKLOAD } from '../lib/names.ts';
import type { LocalClusterTarget } from '../cluster/local/target/client.ts';
import { NoClusterError } from '../cluster/target.ts';
import { type LocalCluster, attachOrStartLocal } from '../cluster/targets.ts';
import { TIERS, type Tier } from '../reference-services/shared/tenant-id.ts';
import { count, tenantId } from './args.ts';
import { EXIT, UsageError, runWith } from './command.ts';
import { PROFILE_NAMES, type ProfileName, REPLICAS_READY_TIMEOUT_MS, UP_TIMEOUT_MS } from '../lib/time.ts';
import { formatEndpoints, formatStatus, ms } from './format.ts';
import { registerChaosCommands } from './chaos-commands.ts';
import { registerIssuerCommands } from './issuer-commands.ts';
import { pausedLine, registerAutoscalingCommands } from './autoscaling-commands.ts';
import { registerTrafficCommands } from './traffic/index.ts';

const ALIASES: Record<string, string> = {
  db: DB_WORKLOAD, 'db-small': DB_WORKLOAD, database: DB_WORKLOAD,
  worker: WORKER_WORKLOAD, workers: WORKER_WORKLOAD, gateway: GATEWAY_WORKLOAD, gateways: GATEWAY_WORKLOAD,
};

interface UpOptions { profile?: ProfileName; dbReplicas?: number; workers?: number; gateways?: number; timeout: number }

export function testTopologyCommand(): Command {
  const cmd = new Command('test-topology')
    .description('the embedded local cluster: nats-server, Prometheus, HAProxy and the reference services as pods')
    .option('--state-dir <dir>', 'where the running cluster is recorded (default .percolate/local, or $PERCOLATE_LOCAL_STATE_DIR)');

  cmd.command('up')
    .description('start the local cluster; returns once everything is ready, leaving it running')
    .addOption(new Option('--profile <profile>', 'time profile (manifests overlay) (default: $PERCOLATE_PROFILE, else fast)').choices([...PROFILE_NAMES]))
    .option('--db-replicas <n>', 'hold percolate-db-small at n pods: its ScaledObject starts paused at n (default: the autoscaler owns the count, 0 until the first request)', count('--db-replicas', 0, 100))
    .option('--workers <n>', 'hold the small tier\'s workers (percolate-worker-small) at n pods: their ScaledObject starts paused at n (default: the autoscaler owns the count, 0 until jobs queue)', count('--workers', 0, 100))
    .option('--gateways <n>', 'gateway pods to start with (default: the manifests\' replicas)', count('--gateways', 0, 100))
    .option('--timeout <ms>', 'give up (and tear down) after this long', count('--timeout', 1, 3_600_000), UP_TIMEOUT_MS)
    .action(runWith(async (ctx, o: UpOptions) => {
      const profile = o.profile ?? ctx.config.profile;
      let cluster: LocalCluster;
      try {
        cluster = await attachOrStartLocal({
          stateDir: ctx.stateDir, profile, owner: null, signal: ctx.signal, timeoutMs: o.timeout,
          replicas: Object.fromEntries(([[DB_WORKLOAD, o.dbReplicas], [WORKER_WORKLOAD, o.workers], [GATEWAY_WORKLOAD, o.gateways]] as const)
            .filter(([, n]) => n !== undefined)) as Record<string, number>,
          onStarting: () => ctx.err(`starting the local cluster (profile ${profile}, state dir ${ctx.stateDir})`),
          onProgress: (e) => ctx.err(`  ✓ ${e.step.padEnd(26)} ${ms(e.ms).padStart(8)}  ${e.detail ?? ''}`),
        });
      } catch (e) {
        if (e instanceof UpAborted) {
          ctx.err(`  ${e.message}`);
          return EXIT.interrupted;
        }
        if (e instanceof UpError) {
          ctx.err(`  ✗ ${e.message}`);
          ctx.err(`    component: ${e.component}`);
          ctx.err(`    log: ${e.log}`);
          return EXIT.failed;
        }
        throw e;
      }
      const { state } = cluster.target;
      if (!cluster.started) ctx.err(`already running (started ${new Date(state.startedAt).toISOString()}, profile ${state.profile}); \`percolate test-topology down\` first to change its options`);
      else ctx.err(`ready in ${ms(cluster.ms)}`);
      for (const so of (await cluster.target.listScaledObjects()).filter((s) => s.paused)) ctx.err(pausedLine(so));
      ctx.out(formatEndpoints(state.endpoints!, `${state.runDir}/logs`));
      return EXIT.ok;
    }, { interrupt: 'teardown' }));

  cmd.command('status')
    .description('pods, nodes, zones, readiness, replicas and endpoints of the running cluster; exit 3 when none runs')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, o: { json?: boolean }) => {
      let target: LocalClusterTarget;
      try {
        target = ctx.local({ anyPhase: true });
      } catch (err) {
        if (!(err instanceof NoClusterError) || !o.json) throw err;
        ctx.out(JSON.stringify({ running: false, stateDir: ctx.stateDir }));
        return EXIT.noCluster;
      }
      const status = await target.status();
      ctx.out(o.json ? JSON.stringify({ running: true, ...status }, null, 2) : formatStatus(status));
      return EXIT.ok;
    }));

  cmd.command('token')
    .description('print a bearer token for a tenant, signed with the running cluster\'s secrets')
    .argument('<tenant>', 'tenant id (lower-case letters, digits, dashes)')
    .addOption(new Option('--tier <tier>', 'the tenant\'s tier').choices([...TIERS]).default('small'))
    .option('--admin', 'an admin token instead (the tenant is ignored)')
    .action(runWith(async (ctx, tenant: string, o: { tier: Tier; admin?: boolean }) => {
      if (!o.admin) tenantId(tenant);
      const target = ctx.local();
      ctx.out(o.admin ? await target.mintAdminToken() : await target.mintToken(tenant, o.tier));
    }));

  cmd.command('scale')
    .description('set the replicas of a workload (db, worker, gateway, or a full name) and wait until they are ready; '
      + 'a workload the autoscaler owns is held there by pausing its ScaledObject (`autoscaling resume` hands it back)')
    .argument('<workload>', 'db | worker | gateway | percolate-db-small | …')
    .argument('<replicas>', 'desired replicas', count('replicas', 0, 100))
    .option('--no-wait', 'return once the change is accepted')
    .option('--timeout <ms>', 'longest wait for the pods to be ready', count('--timeout', 1, 3_600_000), REPLICAS_READY_TIMEOUT_MS)
    .action(runWith(async (ctx, workload: string, replicas: number, o: { wait: boolean; timeout: number }) => {
      const target = ctx.local();
      const names = (await target.listWorkloads()).map((w) => w.name);
      const name = names.includes(workload) ? workload : ALIASES[workload];
      if (!name || !names.includes(name)) throw new UsageError(`unknown workload "${workload}": one of ${[...Object.keys(ALIASES), ...names].join(', ')}`);
      const t0 = performance.now();
      // The autoscaler would undo a plain scale at its next poll: pause its ScaledObject at n instead (KEDA's paused-replicas).
      const scaledObject = await target.scaledObjectFor(name);
      if (scaledObject) {
        await target.pauseAutoscaling(scaledObject.name, replicas);
        ctx.err(pausedLine({ ...scaledObject, paused: true, pausedReplicas: replicas }));
      } else await target.scale(name, replicas);
      if (!o.wait) { ctx.err(`${name} scaled to ${replicas}`); return; }
      ctx.err(`scaling ${name} to ${replicas}…`);
      const pods = await target.waitForReplicasReady(name, replicas, { timeoutMs: o.timeout });
      ctx.err(`${name}: ${replicas} ready in ${ms(performance.now() - t0)}`);
      for (const p of pods) ctx.out(`${p.name}  ${p.node}  ${p.zone}  ${p.address}`);
    }));

  cmd.command('down')
    .description('stop the local cluster and remove everything it started (processes, ports, run dir)')
    .action(runWith(async (ctx) => {
      ctx.err('stopping the local cluster…');
      const result = await downLocalCluster({ stateDir: ctx.stateDir });
      const swept = result.sweep.killed.length || result.sweep.removedDirs.length
        ? ` (swept leftovers: ${result.sweep.killed.length} processes, ${result.sweep.removedDirs.length} run dirs)` : '';
      ctx.err(result.wasRunning ? `stopped in ${ms(result.ms)}${swept}` : `nothing was running${swept}`);
      if (result.sweep.portsStillTaken.length) ctx.err(`warning: ports still taken by other processes: ${result.sweep.portsStillTaken.join(', ')}`);
    }));

  registerTrafficCommands(cmd);
  registerChaosCommands(cmd);
  registerIssuerCommands(cmd);
  registerAutoscalingCommands(cmd, (name) => ALIASES[name] ?? name);

  return cmd;
}
