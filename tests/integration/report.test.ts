import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../report/build.ts';
import { CHROMIUM_PATH, checkReport } from '../../report/check.ts';

/**
 * The run report on a recorded small run of the suite (tests/fixtures/report/small-run: 7
 * tests of an @pr run, series attached inline, the longest distributions thinned to 240
 * points), checked in real Chromium; then the same run broken on purpose, which the check
 * must refuse.
 */
const FIXTURE = 'tests/fixtures/report/small-run';
const dirs: string[] = [];
/** Building a report and checking it in Chromium. */
const REPORT_RUN_MS = 180_000;
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function workDir(mutate?: (results: any) => void): { results: string; html: string } {
  const dir = mkdtempSync(join(tmpdir(), 'percolate-report-'));
  dirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  const results = join(dir, 'results.json');
  if (mutate) {
    const json = JSON.parse(readFileSync(results, 'utf8'));
    mutate(json);
    writeFileSync(results, JSON.stringify(json));
  }
  return { results, html: join(dir, 'run.html') };
}

/** Every test of a Playwright JSON report, with its last result. */
function* testsOf(json: any): Generator<{ title: string; test: any; result: any }> {
  const walk = function* (suite: any): Generator<{ title: string; test: any; result: any }> {
    for (const spec of suite.specs ?? []) for (const t of spec.tests) yield { title: spec.title, test: t, result: t.results.at(-1) };
    for (const child of suite.suites ?? []) yield* walk(child);
  };
  for (const s of json.suites) yield* walk(s);
}

const decode = (a: any) => JSON.parse(Buffer.from(a.body, 'base64').toString('utf8'));
const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

describe.skipIf(!existsSync(CHROMIUM_PATH))(`run report, checked in Chromium (${CHROMIUM_PATH})`, () => {
  it('a recorded run: a row per test, every figure, every plot with data, a screenshot', async () => {
    const { results, html } = workDir();
    const built = await buildReport({ resultsFile: results, outFile: html });
    expect(built.run.tests).toHaveLength(7);
    expect(built.plots).toBeGreaterThanOrEqual(4);
    const page = readFileSync(html, 'utf8');
    expect(page).not.toMatch(/<script|<link|src="http/);
    expect(page).toContain('not measured in this run');
    expect(page).toContain('f98bb3c-recorded');

    const check = await checkReport({ htmlFile: html, resultsFile: results });
    expect(check.problems).toEqual([]);
    expect(check.rows).toBe(7);
    expect(check.plots.filter((p) => p.testId).length).toBe(built.plots);
    for (const plot of check.plots) expect(plot.points, plot.series).toBeGreaterThan(0);
    expect(readFileSync(check.screenshot).subarray(1, 4).toString()).toBe('PNG');
  }, REPORT_RUN_MS);

  it('refuses a run whose plot is empty and whose figure has no value', async () => {
    const { results, html } = workDir((json) => {
      for (const { title, test, result } of testsOf(json)) {
        if (title.startsWith('T3.4')) {
          const series = result.attachments.find((a: any) => a.name.startsWith('series:requests answered'));
          series.body = encode({ ...decode(series), points: [] });
        }
        if (title.startsWith('T2.1')) {
          // What measure() records for a NaN: JSON has no NaN, so the value arrives as null.
          for (const a of [...test.annotations, ...result.annotations]) if (a.type === 'figure') a.description = JSON.stringify({ ...JSON.parse(a.description), value: Number.NaN });
        }
      }
    });
    await buildReport({ resultsFile: results, outFile: html });
    const check = await checkReport({ htmlFile: html, resultsFile: results });
    expect(check.problems).toContainEqual('plot "requests answered per second while a pod terminates" has no data points');
    expect(check.problems).toContainEqual(expect.stringMatching(/^figure "time to first response from zero pods" of "T2\.1 .*" has no measured value$/));
  }, REPORT_RUN_MS);

  it('refuses a page that lost a test row or a figure', async () => {
    const { results, html } = workDir();
    await buildReport({ resultsFile: results, outFile: html });
    const page = readFileSync(html, 'utf8');
    const withoutRow = page.replace(/<tr data-test-id="[^"]+" class="status-passed">[\s\S]*?T1\.1 [\s\S]*?<\/tr>\n(?=<tr data-test-id|<\/tbody>)/, '');
    expect(withoutRow).not.toBe(page);
    const withoutFigure = withoutRow.replace(/<tr data-figure="time to first response from zero pods"/, '<tr data-figure-gone="x"');
    writeFileSync(html, withoutFigure);
    const check = await checkReport({ htmlFile: html, resultsFile: results });
    expect(check.problems).toContainEqual(expect.stringMatching(/^no row for test "T1\.1 /));
    expect(check.problems).toContainEqual(expect.stringMatching(/^figure "time to first response from zero pods" of "T2\.1 .*" is missing from its row$/));
    expect(check.problems).toContainEqual('6 test rows for 7 tests');
  }, REPORT_RUN_MS);
});
