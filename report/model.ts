import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Figure, Series } from '../suites/lib/measure.ts';
import { FIGURE_ANNOTATION, SERIES_PREFIX } from '../suites/lib/measure.ts';

/**
 * A run as the report sees it, read from Playwright's JSON reporter output: every test with
 * its category (project), outcome, the figures it recorded (annotations of type `figure`)
 * and the series it attached (`series:<name>`).
 */

export interface RunMeta {
  target: string;
  profile: string;
  commit: string;
  startTime: string;
  durationMs: number;
  /** Playwright's verdict for the whole run. */
  status: 'passed' | 'failed' | 'timedout' | 'interrupted' | 'unknown';
}

export type TestStatus = 'passed' | 'failed' | 'timedOut' | 'skipped' | 'interrupted';

export interface TestEntry {
  /** Playwright's test id: the HTML report's `#?testId=` anchor. */
  id: string;
  title: string;
  /** The describe blocks around it. */
  path: string[];
  category: string;
  file: string;
  line: number;
  tags: string[];
  status: TestStatus;
  /** `expected`, `unexpected`, `flaky` or `skipped`, as Playwright counts them. */
  outcome: string;
  durationMs: number;
  startTime?: string;
  figures: Array<Omit<Figure, 'value'> & { value: number | null }>;
  series: Series[];
  /** The first line of the error of a failed test, or the reason of a skip. */
  note?: string;
}

export interface RunModel {
  meta: RunMeta;
  /** The run's Playwright projects: the plan's categories. */
  categories: string[];
  tests: TestEntry[];
  /** Errors outside any test (global setup, a worker that crashed). */
  errors: string[];
}

/** What the reporter writes beside results.json: what the JSON itself does not say. */
export interface RunContext {
  target: string;
  profile: string;
  commit: string;
}

interface JsonAttachment { name: string; contentType: string; path?: string; body?: string }
interface JsonAnnotation { type: string; description?: string }
interface JsonResult {
  status: TestStatus; duration: number; startTime?: string; retry: number;
  errors?: Array<{ message?: string }>; annotations?: JsonAnnotation[]; attachments?: JsonAttachment[];
}
interface JsonTest { annotations?: JsonAnnotation[]; projectName: string; status: string; results: JsonResult[] }
interface JsonSpec { id: string; title: string; file: string; line: number; tags?: string[]; tests: JsonTest[] }
interface JsonSuite { title: string; file: string; specs?: JsonSpec[]; suites?: JsonSuite[] }
interface JsonReport {
  config?: { rootDir?: string; projects?: Array<{ name: string }> };
  suites?: JsonSuite[];
  errors?: Array<{ message?: string }>;
  stats?: { startTime?: string; duration?: number; unexpected?: number; expected?: number; flaky?: number; skipped?: number };
}

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

function readAttachment(a: JsonAttachment, baseDir: string): string | undefined {
  if (a.body !== undefined) return Buffer.from(a.body, 'base64').toString('utf8');
  if (!a.path) return undefined;
  const file = isAbsolute(a.path) ? a.path : resolve(baseDir, a.path);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

function parseFigure(description: string | undefined): TestEntry['figures'][number] | undefined {
  try {
    const f = JSON.parse(description ?? '') as TestEntry['figures'][number];
    if (typeof f?.name !== 'string') return undefined;
    return { ...f, value: typeof f.value === 'number' && Number.isFinite(f.value) ? f.value : null };
  } catch {
    return undefined;
  }
}

function runStatus(stats: JsonReport['stats']): RunMeta['status'] {
  if (!stats) return 'unknown';
  return (stats.unexpected ?? 0) > 0 ? 'failed' : 'passed';
}

export function loadRun(resultsFile: string, context?: Partial<RunContext>): RunModel {
  const report = JSON.parse(readFileSync(resultsFile, 'utf8')) as JsonReport;
  const baseDir = dirname(resultsFile);
  const tests: TestEntry[] = [];
  const walk = (suite: JsonSuite, path: string[]) => {
    for (const spec of suite.specs ?? []) {
      for (const test of spec.tests) {
        const result = test.results.at(-1);
        const annotations = [...(test.annotations ?? []), ...(result?.annotations ?? [])];
        const seen = new Set<string>();
        const figures = annotations.filter((a) => a.type === FIGURE_ANNOTATION && !seen.has(a.description ?? '') && seen.add(a.description ?? ''))
          .map((a) => parseFigure(a.description)).filter((f) => f !== undefined);
        const series = (result?.attachments ?? []).filter((a) => a.name.startsWith(SERIES_PREFIX)).flatMap((a) => {
          const text = readAttachment(a, baseDir);
          try {
            const s = JSON.parse(text ?? '') as Series;
            return s && Array.isArray(s.points) ? [s] : [];
          } catch {
            return [{ name: a.name.slice(SERIES_PREFIX.length), unit: '', points: [] } satisfies Series];
          }
        });
        const skip = annotations.find((a) => a.type === 'skip')?.description;
        const error = result?.errors?.[0]?.message;
        tests.push({
          id: spec.id, title: spec.title, path, category: test.projectName, file: spec.file, line: spec.line,
          tags: spec.tags ?? [], status: result?.status ?? 'skipped', outcome: test.status,
          durationMs: result?.duration ?? 0, startTime: result?.startTime, figures, series,
          note: error ? stripAnsi(error).split('\n')[0] : skip,
        });
      }
    }
    for (const child of suite.suites ?? []) walk(child, [...path, child.title]);
  };
  for (const fileSuite of report.suites ?? []) walk(fileSuite, []);
  return {
    meta: {
      target: context?.target ?? 'unknown',
      profile: context?.profile ?? 'unknown',
      commit: context?.commit ?? 'unknown',
      startTime: report.stats?.startTime ?? new Date(0).toISOString(),
      durationMs: report.stats?.duration ?? 0,
      status: runStatus(report.stats),
    },
    categories: [...new Set([...(report.config?.projects ?? []).map((p) => p.name), ...tests.map((t) => t.category)])],
    tests,
    errors: (report.errors ?? []).map((e) => stripAnsi(e.message ?? String(e)).split('\n')[0]!),
  };
}
