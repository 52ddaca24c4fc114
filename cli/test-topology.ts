import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalClusterTarget } from '../cluster/local/target/client.ts';
import { UpAborted, UpError, downLocalCluster, upLocalCluster } from '../cluster/local/control/launcher.ts';
import { DB_WORKLOAD, GATEWAY_WORKLOAD, WORKER_WORKLOAD } from '../cluster/local/target/builder.ts';
import { defaultStateDir } from '../cluster/local/process/paths.ts';
import { readState } from '../cluster/local/process/state.ts';
import { daemonAlive } from '../cluster/local/process/sweep.ts';
import { PROFILE_NAMES, type ProfileName, REPLICAS_READY_TIMEOUT_MS, UP_TIMEOUT_MS } from '../lib/time.ts';
import { TENANT_ID_PATTERN, TIERS, type Tier } from '../reference-services/shared/tenant-id.ts';
import { formatEndpoints, formatStatus, ms } from './format.ts';
import { registerChaosCommands } from './chaos-commands.ts';
import { pausedLine, registerAutoscalingCommands } from './autoscaling-commands.ts';
import { registerTrafficCommands } from './traffic/index.ts';

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {}

const err = (line: string) => process.stderr.write(`${line}\n`);

function count(what: string, max = 100) {
  return (raw: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`${what} must be an integer from 0 to ${max}`);
    return n;
  };
}

function stateDirOf(cmd: Command): string {
  return (cmd.optsWithGlobals() as { stateDir?: string }).stateDir ?? defaultStateDir();
}

/** The running cluster of the state dir, or a usage error that says how to start one. */
function connect(stateDir: string): LocalClusterTarget {
  const state = readState(stateDir);
  if (!state || !daemonAlive(state)) throw new UsageError(`no local cluster is running (state dir ${stateDir}): start one with \`percolate test-topology up\``);
  return new LocalClusterTarget(state, stateDir, false);
}

const ALIASES: Record<string, string> = {
  db: DB_WORKLOAD, 'db-small': DB_WORKLOAD, database: DB_WORKLOAD,
  worker: WORKER_WORKLOAD, workers: WORKER_WORKLOAD, gateway: GATEWAY_WORKLOAD, gateways: GATEWAY_WORKLOAD,
};

