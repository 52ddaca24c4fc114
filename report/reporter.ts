import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FullConfig, FullResult, Reporter } from '@playwright/test/reporter';
import { runChoiceOf } from '../lib/config.ts';
import { CONTEXT_FILE, buildReport, currentContext } from './build.ts';
import { CHROMIUM_PATH, checkReport } from './check.ts';

export interface RunReportOptions {
  /** The JSON reporter's output file; this reporter must be listed after it. */
  resultsFile?: string;
  outputFile?: string;
  /** Check the page in Chromium (default true; playwright.config.ts passes PERCOLATE_REPORT_CHECK from lib/config.ts). */
  check?: boolean;
}

/**
 * Builds reports/run.html when the run ends — passed, failed or interrupted — from the JSON
 * reporter's file, which the reporters before this one have written by then (Playwright
 * calls onEnd one reporter after another, in order). A page that fails the Chromium check
 * fails the run.
 */
export default class RunReportReporter implements Reporter {
  private readonly resultsFile: string;
  private readonly outputFile: string;
  private readonly check: boolean;

  constructor(options: RunReportOptions = {}) {
    this.resultsFile = resolve(options.resultsFile ?? 'reports/results.json');
    this.outputFile = resolve(options.outputFile ?? 'reports/run.html');
    this.check = options.check ?? true;
  }

  printsToStdio(): boolean {
    return false;
  }

  onBegin(config: FullConfig): void {
    // Recorded now, while the run's checkout is the one tested; target and profile are the run's metadata.
    mkdirSync(dirname(this.resultsFile), { recursive: true });
    writeFileSync(join(dirname(this.resultsFile), CONTEXT_FILE), `${JSON.stringify(currentContext(config.rootDir, runChoiceOf(config.metadata)), null, 2)}\n`);
  }

  async onEnd(result: FullResult): Promise<{ status?: FullResult['status'] } | undefined> {
    const say = (line: string) => process.stdout.write(`[report] ${line}\n`);
    if (!existsSync(this.resultsFile)) {
      say(`no ${this.resultsFile}: the JSON reporter must come before this one`);
      return { status: 'failed' };
    }
    try {
      const built = await buildReport({ resultsFile: this.resultsFile, outFile: this.outputFile });
      say(`${this.outputFile}: ${built.run.tests.length} tests, ${built.plots} plots, ${built.trends} trends over ${built.history.length} runs`);
      if (!this.check) return undefined;
      if (!existsSync(CHROMIUM_PATH)) {
        say(`no Chromium at ${CHROMIUM_PATH}: the page was not checked (node scripts/ensure-deps.mjs chromium installs it)`);
        return undefined;
      }
      const check = await checkReport({ htmlFile: this.outputFile, resultsFile: this.resultsFile });
      say(`checked in Chromium: ${check.rows} test rows, ${check.plots.length} plots with data; screenshot ${check.screenshot}`);
      for (const problem of check.problems) say(`PROBLEM: ${problem}`);
      return check.problems.length && result.status === 'passed' ? { status: 'failed' } : undefined;
    } catch (err) {
      say(`could not build the report: ${err instanceof Error ? err.stack : String(err)}`);
      return { status: 'failed' };
    }
  }
}
