import { type Command, InvalidArgumentError } from 'commander';
import { type ClusterTarget, type ScaledObjectInfo, type ScalingEvent, capabilityOf } from '../cluster/target.ts';
import { table } from './format.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** The ScaledObject named, or the one that scales the workload named; a clear error otherwise. */
export async function findScaledObject(target: ClusterTarget, given: string, alias: (name: string) => string = (n) => n): Promise<ScaledObjectInfo> {
  const all = await target.listScaledObjects();
  const name = all.some((so) => so.name === given || so.target.name === given) ? given : alias(given);
  const found = all.find((so) => so.name === name) ?? all.find((so) => so.target.name === name);
  if (!found) throw new Error(`no ScaledObject "${given}" (have: ${all.map((so) => so.name).join(', ')})`);
  return found;
}

/** One line saying how a ScaledObject is paused and how to hand its target back to the autoscaler. */
export function pausedLine(so: ScaledObjectInfo): string {
  const how = so.pausedReplicas !== undefined ? `at ${so.pausedReplicas} (autoscaling.keda.sh/paused-replicas=${so.pausedReplicas})` : `at ${so.replicas} (autoscaling.keda.sh/paused=true)`;
  return `${so.target.name}: autoscaling paused ${how}; resume with \`percolate test-topology autoscaling resume ${so.name}\``;
}

function count(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new InvalidArgumentError('replicas must be an integer from 0 to 100');
  return n;
}

/** `--since 30s|5m|<ms since the epoch>` → ms since the epoch. */
function since(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw);
  if (m) return Date.now() - Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  const at = Number(raw);
  if (!Number.isFinite(at) || at < 0) throw new InvalidArgumentError('--since takes a duration (30s, 5m, 1h) or a time in ms since the epoch');
  return at;
}

function eventRow(e: ScalingEvent): string[] {
  return [e.time.slice(11, 23), e.scaledObject, `${e.replicasBefore} → ${e.replicasAfter}`, `${e.actor} ${e.reason}`,
    `${e.trigger ?? ''}${e.metricValue === null ? '' : ` = ${e.metricValue}`}${e.error ? ` (${e.error})` : ''}`];
}

/**
 * `test-topology autoscaling list|pause|resume|events`: the local cluster's KEDA + HPA, with
 * KEDA's pause annotations (on a cluster: `kubectl annotate scaledobject …`).
 */
export function registerAutoscalingCommands(testTopology: Command, connect: (self: Command) => ClusterTarget, alias: (name: string) => string = (n) => n): void {
  const autoscaling = testTopology.command('autoscaling')
    .description('the autoscaler (KEDA + HPA over the ScaledObjects of manifests/): list, pause, resume, events');

  autoscaling.command('list')
    .description('every ScaledObject with its target, replicas and pause')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, self: Command) => {
      const all = await connect(self).listScaledObjects();
      if (opts.json) { out(JSON.stringify(all, null, 2)); return; }
      out(table([['SCALEDOBJECT', 'TARGET', 'REPLICAS', 'MIN/MAX', 'AUTOSCALING'], ...all.map((so) => [
        so.name, `${so.target.kind}/${so.target.name}`, String(so.replicas), `${so.minReplicaCount}/${so.maxReplicaCount}`,
        so.paused ? (so.pausedReplicas !== undefined ? `paused at ${so.pausedReplicas}` : 'paused') : 'on',
      ])]));
    });

  autoscaling.command('pause')
    .description('pause a ScaledObject: at <replicas> (paused-replicas, the target is scaled to it) or at its current count (paused=true)')
    .argument('<scaledobject>', 'a ScaledObject, or the workload it scales (db, worker, …)')
    .argument('[replicas]', 'hold the target at this count', count)
    .action(async (name: string, replicas: number | undefined, _opts: unknown, self: Command) => {
      const target = connect(self);
      const so = await findScaledObject(target, name, alias);
      await target.pauseAutoscaling(so.name, replicas);
      out(pausedLine(await findScaledObject(target, so.name)));
    });

  autoscaling.command('resume')
    .description('remove the pause annotations: the autoscaler polls at once and owns the count again')
    .argument('<scaledobject>', 'a ScaledObject, or the workload it scales (db, worker, …)')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const target = connect(self);
      const so = await findScaledObject(target, name, alias);
      await target.resumeAutoscaling(so.name);
      out(`${so.target.name}: autoscaling resumed (${so.name}), now at ${(await findScaledObject(target, so.name)).replicas} replicas`);
    });

  autoscaling.command('events')
    .description('scaling decisions: scale events, pauses and resumes (all polls with --all)')
    .option('--since <when>', 'a duration back from now (30s, 5m, 1h) or a time in ms since the epoch', since)
    .option('--scaled-object <name>', 'only this ScaledObject')
    .option('--all', 'every KEDA poll and HPA sync, also those that changed nothing')
    .option('--json', 'JSON, one event per line')
    .action(async (opts: { since?: number; scaledObject?: string; all?: boolean; json?: boolean }, self: Command) => {
      const target = connect(self);
      const since = opts.since !== undefined ? { since: opts.since } : {};
      // A target with the decision history filters where it keeps it; any other gives its
      // events, filtered here.
      const history = capabilityOf(target, 'scalingHistory');
      const events = (history
        ? await history.getScalingEvents({ ...since, ...(opts.scaledObject ? { scaledObject: opts.scaledObject } : {}) })
        : (await target.getScalingEvents(since)).filter((e) => !opts.scaledObject || e.scaledObject === opts.scaledObject)
      ).filter((e) => opts.all || e.replicasBefore !== e.replicasAfter || e.reason === 'paused' || e.reason === 'resumed');
      if (opts.json) { for (const e of events) out(JSON.stringify(e)); return; }
      if (!events.length) { out('no scaling events'); return; }
      out(table([['TIME (UTC)', 'SCALEDOBJECT', 'REPLICAS', 'DECISION', 'TRIGGER = VALUE'], ...events.map(eventRow)]));
    });
}
