import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { Series } from '../suites/lib/measure.ts';

/**
 * The report's plots: Vega-Lite specs rendered to SVG in Node (no browser, no canvas), so
 * the page carries them inline and needs no network to show them.
 *
 * The layer that draws the data is named `datapoints`: its SVG group has the class
 * `datapoints_marks` and one element per datum, which is what the page check counts.
 */
export const DATA_LAYER = 'datapoints';
const WIDTH = 560;
const HEIGHT = 200;

const fmtClock = (t: number) => new Date(t).toISOString().slice(11, 19);

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Chaos windows from start/stop pairs; a window left open runs to the end of the data. */
function windows(series: Series, t0: number, end: number): Array<{ from: number; to: number; label: string }> {
  const out: Array<{ from: number; to: number; label: string }> = [];
  let open: { t: number; label: string } | undefined;
  for (const e of [...(series.events ?? [])].sort((a, b) => a.t - b.t)) {
    if (e.kind === 'chaos-start' && !open) open = e;
    else if (e.kind === 'chaos-stop' && open) {
      out.push({ from: (open.t - t0) / 1000, to: (e.t - t0) / 1000, label: `${open.label} … ${e.label}` });
      open = undefined;
    }
  }
  if (open) out.push({ from: (open.t - t0) / 1000, to: (end - t0) / 1000, label: open.label });
  return out;
}

export function timelineSpec(series: Series): TopLevelSpec {
  const times = [...series.points.map((p) => p.t), ...(series.events ?? []).map((e) => e.t)];
  const t0 = times.length ? Math.min(...times) : 0;
  const end = times.length ? Math.max(...times) : 0;
  const rel = (t: number) => (t - t0) / 1000;
  const isRatio = series.unit === 'ratio';
  const x = { field: 's', type: 'quantitative' as const, title: `seconds since ${fmtClock(t0)} UTC` };
  const y = {
    field: 'value', type: 'quantitative' as const, title: isRatio ? 'share' : series.unit,
    ...(isRatio ? { scale: { domain: [0, 1] }, axis: { format: '%' } } : {}),
  };
  const points = series.points.map((p) => ({ s: rel(p.t), value: p.value, series: p.series ?? series.name }));
  const marks = (series.events ?? []).filter((e) => e.kind !== 'chaos-start' && e.kind !== 'chaos-stop').map((e) => ({ s: rel(e.t), label: e.label, kind: e.kind }));
  const color = { field: 'series', type: 'nominal' as const, title: null, legend: { orient: 'top' as const } };
  // A stepped line: replicas and counts hold their value until the next reading.
  const interpolate = series.unit === 'count' ? 'step-after' : 'linear';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH, height: HEIGHT,
    layer: [
      {
        data: { values: windows(series, t0, end) },
        mark: { type: 'rect', color: '#e45756', opacity: 0.15 },
        encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' }, tooltip: { field: 'label' } },
      },
      {
        data: { values: marks },
        mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
        encoding: { x: { field: 's', type: 'quantitative' }, tooltip: { field: 'label' } },
      },
      {
        data: { values: marks },
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'bottom', dy: -2, fontSize: 9, color: '#555', y: 2 },
        encoding: { x: { field: 's', type: 'quantitative' }, text: { field: 'label' } },
      },
      { data: { values: points }, mark: { type: 'line', interpolate, strokeWidth: 1.5 }, encoding: { x, y, color } },
      { name: DATA_LAYER, data: { values: points }, mark: { type: 'point', filled: true, size: 14 }, encoding: { x, y, color, tooltip: [{ field: 's', title: 's' }, { field: 'value' }] } },
    ],
    config: { legend: { labelLimit: 300 } },
  } as TopLevelSpec;
}

export function distributionSpec(series: Series): TopLevelSpec {
  const values = series.points.map((p) => ({ value: p.value, outcome: p.series ?? 'all' }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH, height: HEIGHT,
    data: { values },
    layer: [{
      name: DATA_LAYER,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'value', type: 'quantitative', bin: { maxbins: 40 }, title: series.unit },
        y: { aggregate: 'count', type: 'quantitative', title: 'requests' },
        color: { field: 'outcome', type: 'nominal', title: null, legend: { orient: 'top' }, scale: { domain: ['ok', 'failed'], range: ['#4c78a8', '#e45756'] } },
      },
    }],
  } as TopLevelSpec;
}

export interface TrendPoint { run: string; startTime: string; value: number; pass?: boolean }

/** One key figure across runs, its target as a dashed rule. */
export function trendSpec(unit: string, points: TrendPoint[], target?: number): TopLevelSpec {
  const values = points.map((p) => ({ ...p, at: Date.parse(p.startTime), verdict: p.pass === false ? 'missed' : 'met' }));
  const x = { field: 'at', type: 'temporal' as const, title: 'run start (UTC)', axis: { format: '%m-%d %H:%M' } };
  const y = { field: 'value', type: 'quantitative' as const, title: unit === 'ratio' ? 'share' : unit, scale: { zero: false }, axis: { format: unit === 'ratio' ? '.1%' : '~g' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 360, height: 140,
    layer: [
      ...(target !== undefined ? [{ data: { values: [{ target }] }, mark: { type: 'rule' as const, color: '#e45756', strokeDash: [4, 3] }, encoding: { y: { field: 'target', type: 'quantitative' as const } } }] : []),
      { data: { values }, mark: { type: 'line' as const, color: '#4c78a8' }, encoding: { x, y } },
      {
        name: DATA_LAYER, data: { values }, mark: { type: 'point' as const, filled: true, size: 40 },
        encoding: { x, y, color: { field: 'verdict', type: 'nominal' as const, title: null, scale: { domain: ['met', 'missed'], range: ['#4c78a8', '#e45756'] } }, tooltip: [{ field: 'run' }, { field: 'value' }] },
      },
    ],
  } as TopLevelSpec;
}

export function seriesSpec(series: Series): TopLevelSpec {
  return series.kind === 'distribution' ? distributionSpec(series) : timelineSpec(series);
}

/** Percentiles of a distribution, for the caption. */
export function percentiles(values: number[], ps: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  return ps.map((p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN));
}
