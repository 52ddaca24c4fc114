/**
 * The bench's output: `name: value` lines on stdout (nothing else goes there but the
 * target lines, which hold no colon so that a `name: value` reader skips them), in the
 * order the issue lists them.
 */
export type Figures = Map<string, number | undefined>;

const decimals = (name: string) => (name.endsWith('_rps') ? 0 : name.includes('_ratio_') ? 2 : 3);

export function formatFigure(name: string, value: number | undefined): string {
  return `${name}: ${value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(decimals(name))}`;
}

export interface Target { figure: string; op: '<' | '<=' | '>='; limit: number; label: string }

/** The issue's targets, and seed 000's cold read < 200 ms. */
export const TARGETS: Target[] = [
  { figure: 'db_read_cached_p99_ms', op: '<', limit: 10, label: 'cached read p99 < 10 ms' },
  { figure: 'db_read_cached_p99_ratio_vs_bare', op: '<=', limit: 2, label: 'cached read p99 <= 2x bare node:http' },
  { figure: 'replication_lag_p99_ms', op: '<', limit: 10, label: 'replication lag p99 < 10 ms' },
  { figure: 'job_delivery_p99_ms', op: '<', limit: 50, label: 'job delivery p99 < 50 ms' },
  { figure: 'db_cold_open_p50_ms', op: '<', limit: 200, label: 'cold read p50 < 200 ms (seed 000)' },
  { figure: 'search_p99_ratio_100k_vs_1k', op: '<=', limit: 2, label: 'search p99 at 100k records <= 2x at 1k (search costs what it returns)' },
  { figure: 'lb_throughput_ratio_vs_direct', op: '>=', limit: 2 / 3, label: 'load-balancer path >= 2/3 of the container\'s throughput (the data path costs less than the service)' },
];

export function targetLine(target: Target, value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return `MISSING ${target.label} (${target.figure} not measured)`;
  const pass = target.op === '<' ? value < target.limit : target.op === '<=' ? value <= target.limit : value >= target.limit;
  return `${pass ? 'PASS' : 'FAIL'} ${target.label} = ${value.toFixed(decimals(target.figure))}`;
}
