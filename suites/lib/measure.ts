import { expect, type TestInfo } from '@playwright/test';
import { loadPlanTargets } from './targets.ts';

/**
 * Figures and time series a test measured, recorded as structured data so that the run
 * report can put each beside its target. A figure is an annotation of type `figure`
 * whose description is JSON (Playwright keeps annotations in every reporter's output);
 * a series is a JSON attachment named `series:<name>`.
 */

export type Comparison = '<' | '<=' | '>' | '>=' | '==';

export interface FigureTarget {
  op: Comparison;
  value: number;
  /** Where the bound comes from, e.g. `targets.yaml scaling.ttfrSeconds` or `seed 000`. */
  source?: string;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: FigureTarget;
  /** Set when a target was given: whether the value met it. */
  pass?: boolean;
  /** What lies behind the number (e.g. which statuses the failed requests had). */
  detail?: string;
  /** The test asserted it (`measure`) rather than only recording it (`recordFigure`). */
  asserted?: boolean;
}

export interface SeriesPoint {
  /** Milliseconds since the epoch. */
  t: number;
  value: number;
  /** Which line of the plot the point belongs to (e.g. `replicas`, `active tenants`). */
  series?: string;
}

/** Marks on a time axis: chaos start/stop, scale events. */
export interface SeriesEvent {
  t: number;
  /** `chaos-start` / `chaos-stop` (a window), `scale-up` / `scale-down`, `paused` / `resumed`, … */
  kind: string;
  label: string;
}

export interface Series {
  name: string;
  unit: string;
  points: SeriesPoint[];
  events?: SeriesEvent[];
  /**
   * How the report draws it: `timeline` (default) plots value against time; `distribution`
   * plots how the values spread (a histogram of latencies), time being only when each was taken.
   */
  kind?: 'timeline' | 'distribution';
}

export const FIGURE_ANNOTATION = 'figure';
export const SERIES_PREFIX = 'series:';

const holds = (value: number, { op, value: bound }: FigureTarget): boolean =>
  op === '<' ? value < bound : op === '<=' ? value <= bound : op === '>' ? value > bound : op === '>=' ? value >= bound : value === bound;

/** Records a figure without judging it (a figure the seed gives no bound for). */
export function recordFigure(testInfo: TestInfo, figure: Omit<Figure, 'pass'>): Figure {
  const recorded: Figure = figure.target ? { ...figure, pass: holds(figure.value, figure.target) } : { ...figure };
  testInfo.annotations.push({ type: FIGURE_ANNOTATION, description: JSON.stringify(recorded) });
  return recorded;
}

/**
 * Records a figure and asserts it against its target, so the report and the verdict can
 * never disagree: `measure(test.info(), 'TTFR', 0.8, 's', { op: '<', value: 30 })`.
 */
export function measure(testInfo: TestInfo, name: string, value: number, unit: string, target: FigureTarget, detail?: string): Figure {
  const figure = recordFigure(testInfo, { name, value, unit, target, asserted: true, ...(detail !== undefined ? { detail } : {}) });
  const bound = `${target.op} ${target.value} ${unit}${target.source ? ` (${target.source})` : ''}`;
  expect(Number.isFinite(value), `${name} was not measured (got ${value})`).toBe(true);
  expect(figure.pass, `${name} = ${value} ${unit}, target ${bound}${detail ? `: ${detail}` : ''}`).toBe(true);
  return figure;
}

/**
 * A target from fixtures/targets.yaml by its path (`scaling.ttfrSeconds`), with that path as
 * its source, so the report can put the figure on the seed's row for it.
 */
export function planBound(op: Comparison, key: string): FigureTarget {
  let node: unknown = loadPlanTargets();
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'number') throw new Error(`fixtures/targets.yaml has no number at ${key}`);
  return { op, value: node, source: `targets.yaml ${key}` };
}

/** Attaches a time series for the report's plots. */
export async function recordSeries(testInfo: TestInfo, series: Series): Promise<void> {
  await testInfo.attach(`${SERIES_PREFIX}${series.name}`, { body: JSON.stringify(series), contentType: 'application/json' });
}
