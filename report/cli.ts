import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildReport } from './build.ts';
import { CHROMIUM_PATH, checkReport } from './check.ts';

/**
 * `npm run report`: builds reports/run.html from reports/results.json, then checks it in
 * Chromium and saves reports/run.png. Exits 1 when the page fails the check.
 */
const { values } = parseArgs({
  options: {
    results: { type: 'string', default: 'reports/results.json' },
    out: { type: 'string', default: 'reports/run.html' },
    /** Where runs leave their entries; default history/ beside the page. */
    history: { type: 'string' },
    'no-check': { type: 'boolean', default: false },
  },
});

const resultsFile = resolve(values.results!);
if (!existsSync(resultsFile)) {
  console.error(`[report] ${values.results} does not exist: run the suite first (npm run suite)`);
  process.exit(1);
}
const built = await buildReport({ resultsFile, outFile: resolve(values.out!), ...(values.history ? { historyDir: resolve(values.history) } : {}) });
console.log(`[report] ${values.out}: ${built.run.tests.length} tests, ${built.plots} plots, ${built.trends} trends over ${built.history.length} runs`);
if (values['no-check']) process.exit(0);
if (!existsSync(CHROMIUM_PATH)) {
  console.error(`[report] no Chromium at ${CHROMIUM_PATH}: the page was not checked (node scripts/ensure-deps.mjs chromium installs it)`);
  process.exit(1);
}
const check = await checkReport({ htmlFile: built.file, resultsFile });
console.log(`[report] checked in Chromium: ${check.rows} test rows, ${check.plots.length} plots (${check.plots.map((p) => p.points).join(', ')} points); screenshot ${check.screenshot}`);
for (const problem of check.problems) console.error(`[report] PROBLEM: ${problem}`);
process.exit(check.problems.length ? 1 : 0);
