import type { Command } from 'commander';
import type { ExperimentRecord } from '../cluster/chaos/records.ts';
import { mustHaveCapability } from '../cluster/target.ts';
import { type CommandContext, runWith } from './command.ts';
import { ms, table } from './format.ts';

function when(r: ExperimentRecord): string {
  if (r.phase === 'recovered') return `recovered ${new Date(r.recoveredAt!).toISOString()} (${r.recoveredBy})`;
  if (r.phase === 'injected' && r.endsAt) return `until ${new Date(r.endsAt).toISOString()} (${ms(Math.max(0, r.endsAt - Date.now()))} left)`;
  if (r.phase === 'injected') return 'until recovered';
  return '';
}

function describe(r: ExperimentRecord): string {
  const what = `${r.kind} ${r.id}${r.action ? ` ${r.action}` : ''}`;
  const on = r.selected.length ? ` on ${r.selected.join(', ')}` : '';
  return `${what}${on}: ${r.phase}${when(r) ? `, ${when(r)}` : ''}${r.errors.length ? ` — ${r.errors.join('; ')}` : ''}`;
}

/**
 * `test-topology chaos apply|recover|list`: the experiments of `chaos/` on the running
 * cluster, through the target's chaos capability (the local daemon's executor, or Chaos Mesh).
 */
export function registerChaosCommands(testTopology: Command): void {
  const chaosOf = async (ctx: CommandContext) => mustHaveCapability(await ctx.target(), 'chaos');
  const chaos = testTopology.command('chaos').description('apply, list and recover the chaos experiments of chaos/ on the local cluster');

  chaos.command('apply')
    .description('apply experiments (one resource per file); each recovers at the end of its duration, or with `chaos recover`')
    .argument('<files...>', 'e.g. chaos/db-pod-kill.yaml')
    .option('--json', 'print the executor\'s records')
    .action(runWith(async (ctx, files: string[], o: { json?: boolean }) => {
      const chaos = await chaosOf(ctx);
      const records: ExperimentRecord[] = [];
      for (const file of files) records.push(await chaos.applyExperimentFile(file));
      if (o.json) ctx.out(JSON.stringify(records, null, 2));
      else for (const r of records) ctx.out(`applied ${describe(r)}`);
    }));

  chaos.command('recover')
    .description('undo one experiment (by name), or every one in force')
    .argument('[name]', 'name or namespace/name (default: all)')
    .action(runWith(async (ctx, name: string | undefined) => {
      const records = await (await chaosOf(ctx)).recoverExperiments(name);
      if (!records.length) ctx.out('nothing was in force');
      for (const r of records) ctx.out(`${r.phase === 'recovered' ? 'recovered' : 'already over:'} ${describe(r)}`);
    }));

  chaos.command('list')
    .description('experiments of this run: in force, finished and recovered')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, o: { json?: boolean }) => {
      const records = await (await chaosOf(ctx)).listExperiments();
      if (o.json) { ctx.out(JSON.stringify(records, null, 2)); return; }
      if (!records.length) { ctx.out('no experiments in this run'); return; }
      ctx.out(table([
        ['NAME', 'KIND', 'ACTION', 'PHASE', 'SELECTED', 'WHEN'],
        ...records.map((r) => [r.id, r.kind, r.action ?? '-', r.phase, r.selected.join(',') || '-', when(r)]),
      ]));
    }));
}
