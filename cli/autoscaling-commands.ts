import type { Command } from 'commander';
import { type ClusterTarget, type ScaledObjectInfo, type ScalingEvent, capabilityOf } from '../cluster/target.ts';
import { count, since } from './args.ts';
import { UsageError, runWith } from './command.ts';
import { table } from './format.ts';

/** The ScaledObject named, or the one that scales the workload named; a clear error otherwise. */
export async function findScaledObject(target: ClusterTarget, given: string, alias: (name: string) => string = (n) => n): Promise<ScaledObjectInfo> {
  const all = await target.listScaledObjects();
  const name = all.some((so) => so.name === given || so.target.name === given) ? given : alias(given);
  const found = all.find((so) => so.name === name) ?? all.find((so) => so.target.name === name);
  if (!found) throw new UsageError(`no ScaledObject "${given}" (have: ${all.map((so) => so.name).join(', ')})`);
  return found;
}

/** One line saying how a ScaledObject is paused and how to hand its target back to the autoscaler. */
export function pausedLine(so: ScaledObjectInfo): string {
  const how = so.pausedReplicas !== undefined ? `at ${so.pausedReplicas} (autoscaling.keda.sh/paused-replicas=${so.pausedReplicas})` : `at ${so.replicas} (autoscaling.keda.sh/paused=true)`;
  return `${so.target.name}: autoscaling paused ${how}; resume with \`percolate test-topology autoscaling resume ${so.name}\``;
}

function eventRow(e: ScalingEvent): string[] {
  return [e.time.slice(11, 23), e.scaledObject, `${e.replicasBefore} → ${e.replicasAfter}`, `${e.actor} ${e.reason}`,
    `${e.trigger ?? ''}${e.metricValue === null ? '' : ` = ${e.metricValue}`}${e.error ? ` (${e.error})` : ''}`];
}

/**
 * `test-topology autoscaling list|pause|resume|events`: the local cluster's KEDA + HPA, with
 * KEDA's pause annotations (on a cluster: `kubectl annotate scaledobject …`).
 */
export function registerAutoscalingCommands(testTopology: Command, alias: (name: string) => string = (n) => n): void {
  const autoscaling = testTopology.command('autoscaling')
    .description('the autoscaler (KEDA + HPA over the ScaledObjects of manifests/): list, pause, resume, events');

  autoscaling.command('list')
    .description('every ScaledObject with its target, replicas and pause')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, o: { json?: boolean }) => {
      const all = await (await ctx.target()).listScaledObjects();
      if (o.json) { ctx.out(JSON.stringify(all, null, 2)); return; }
      ctx.out(table([['SCALEDOBJECT', 'TARGET', 'REPLICAS', 'MIN/MAX', 'AUTOSCALING'], ...all.map((so) => [
        so.name, `${so.target.kind}/${so.target.name}`, String(so.replicas), `${so.minReplicaCount}/${so.maxReplicaCount}`,
        so.paused ? (so.pausedReplicas !== undefined ? `paused at ${so.pausedReplicas}` : 'paused') : 'on',
      ])]));
    }));

  autoscaling.command('pause')
    .description('pause a ScaledObject: at <replicas> (paused-replicas, the target is scaled to it) or at its current count (paused=true)')
    .argument('<scaledobject>', 'a ScaledObject, or the workload it scales (db, worker, …)')
    .argument('[replicas]', 'hold the target at this count', count('replicas', 0, 100))
    .action(runWith(async (ctx, name: string, replicas: number | undefined) => {
      const target = await ctx.target();
      const so = await findScaledObject(target, name, alias);
      await target.pauseAutoscaling(so.name, replicas);
      ctx.out(pausedLine(await findScaledObject(target, so.name)));
    }));

  autoscaling.command('resume')
    .description('remove the pause annotations: the autoscaler polls at once and owns the count again')
    .argument('<scaledobject>', 'a ScaledObject, or the workload it scales (db, worker, …)')
    .action(runWith(async (ctx, name: string) => {
      const target = await ctx.target();
      const so = await findScaledObject(target, name, alias);
      await target.resumeAutoscaling(so.name);
      ctx.out(`${so.target.name}: autoscaling resumed (${so.name}), now at ${(await findScaledObject(target, so.name)).replicas} replicas`);
    }));

  autoscaling.command('events')
    .description('scaling decisions: scale events, pauses and resumes (all polls with --all)')
    .option('--since <when>', 'a duration back from now (30s, 5m, 1h) or a time in ms since the epoch', since('--since'))
    .option('--scaled-object <name>', 'only this ScaledObject')
    .option('--all', 'every KEDA poll and HPA sync, also those that changed nothing')
    .option('--json', 'JSON, one event per line')
    .action(runWith(async (ctx, opts: { since?: number; scaledObject?: string; all?: boolean; json?: boolean }) => {
      const target = await ctx.target();
      const since = opts.since !== undefined ? { since: opts.since } : {};
      // A target with the decision history filters where it keeps it; any other gives its
      // events, filtered here.
      const history = capabilityOf(target, 'scalingHistory');
      const events = (history
        ? await history.getScalingEvents({ ...since, ...(opts.scaledObject ? { scaledObject: opts.scaledObject } : {}) })
        : (await target.getScalingEvents(since)).filter((e) => !opts.scaledObject || e.scaledObject === opts.scaledObject)
      ).filter((e) => opts.all || e.replicasBefore !== e.replicasAfter || e.reason === 'paused' || e.reason === 'resumed');
      if (opts.json) { for (const e of events) ctx.out(JSON.stringify(e)); return; }
      if (!events.length) { ctx.out('no scaling events'); return; }
      ctx.out(table([['TIME (UTC)', 'SCALEDOBJECT', 'REPLICAS', 'DECISION', 'TRIGGER = VALUE'], ...events.map(eventRow)]));
    }));
}
