import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { type RunChoice, harnessConfig } from '../lib/config.ts';
import { type HistoryEntry, figureKey, updateHistory } from './history.ts';
import { type RenderedPlot, formatValue, renderPage } from './html.ts';
import { type RunContext, type RunModel, loadRun } from './model.ts';
import { percentiles, seriesSpec, toSvg, trendSpec } from './plots.ts';
import { seedTable } from './seed.ts';

export interface BuildOptions {
  /** Playwright's JSON reporter output. */
  resultsFile: string;
  /** The page to write (its directory also gets history/). */
  outFile: string;
  /** Where each run leaves its entry; default `history/` beside the page. */
  historyDir?: string;
  /** Playwright's HTML report folder, linked from each test row; default `html/` beside the page. */
  htmlReportDir?: string;
  /** Target, profile and commit; default: `run-context.json` beside the results, else this process's. */
  context?: RunContext;
}

export interface BuildResult {
  file: string;
  run: RunModel;
  plots: number;
  trends: number;
  history: HistoryEntry[];
}

export const CONTEXT_FILE = 'run-context.json';

/** The commit of `cwd`'s checkout, with the run's target and profile (default: this process's, from lib/config.ts). */
export function currentContext(cwd = process.cwd(), run: RunChoice = harnessConfig()): RunContext {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=12'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout (an unpacked artifact): the commit stays unknown
  }
  return { target: run.target, profile: run.profile, commit };
}

function contextFor(resultsFile: string): RunContext {
  const file = join(dirname(resultsFile), CONTEXT_FILE);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as RunContext;
  return currentContext();
}

/** How many key figures the history section trends at most (those with a target come first). */
const MAX_TRENDS = 12;

export async function buildReport(options: BuildOptions): Promise<BuildResult> {
  const outDir = dirname(options.outFile);
  const run = loadRun(options.resultsFile, options.context ?? contextFor(options.resultsFile));
  const history = updateHistory(options.historyDir ?? join(outDir, 'history'), run);

  const plots: RenderedPlot[] = [];
  for (const test of run.tests) {
    for (const series of test.series) {
      let caption = `<b>${series.name}</b> — ${series.points.length} points`;
      if (series.kind === 'distribution' && series.points.length) {
        const [p50, p95, p99] = percentiles(series.points.map((p) => p.value), [50, 95, 99]);
        caption += `; p50 ${formatValue(p50!, series.unit)}, p95 ${formatValue(p95!, series.unit)}, p99 ${formatValue(p99!, series.unit)}`;
      }
      const windows = (series.events ?? []).filter((e) => e.kind === 'chaos-start').length;
      const scales = (series.events ?? []).filter((e) => e.kind.startsWith('scale')).length;
      if (windows) caption += `; shaded: ${windows} disruption window${windows > 1 ? 's' : ''}`;
      if (scales) caption += `; dashed: ${scales} scale event${scales > 1 ? 's' : ''}`;
      plots.push({ testId: test.id, series: series.name, caption, svg: await toSvg(seriesSpec(series)) });
    }
  }

  // Trend the figures of this run that other runs can be compared on: same test and name.
  const current = history.find((h) => h.startTime === run.meta.startTime);
  const keys = [...new Map((current?.figures ?? []).sort((a, b) => Number(b.target !== undefined) - Number(a.target !== undefined))
    .map((f) => [figureKey(f.test, f.name), f] as const)).values()].slice(0, MAX_TRENDS);
  const trends: RenderedPlot[] = [];
  for (const f of keys) {
    const key = figureKey(f.test, f.name);
    const points = history.flatMap((h) => h.figures.filter((g) => figureKey(g.test, g.name) === key && g.unit === f.unit)
      .map((g) => ({ run: `${h.startTime} ${h.commit}`, startTime: h.startTime, value: g.value, ...(g.pass !== undefined ? { pass: g.pass } : {}) })));
    trends.push({ series: `trend: ${key}`, caption: `<b>${key}</b> — ${points.length} run${points.length === 1 ? '' : 's'}`, svg: await toSvg(trendSpec(f.unit, points, f.target)) });
  }

  const htmlReportHref = relative(outDir, options.htmlReportDir ?? join(outDir, 'html')).split('\\').join('/') + '/index.html';
  mkdirSync(outDir, { recursive: true });
  writeFileSync(options.outFile, renderPage({ run, seed: seedTable(run), plots, trends, history, htmlReportHref }));
  return { file: options.outFile, run, plots: plots.length, trends: trends.length, history };
}
