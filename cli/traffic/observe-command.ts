import { performance } from 'node:perf_hooks';
import { type Command, Option } from 'commander';
import { JOBS_STREAM, jobsConsumer } from '../../reference-services/shared/nats.ts';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { table } from '../format.ts';
import { number, seconds } from '../args.ts';
import { EXIT, runWith } from '../command.ts';
import { type ScaleEventLine, type ScalingSample, ScalingObserver } from './observe.ts';

interface ObserveOptions { duration: number; interval: number; tier: Tier; stream: string; consumer?: string; json?: boolean; plain?: boolean }

const clock = (iso: string) => iso.slice(11, 19);
const fmtEvent = (e: ScaleEventLine) =>
  `${clock(e.time)} ${e.workload} ${e.from} → ${e.to}${e.actor ? ` (${e.actor}${e.reason ? ` ${e.reason}` : ''}${e.trigger ? `, ${e.trigger}=${e.metricValue ?? '?'}` : ''})` : ''}`;
const value = (v: number | null, err?: string) => (v === null ? `n/a${err ? ` (${err})` : ''}` : String(v));

/** One line per sample, for logs and pipes. */
function line(s: ScalingSample): string {
  const replicas = s.replicas ? Object.entries(s.replicas).map(([w, r]) => `${w} ${r.ready}/${r.desired}`).join('  ') : `replicas ${value(null, s.errors?.replicas)}`;
  const events = s.events === null ? 'events: n/a' : s.events.length ? `events: ${s.events.map(fmtEvent).join('; ')}` : 'events: none';
  return `${clock(s.time)}  t=${s.t}s  ${replicas}  active-tenants ${value(s.activeTenants, s.errors?.activeTenants)}  queue-lag ${value(s.queueLag, s.errors?.queueLag)}  ${events}`;
}

/** The whole screen, redrawn each second on a terminal. */
function screen(s: ScalingSample, o: ObserveOptions, recent: ScaleEventLine[], eventsAvailable: boolean): string {
  const out = [`observe-scaling  ${s.time}  t=${s.t}s of ${o.duration}s  (Ctrl-C to stop)`, ''];
  out.push(s.replicas
    ? table([['WORKLOAD', 'READY', 'DESIRED'], ...Object.entries(s.replicas).map(([w, r]) => [w, String(r.ready), String(r.desired)])])
    : `replicas: n/a (${s.errors?.replicas ?? '?'})`);
  out.push('', `active tenants (${o.tier}): ${value(s.activeTenants, s.errors?.activeTenants)}`,
    `queue lag (${o.stream}/${o.consumer}): ${value(s.queueLag, s.errors?.queueLag)}${s.queueLagFrom && s.queueLagFrom !== 'consumer' ? ` [${s.queueLagFrom}]` : ''}`, '');
  if (!eventsAvailable) out.push('events: n/a (this target does not report scaling events)');
  else out.push(`scaling events (last ${recent.length}):`, ...(recent.length ? recent.map((e) => `  ${fmtEvent(e)}`) : ['  none yet']));
  return out.join('\n');
}

export function registerObserveCommand(parent: Command): void {
  const cmd = parent.command('observe-scaling')
    .description('a live view of replicas per workload, active tenants (the database scaler\'s metric), job queue lag (the worker scaler\'s) and scaling events')
    .option('--duration <seconds>', 'how long to observe', seconds('--duration', 86_400), 600)
    .option('--interval <seconds>', 'time between samples', number('--interval', 0.1, 3_600), 1)
    .addOption(new Option('--tier <tier>', 'the tier whose active tenants and job queue lag to show').choices([...TIERS]).default('small'))
    .option('--stream <name>', 'the job stream', JOBS_STREAM)
    .option('--consumer <name>', 'the durable consumer the worker scaler reads (default: the tier\'s, workers-<tier>)')
    .option('--json', 'one JSON object per line (type "sample", then one "summary")')
    .option('--plain', 'one line per sample even on a terminal');
  cmd.action(runWith(async (ctx, given: ObserveOptions) => {
    const o = { ...given, consumer: given.consumer ?? jobsConsumer(given.tier) };
    if (o.interval > o.duration) return ctx.usage(`--interval (${o.interval} s) is longer than --duration (${o.duration} s)`);
    const target = await ctx.target();
    const observer = new ScalingObserver(target, await target.getEndpoints(), {
      activeTenantsQuery: `count(count by (tenant_id) (percolate_tenant_active{tier="${o.tier}"}))`,
      jetstream: { account: '$G', stream: o.stream, consumer: o.consumer },
      timeoutMs: Math.max(200, Math.min(3_000, o.interval * 800)),
    });
    const redraw = Boolean(process.stdout.isTTY) && !o.json && !o.plain;
    const started = performance.now();
    const recent: ScaleEventLine[] = [];
    const seen = new Map<string, { min: number; max: number }>();
    let samples = 0;
    let events = 0;
    let eventsAvailable = true;
    for (let i = 0; !ctx.signal.aborted; i++) {
      const s = await observer.sample();
      samples++;
      eventsAvailable = s.events !== null;
      for (const e of s.events ?? []) { recent.push(e); events++; }
      recent.splice(0, Math.max(0, recent.length - 10));
      for (const [w, r] of Object.entries(s.replicas ?? {})) {
        const m = seen.get(w) ?? { min: r.desired, max: r.desired };
        seen.set(w, { min: Math.min(m.min, r.desired), max: Math.max(m.max, r.desired) });
      }
      if (o.json) ctx.out(JSON.stringify(s));
      else if (redraw) process.stdout.write(`\x1b[H\x1b[2J${screen(s, o, recent, eventsAvailable)}\n`);
      else ctx.out(line(s));
      // Samples sit on a fixed grid from the start, so a slow sample does not shift the rest.
      const next = started + (i + 1) * o.interval * 1000;
      if (next - started > o.duration * 1000) break;
      await sleep(next - performance.now(), ctx.signal);
    }
    const summary = {
      type: 'summary' as const, samples, durationS: Number(((performance.now() - started) / 1000).toFixed(1)), interrupted: ctx.signal.aborted,
      replicas: Object.fromEntries(seen), scaleEvents: eventsAvailable ? events : null,
    };
    if (o.json) ctx.out(JSON.stringify(summary));
    else ctx.out(`observed ${samples} samples over ${summary.durationS} s; replicas ${[...seen].map(([w, r]) => `${w} ${r.min === r.max ? r.min : `${r.min}–${r.max}`}`).join(', ') || 'n/a'}; scale events ${eventsAvailable ? events : 'n/a'}`);
    return EXIT.ok;
  }, { interrupt: 'summary' }));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
