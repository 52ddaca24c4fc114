import { table } from '../format.ts';
import { fmtLatency, fmtMs } from '../../lib/latency.ts';
import { type StatsSnapshot, type TrafficStats, fmtOutcomes, isErrorOutcome } from '../../lib/traffic-stats.ts';
import type { SimulationProgress, SimulationResult } from './simulation.ts';

const pct = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : '-');

function fmtPods(pods: Record<string, number>, max = 4): string {
  const entries = Object.entries(pods).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return 'none';
  const shown = entries.slice(0, max).map(([p, n]) => `${p} ${n}`).join(', ');
  return entries.length > max ? `${shown}, +${entries.length - max} more` : shown;
}

/** One line every few seconds: totals so far, latency of the last interval, pods seen. */
export function progressLine(p: SimulationProgress, label: string): string {
  const s = p.total.snapshot();
  const secs = p.elapsedMs / 1000;
  const window = p.total.window.summary();
  return [
    `[${secs.toFixed(1).padStart(6)}s] ${label}`,
    `sent ${s.sent} (${(s.sent / Math.max(secs, 0.001)).toFixed(1)}/s)`,
    `answered ${s.answered}`,
    `in flight ${p.inFlight}`,
    `errors ${fmtOutcomes(s.outcomes, isErrorOutcome)}`,
    ...(s.dropped ? [`dropped ${s.dropped}`] : []),
    `last ${window.count}: ${window.count ? `p50 ${fmtMs(window.p50Ms)} p95 ${fmtMs(window.p95Ms)} p99 ${fmtMs(window.p99Ms)}` : '-'}`,
    `pods ${fmtPods(s.pods, 3)}`,
  ].join('  ');
}

export interface SimulationSummary {
  command: string;
  runId: string;
  loadBalancerUrl: string;
  ratePerTenant: number;
  durationS: number;
  elapsedS: number;
  interrupted: boolean;
  tenants: Array<{ tenant: string; tier: string } & StatsSnapshot>;
  total: StatsSnapshot;
}

export function summaryOf(command: string, runId: string, lb: string, rate: number, durationS: number, r: SimulationResult, tiers: Map<string, string>): SimulationSummary {
  return {
    command, runId, loadBalancerUrl: lb, ratePerTenant: rate, durationS, elapsedS: Number((r.elapsedMs / 1000).toFixed(3)), interrupted: r.interrupted,
    tenants: [...r.perTenant].map(([tenant, stats]: [string, TrafficStats]) => ({ tenant, tier: tiers.get(tenant) ?? 'small', ...stats.snapshot() })),
    total: r.total.snapshot(),
  };
}

export function formatSummary(s: SimulationSummary): string {
  const t = s.total;
  const out: string[] = [];
  const who = s.tenants.length === 1 ? s.tenants[0]!.tenant : `${s.tenants.length} tenants`;
  out.push(`${s.command} ${who}: ${t.sent} requests in ${s.elapsedS.toFixed(1)} s (${(t.sent / Math.max(s.elapsedS, 0.001)).toFixed(1)}/s)${s.interrupted ? ', interrupted' : ''}, run ${s.runId}`);
  if (s.tenants.length > 1) {
    out.push(table([
      ['  TENANT', 'TIER', 'SENT', 'ERRORS', 'P50', 'P95', 'P99', 'PODS'],
      ...s.tenants.map((x) => [`  ${x.tenant}`, x.tier, String(x.sent), String(x.errors), fmtMs(x.latency.p50Ms), fmtMs(x.latency.p95Ms), fmtMs(x.latency.p99Ms), fmtPods(x.pods, 2)]),
    ]));
  }
  const rows: Array<[string, string]> = [
    ['outcomes', fmtOutcomes(t.outcomes)],
    ['operations', Object.entries(t.operations).map(([op, n]) => `${op} ${n}`).join('  ') || 'none'],
    ['latency', fmtLatency(t.latency)],
    ['pods', Object.entries(t.pods).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${n} (${pct(n, t.answered)})`).join(', ') || 'none'],
  ];
  if (t.dropped) rows.push(['dropped', `${t.dropped} arrivals (too many requests in flight)`]);
  rows.push(['result', t.serverErrors ? `✗ ${t.serverErrors} server errors or failed requests (${fmtOutcomes(t.outcomes, isErrorOutcome)})`
    : `✓ no 5xx, no failed requests${t.errors ? ` (client errors: ${fmtOutcomes(t.outcomes, isErrorOutcome)})` : ''}`]);
  out.push(...rows.map(([k, v]) => `  ${k.padEnd(11)} ${v}`));
  return out.join('\n');
}