export function testTopologyCommand(): Command {
  const cmd = new Command('test-topology')
    .description('the embedded local cluster: nats-server, Prometheus, HAProxy and the reference services as pods')
    .option('--state-dir <dir>', 'where the running cluster is recorded (default .percolate/local, or $PERCOLATE_LOCAL_STATE_DIR)');

  cmd.command('up')
    .description('start the local cluster; returns once everything is ready, leaving it running')
    .addOption(new Option('--profile <profile>', 'time profile (manifests overlay)').choices([...PROFILE_NAMES]).default('fast'))
    .option('--db-replicas <n>', 'hold percolate-db-small at n pods: its ScaledObject starts paused at n (default: the autoscaler owns the count, 0 until the first request)', count('--db-replicas'))
    .option('--workers <n>', 'hold the workers at n pods: their ScaledObject starts paused at n (default: the autoscaler owns the count, 0 until jobs queue)', count('--workers'))
    .option('--gateways <n>', 'gateway pods to start with (default: the manifests\' replicas)', count('--gateways'))
    .option('--timeout <ms>', 'give up (and tear down) after this long', count('--timeout', 3_600_000), UP_TIMEOUT_MS)
    .action(async (opts: { profile: ProfileName; dbReplicas?: number; workers?: number; gateways?: number; timeout: number }, self: Command) => {
      const stateDir = stateDirOf(self);
      const abort = new AbortController();
      let interrupted = 0;
      const onSignal = () => {
        interrupted += 1;
        if (interrupted === 1) err('\ninterrupted: stopping everything up had started…');
        else err('still cleaning up; wait a moment so nothing is left behind');
        abort.abort();
      };
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
      err(`starting the local cluster (profile ${opts.profile}, state dir ${stateDir})`);
      try {
        const result = await upLocalCluster({
          stateDir, profile: opts.profile, signal: abort.signal, timeoutMs: opts.timeout,
          replicas: Object.fromEntries(([[DB_WORKLOAD, opts.dbReplicas], [WORKER_WORKLOAD, opts.workers], [GATEWAY_WORKLOAD, opts.gateways]] as const)
            .filter(([, n]) => n !== undefined)) as Record<string, number>,
          onProgress: (e) => err(`  ✓ ${e.step.padEnd(26)} ${ms(e.ms).padStart(8)}  ${e.detail ?? ''}`),
        });
        if (result.alreadyRunning) err(`already running (started ${new Date(result.state.startedAt).toISOString()}); \`percolate test-topology down\` first to change its options`);
        else err(`ready in ${ms(result.ms)}`);
        for (const so of (await connect(stateDir).listScaledObjects()).filter((s) => s.paused)) err(pausedLine(so));
        process.stdout.write(`${formatEndpoints(result.state.endpoints!, `${result.state.runDir}/logs`)}\n`);
      } catch (e) {
        if (e instanceof UpAborted) {
          err(`  ${e.message}`);
          process.exitCode = 130;
          return;
        }
        if (e instanceof UpError) {
          err(`  ✗ ${e.message}`);
          err(`    component: ${e.component}`);
          err(`    log: ${e.log}`);
          process.exitCode = 1;
          return;
        }
        throw e;
      } finally {
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      }
    });

  cmd.command('status')
    .description('pods, nodes, zones, readiness, replicas and endpoints of the running cluster')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, self: Command) => {
      const stateDir = stateDirOf(self);
      const state = readState(stateDir);
      if (!state || !daemonAlive(state)) {
        if (opts.json) process.stdout.write(`${JSON.stringify({ running: false, stateDir })}\n`);
        else err(`no local cluster is running (state dir ${stateDir})`);
        process.exitCode = 3;
        return;
      }
      const status = await connect(stateDir).status();
      process.stdout.write(opts.json ? `${JSON.stringify({ running: true, ...status }, null, 2)}\n` : `${formatStatus(status)}\n`);
    });

  cmd.command('token')
    .description('print a bearer token for a tenant, signed with the running cluster\'s secrets')
    .argument('<tenant>', 'tenant id (lower-case letters, digits, dashes)')
    .addOption(new Option('--tier <tier>', 'the tenant\'s tier').choices([...TIERS]).default('small'))
    .option('--admin', 'an admin token instead (the tenant is ignored)')
    .action(async (tenant: string, opts: { tier: Tier; admin?: boolean }, self: Command) => {
      if (!opts.admin && !TENANT_ID_PATTERN.test(tenant)) throw new UsageError(`invalid tenant id "${tenant}": must match ${TENANT_ID_PATTERN.source}`);
      const target = connect(stateDirOf(self));
      process.stdout.write(`${opts.admin ? await target.mintAdminToken() : await target.mintToken(tenant, opts.tier)}\n`);
    });

  cmd.command('scale')
    .description('set the replicas of a workload (db, worker, gateway, or a full name) and wait until they are ready; '
      + 'a workload the autoscaler owns is held there by pausing its ScaledObject (`autoscaling resume` hands it back)')
    .argument('<workload>', 'db | worker | gateway | percolate-db-small | …')
    .argument('<replicas>', 'desired replicas', count('replicas'))
    .option('--no-wait', 'return once the change is accepted')
    .option('--timeout <ms>', 'longest wait for the pods to be ready', count('--timeout', 3_600_000), REPLICAS_READY_TIMEOUT_MS)
    .action(async (workload: string, replicas: number, opts: { wait: boolean; timeout: number }, self: Command) => {
      const target = connect(stateDirOf(self));
      const names = (await target.listWorkloads()).map((w) => w.name);
      const name = names.includes(workload) ? workload : ALIASES[workload];
      if (!name || !names.includes(name)) throw new UsageError(`unknown workload "${workload}": one of ${[...Object.keys(ALIASES), ...names].join(', ')}`);
      const t0 = performance.now();
      // The autoscaler would undo a plain scale at its next poll: pause its ScaledObject at n instead (KEDA's paused-replicas).
      const scaledObject = await target.scaledObjectFor(name);
      if (scaledObject) {
        await target.pauseAutoscaling(scaledObject.name, replicas);
        err(pausedLine({ ...scaledObject, paused: true, pausedReplicas: replicas }));
      } else await target.scale(name, replicas);
      if (!opts.wait) { err(`${name} scaled to ${replicas}`); return; }
      err(`scaling ${name} to ${replicas}…`);
      const pods = await target.waitForReplicasReady(name, replicas, { timeoutMs: opts.timeout });
      err(`${name}: ${replicas} ready in ${ms(performance.now() - t0)}`);
      for (const p of pods) process.stdout.write(`${p.name}  ${p.node}  ${p.zone}  ${p.address}\n`);
    });

  cmd.command('down')
    .description('stop the local cluster and remove everything it started (processes, ports, run dir)')
    .action(async (_opts: unknown, self: Command) => {
      const stateDir = stateDirOf(self);
      err('stopping the local cluster…');
      const result = await downLocalCluster({ stateDir });
      const swept = result.sweep.killed.length || result.sweep.removedDirs.length
        ? ` (swept leftovers: ${result.sweep.killed.length} processes, ${result.sweep.removedDirs.length} run dirs)` : '';
      err(result.wasRunning ? `stopped in ${ms(result.ms)}${swept}` : `nothing was running${swept}`);
      if (result.sweep.portsStillTaken.length) err(`warning: ports still taken by other processes: ${result.sweep.portsStillTaken.join(', ')}`);
    });

  registerTrafficCommands(cmd);
  registerChaosCommands(cmd, (self) => connect(stateDirOf(self)));
  registerAutoscalingCommands(cmd, (self) => connect(stateDirOf(self)), (name) => ALIASES[name] ?? name);

  return cmd;
}
