import type { Figure } from '../suites/lib/measure.ts';
import type { HistoryEntry } from './history.ts';
import type { RunModel, TestEntry } from './model.ts';
import type { SeedLine } from './seed.ts';

/** The page: static HTML with inline CSS and SVG, no script, nothing fetched when it is opened. */

export interface RenderedPlot {
  /** Which test it belongs to (absent for history trends). */
  testId?: string;
  series: string;
  caption: string;
  svg: string;
}

export interface PageInput {
  run: RunModel;
  seed: SeedLine[];
  plots: RenderedPlot[];
  trends: RenderedPlot[];
  history: HistoryEntry[];
  /** Path of Playwright's HTML report relative to the page (for the per-test links). */
  htmlReportHref: string;
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function formatValue(value: number | null, unit: string): string {
  if (value === null) return 'not measured';
  if (unit === 'ratio') return `${(value * 100).toFixed(value === 1 || value === 0 ? 0 : 2)} %`;
  const digits = Number.isInteger(value) ? 0 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

const formatBound = (f: Pick<Figure, 'target' | 'unit'>) => (f.target ? `${f.target.op} ${formatValue(f.target.value, f.unit)}` : 'no target');

const duration = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

const STATUS_LABEL: Record<string, string> = { passed: 'passed', failed: 'FAILED', timedOut: 'TIMED OUT', skipped: 'skipped', interrupted: 'interrupted' };

function verdict(pass: boolean | null | undefined): string {
  if (pass === true) return '<span class="ok">met</span>';
  if (pass === false) return '<span class="bad">missed</span>';
  return '';
}

function testRow(t: TestEntry, href: string): string {
  const figures = t.figures.map((f) => `<tr data-figure="${esc(f.name)}" data-value="${f.value ?? ''}">
<td class="fname">${esc(f.name)}${f.detail ? `<div class="detail">${esc(f.detail)}</div>` : ''}</td>
<td class="target">${esc(formatBound(f))}${f.target?.source ? `<div class="detail">${esc(f.target.source)}</div>` : ''}</td>
<td class="measured${f.value === null ? ' bad' : ''}">${esc(formatValue(f.value, f.unit))} ${verdict(f.pass)}${f.target && f.asserted !== true ? '<div class="note">recorded, not asserted</div>' : ''}</td></tr>`).join('');
  return `<tr data-test-id="${esc(t.id)}" class="status-${esc(t.status)}">
<td class="test"><div>${esc(t.title)}</div><div class="where">${esc(t.file)}:${t.line}${t.note ? ` — ${esc(t.note)}` : ''}</div></td>
<td>${figures ? `<table class="figures">${figures}</table>` : '<span class="note">no figure recorded</span>'}</td>
<td class="result ${t.status === 'passed' ? 'ok' : t.status === 'skipped' ? 'skip' : 'bad'}">${esc(STATUS_LABEL[t.status] ?? t.status)}<div class="where">${duration(t.durationMs)}</div></td>
<td><a href="${esc(href)}#?testId=${encodeURIComponent(t.id)}">report</a></td>
</tr>`;
}

function seedRows(seed: SeedLine[]): string {
  return seed.map(({ row, bound, measured }) => {
    const target = bound === undefined ? 'missing in targets.yaml' : `${row.op} ${bound} ${row.unit}`;
    const cells = measured.length
      ? measured.map((m) => `<li data-seed-value="${m.value ?? ''}">${m.value === null ? 'not measured' : esc(`${Number(m.value.toFixed(3))} ${row.unit}`)} ${verdict(m.pass)} <span class="note">${esc(m.test.title.match(/^T\d+\.\d+/)?.[0] ?? m.test.title)}: ${esc(m.figure)}${m.asserted ? '' : ', recorded, not asserted'}</span></li>`).join('')
      : '<li class="unmeasured">not measured in this run</li>';
    return `<tr data-seed-row="${esc(row.metric)}"><td>${esc(row.metric)}<div class="where">${esc(row.measurement)}</div></td><td>${esc(target)}</td><td><ul>${cells}</ul></td></tr>`;
  }).join('\n');
}

function plotFigure(p: RenderedPlot): string {
  return `<figure class="plot" data-series="${esc(p.series)}"${p.testId ? ` data-test-id="${esc(p.testId)}"` : ''}><figcaption>${p.caption}</figcaption>${p.svg}</figure>`;
}

export function renderPage({ run, seed, plots, trends, history, htmlReportHref }: PageInput): string {
  const { meta } = run;
  const counts = (tests: TestEntry[]) => {
    const c = { passed: 0, failed: 0, skipped: 0 };
    for (const t of tests) {
      if (t.status === 'passed') c.passed += 1;
      else if (t.status === 'skipped') c.skipped += 1;
      else c.failed += 1;
    }
    return c;
  };
  const total = counts(run.tests);
  const summary = run.categories.map((cat) => {
    const tests = run.tests.filter((t) => t.category === cat);
    const c = counts(tests);
    const state = !tests.length ? '<span class="skip">not run</span>' : c.failed ? '<span class="bad">failed</span>' : c.passed ? '<span class="ok">passed</span>' : '<span class="skip">skipped</span>';
    return `<tr><td><a href="#cat-${esc(cat)}">${esc(cat)}</a></td><td>${state}</td><td>${c.passed}</td><td>${c.failed}</td><td>${c.skipped}</td></tr>`;
  }).join('');
  const categories = run.categories.filter((cat) => run.tests.some((t) => t.category === cat)).map((cat) => `
<section class="category" id="cat-${esc(cat)}"><h3>${esc(cat)}</h3>
<table class="tests"><thead><tr><th>test</th><th>figures: name · target · measured</th><th>result</th><th>Playwright</th></tr></thead><tbody>
${run.tests.filter((t) => t.category === cat).map((t) => testRow(t, htmlReportHref)).join('\n')}
</tbody></table></section>`).join('\n');
  const byTest = run.tests.filter((t) => plots.some((p) => p.testId === t.id)).map((t) => `
<section class="plots-of-test"><h3>${esc(t.title)}</h3><div class="grid">${plots.filter((p) => p.testId === t.id).map(plotFigure).join('')}</div></section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Percolate run ${esc(meta.startTime)} — ${esc(meta.status)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1280px; }
h1 { margin: 0 0 .5rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { margin: 1.2rem 0 .4rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.meta dt { color: #666; } dl.meta dd { margin: 0; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid #eee; }
th { background: #f6f6f6; font-weight: 600; } td ul { margin: 0; padding: 0; list-style: none; } td li + li { margin-top: .25rem; }
table.summary { width: auto; }
.ok { color: #17803d; font-weight: 600; } .bad { color: #c4281c; font-weight: 600; } .skip { color: #8a6d00; }
.where, .detail, .note { color: #777; font-size: 12px; } .fname { font-weight: 500; } .unmeasured { color: #999; font-style: italic; }
table.tests > tbody > tr > td.test { width: 34%; }
table.figures td { border: 0; padding: 0 .6rem .35rem 0; } table.figures td.fname { width: 45%; } table.figures td.target { width: 30%; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.plot { margin: 0; border: 1px solid #eee; padding: .5rem; } figure.plot figcaption { font-size: 12px; color: #444; max-width: 640px; }
.banner { padding: .5rem .8rem; border-radius: 4px; display: inline-block; margin: .3rem 0; }
.banner.passed { background: #e7f6ec; } .banner.failed { background: #fdecea; }
</style></head>
<body>
<header>
<h1>Percolate run report</h1>
<div class="banner ${meta.status === 'passed' ? 'passed' : 'failed'}">${esc(meta.status)}: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped</div>
<dl class="meta">
<dt>target</dt><dd>${esc(meta.target)}</dd>
<dt>profile</dt><dd>${esc(meta.profile)}</dd>
<dt>commit</dt><dd>${esc(meta.commit)}</dd>
<dt>started</dt><dd>${esc(meta.startTime)}</dd>
<dt>duration</dt><dd>${duration(meta.durationMs)}</dd>
<dt>Playwright report</dt><dd><a href="${esc(htmlReportHref)}">${esc(htmlReportHref)}</a></dd>
</dl>
${run.errors.length ? `<p class="bad">Errors outside tests:</p><ul>${run.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>` : ''}
</header>
<section id="summary"><h2>Categories</h2>
<table class="summary"><thead><tr><th>category</th><th>state</th><th>passed</th><th>failed</th><th>skipped</th></tr></thead><tbody>${summary}</tbody></table>
</section>
<section id="seed-000"><h2>Seed 000 performance targets</h2>
<table class="seed"><thead><tr><th>metric</th><th>seed target</th><th>measured in this run</th></tr></thead><tbody>
${seedRows(seed)}
</tbody></table>
</section>
<section id="tests"><h2>Tests by category</h2>
${categories || '<p>No test ran.</p>'}
</section>
<section id="plots"><h2>Plots</h2>
${byTest || '<p>No test of this run recorded a series.</p>'}
</section>
<section id="history"><h2>History</h2>
<p>${history.length} run${history.length === 1 ? '' : 's'} in <code>reports/history/</code>${history.length ? `, from ${esc(history[0]!.startTime)}` : ''}. Key figures across runs (dashed: the target).</p>
<div class="grid">${trends.map(plotFigure).join('')}</div>
</section>
</body></html>
`;
}
