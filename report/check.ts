import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from '@playwright/test';
import { loadRun } from './model.ts';
import { DATA_LAYER } from './plots.ts';

/**
 * Opens the report in real Chromium and holds it to what the run recorded: the page loads
 * with no console error and fetches nothing; every test of the results has its row, every
 * figure its number, every series its plot, and every plot has data points (marks of its
 * data layer in the SVG). Saves a full-page screenshot beside the page.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialling out, which a closed
// network refuses by the dozen; root needs --no-sandbox.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface CheckOptions {
  htmlFile: string;
  resultsFile: string;
  /** Default: the page's name with .png, beside it. */
  screenshotFile?: string;
}

export interface CheckResult {
  problems: string[];
  rows: number;
  plots: Array<{ series: string; testId: string | null; points: number }>;
  screenshot: string;
}

export async function checkReport(options: CheckOptions): Promise<CheckResult> {
  const htmlFile = resolve(options.htmlFile);
  const screenshot = options.screenshotFile ?? join(dirname(htmlFile), htmlFile.replace(/^.*\//, '').replace(/\.html?$/, '') + '.png');
  const run = loadRun(options.resultsFile);
  const problems: string[] = [];
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH} (node scripts/ensure-deps.mjs chromium installs it; CHROMIUM_PATH points elsewhere)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageUrl = pathToFileURL(htmlFile).href;
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url === pageUrl || url.startsWith('data:')) return route.continue();
      problems.push(`the page fetched ${url} (it must be self-contained)`);
      return route.abort();
    });
    const response = await page.goto(pageUrl, { waitUntil: 'load' });
    if (!response?.ok()) problems.push(`the page did not load (${response?.status()})`);

    const shown = await page.$$eval('tr[data-test-id]', (rows) => rows.map((row) => ({
      id: row.getAttribute('data-test-id')!,
      figures: [...row.querySelectorAll('[data-figure]')].map((el) => ({ name: el.getAttribute('data-figure')!, value: el.getAttribute('data-value') ?? '' })),
    })));
    const plots = await page.$$eval('figure.plot', (figures, layer) => figures.map((f) => ({
      series: f.getAttribute('data-series') ?? '',
      testId: f.getAttribute('data-test-id'),
      points: [...f.querySelectorAll(`svg g.role-mark.${layer}_marks`)].reduce((n, g) => n + g.children.length, 0),
    })), DATA_LAYER);

    const rowsById = new Map(shown.map((r) => [r.id, r]));
    for (const test of run.tests) {
      const row = rowsById.get(test.id);
      if (!row) { problems.push(`no row for test "${test.title}" (${test.category})`); continue; }
      for (const figure of test.figures) {
        const cell = row.figures.find((f) => f.name === figure.name);
        if (!cell) problems.push(`figure "${figure.name}" of "${test.title}" is missing from its row`);
        else if (cell.value === '' || !Number.isFinite(Number(cell.value))) problems.push(`figure "${figure.name}" of "${test.title}" has no measured value`);
      }
      for (const series of test.series) {
        if (!plots.some((p) => p.testId === test.id && p.series === series.name)) problems.push(`series "${series.name}" of "${test.title}" has no plot`);
      }
    }
    const expected = new Set(run.tests.map((t) => t.id));
    for (const row of shown) if (!expected.has(row.id)) problems.push(`row ${row.id} is for no test of the run`);
    if (shown.length !== run.tests.length) problems.push(`${shown.length} test rows for ${run.tests.length} tests`);
    for (const plot of plots) if (plot.points === 0) problems.push(`plot "${plot.series}" has no data points`);

    await page.screenshot({ path: screenshot, fullPage: true });
    return { problems, rows: shown.length, plots, screenshot };
  } finally {
    await browser.close();
  }
}
