import type { Comparison } from '../suites/lib/measure.ts';
import { loadPlanTargets } from '../suites/lib/targets.ts';
import type { RunModel, TestEntry } from './model.ts';

/**
 * Seed 000's "Performance Benchmarks" table, its bounds read from fixtures/targets.yaml.
 * A figure lands on a row when its target came from one of the row's keys
 * (`measure(…, planBound('<', 'scaling.ttfrSeconds'))`); the row then judges the measured
 * value against the seed's own bound, which may be looser than the one the test asserted
 * (T3.1 holds affinity at 100 %, the seed asks > 95 %).
 */
export interface SeedRow {
  metric: string;
  measurement: string;
  op: Comparison;
  /** targets.yaml paths: the first holds the seed's bound, the others measure the same thing more strictly. */
  keys: string[];
  /** Shown unit, and the factor from the targets.yaml value to it. */
  unit: string;
  scale: number;
}

export const SEED_000_ROWS: SeedRow[] = [
  { metric: 'Database pod cold start', measurement: 'tenant request → pod ready (time to first response)', op: '<', keys: ['scaling.ttfrSeconds'], unit: 's', scale: 1 },
  { metric: 'Worker pod cold start', measurement: 'job publish → worker ready', op: '<', keys: ['performance.workerColdStartSeconds'], unit: 's', scale: 1 },
  { metric: 'Tenant affinity hit rate', measurement: 'same tenant → same pod', op: '>', keys: ['routing.affinityTopology', 'routing.affinity'], unit: '%', scale: 100 },
  { metric: 'Replication lag', measurement: 'write → applied on a replica', op: '<', keys: ['performance.replicationLagMs'], unit: 'ms', scale: 1 },
  { metric: 'Request latency (cached)', measurement: 'read with the tenant open', op: '<', keys: ['performance.cachedReadMs'], unit: 'ms', scale: 1 },
  { metric: 'Request latency (cold)', measurement: 'read that opens the tenant', op: '<', keys: ['performance.coldReadMs'], unit: 'ms', scale: 1 },
  { metric: 'NATS job delivery', measurement: 'publish → worker receives', op: '<', keys: ['performance.jobDeliveryMs'], unit: 'ms', scale: 1 },
  { metric: 'KEDA scaling decision', measurement: 'metric change → HPA update', op: '<', keys: ['performance.scalingDecisionSeconds'], unit: 's', scale: 1 },
];

export function planValue(key: string): number | undefined {
  let node: unknown = loadPlanTargets();
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return typeof node === 'number' ? node : undefined;
}

export const holds = (value: number, op: Comparison, bound: number): boolean =>
  op === '<' ? value < bound : op === '<=' ? value <= bound : op === '>' ? value > bound : op === '>=' ? value >= bound : value === bound;

/** Converts a figure's value into the row's unit (ratios to %, seconds to ms), or undefined if it can't. */
function toRowUnit(value: number, unit: string, row: SeedRow): number | undefined {
  if (unit === row.unit) return value;
  if (unit === 'ratio' && row.unit === '%') return value * 100;
  if (unit === 's' && row.unit === 'ms') return value * 1000;
  if (unit === 'ms' && row.unit === 's') return value / 1000;
  return undefined;
}

export interface SeedMeasurement {
  test: TestEntry;
  figure: string;
  /** In the row's unit; null when the test recorded the figure without a number. */
  value: number | null;
  pass: boolean | null;
  /** The test asserted it (measure) rather than only recording it. */
  asserted: boolean;
}

export interface SeedLine {
  row: SeedRow;
  /** The seed's bound in the row's unit (undefined if targets.yaml lacks the key). */
  bound: number | undefined;
  measured: SeedMeasurement[];
}

export function seedTable(run: RunModel): SeedLine[] {
  return SEED_000_ROWS.map((row) => {
    const raw = planValue(row.keys[0]!);
    const bound = raw === undefined ? undefined : raw * row.scale;
    const sources = new Set(row.keys.map((k) => `targets.yaml ${k}`));
    const measured = run.tests.flatMap((test) => test.figures.filter((f) => f.target?.source && sources.has(f.target.source)).map((f) => {
      const value = f.value === null ? null : toRowUnit(f.value, f.unit, row) ?? null;
      return { test, figure: f.name, value, pass: value === null || bound === undefined ? null : holds(value, row.op, bound), asserted: f.asserted === true };
    }));
    return { row, bound, measured };
  });
}
