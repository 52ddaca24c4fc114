import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { type Plugin, build, transform } from 'esbuild';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GENERATED, renderFixtures } from '../../load/tools/fixtures.ts';
import { bundleAll, bundleOptions, foreignImports, scriptFiles } from '../../load/tools/bundle.ts';
import { summariesInLog } from '../../load/lib/summary.ts';
import { k6Release, k6Script, requestTimeline } from '../../load/tools/k6-runner.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);
const yaml = (rel: string) => parse(readFileSync(new URL(rel, root), 'utf8'));
const targets = yaml('fixtures/targets.yaml').performance;
const scenarios = yaml('fixtures/load-scenarios.yaml').performance;

// What the k6 runtime provides, reduced to what the scripts touch at init time.
const k6Stubs: Plugin = {
  name: 'k6-stubs',
  setup(b) {
    b.onResolve({ filter: /^k6(\/.*)?$/ }, (args) => ({ path: args.path, namespace: 'k6' }));
    b.onLoad({ filter: /.*/, namespace: 'k6' }, () => ({
      contents: 'export function check() { return true } export class Trend { add() {} } export default { scenario: {} }', loader: 'js',
    }));
  },
};

/** A script's module as k6 would load it in its init context, with `env` as its __ENV. */
async function scriptModule(file: string, env: Record<string, string>): Promise<Record<string, any>> {
  const out = await build({ ...bundleOptions, entryPoints: [file], write: false, external: [], plugins: [k6Stubs] });
  const g = globalThis as Record<string, unknown>;
  g.__ENV = { BASE_URL: 'http://lb.test', TOKENS: '{}', ...env };
  g.open = () => '{}';
  return import(`data:text/javascript;base64,${Buffer.from(`${out.outputFiles[0]!.text}\n//${Math.random()}`).toString('base64')}`);
}

/** A script's exported `options`, as k6 would read them in its init context. */
async function optionsOf(file: string, profile = 'fast'): Promise<{ scenarios: Record<string, any>; thresholds: Record<string, unknown[]> }> {
  return (await scriptModule(file, { PERCOLATE_PROFILE: profile })).options;
}
const exprs = (list: unknown[] | undefined) => (list ?? []).map((t) => (typeof t === 'string' ? t : (t as { threshold: string }).threshold));

describe('load/ k6 scripts', () => {
  const scripts = scriptFiles().map((f) => basename(f, '.ts'));

  it('has one script per T5 test', () => {
    expect(scripts).toEqual(expect.arrayContaining(['baseline', 'spike', 'sustained', 'cold-start', 'concurrent-tenants']));
  });

  it('type-check against @types/k6 (k6 runtime, no Node APIs)', async () => {
    await expect(run('npx', ['tsc', '-p', 'load/tsconfig.json'], { cwd: root })).resolves.toBeDefined();
  }, 120_000);

  it('read fixtures that match the YAML (load/lib/fixtures.generated.ts is current)', () => {
    expect(readFileSync(GENERATED, 'utf8'), 'run npm run load:fixtures').toBe(renderFixtures());
  });

  it.each(['fast', 'realistic'])('carry the fixture thresholds and rates in their options (%s profile)', async (profile) => {
    const p = scenarios;
    const t = targets;
    const base = await optionsOf(new URL('load/baseline.ts', root).pathname, profile);
    expect(exprs(base.thresholds.http_req_duration)).toEqual([`p(95)<${t.p95Ms}`, `p(99)<${t.p99Ms}`]);
    expect(exprs(base.thresholds.http_req_failed)).toEqual([`rate<${t.errorRate}`]);
    expect(base.scenarios.baseline).toMatchObject({ executor: 'constant-arrival-rate', rate: p.baseline[profile].rate, duration: `${p.baseline[profile].durationSeconds}s` });

    const sustained = await optionsOf(new URL('load/sustained.ts', root).pathname, profile);
    expect(exprs(sustained.thresholds.http_req_duration)).toEqual([`p(95)<${t.p95Ms}`, `p(99)<${t.p99Ms}`]);
    expect(sustained.thresholds.http_req_failed).toEqual([expect.objectContaining({ threshold: `rate<${t.errorRate}`, abortOnFail: true })]);
    expect(sustained.scenarios.sustained).toMatchObject({ executor: 'constant-arrival-rate', rate: p.sustained[profile].rate, duration: `${p.sustained[profile].durationSeconds}s` });

    const spike = await optionsOf(new URL('load/spike.ts', root).pathname, profile);
    expect(spike.thresholds['http_req_failed{phase:spike}']).toEqual([expect.objectContaining({ threshold: `rate<=${t.spikeErrorRate}`, abortOnFail: true })]);
    expect(exprs(spike.thresholds['http_req_duration{phase:recovery}'])).toEqual([`p(95)<${t.p95Ms}`]);
    const s = spike.scenarios.spike;
    expect(s.executor).toBe('ramping-arrival-rate');
    expect(Math.max(...s.stages.map((x: { target: number }) => x.target))).toBe(p.spike[profile].baseRate * p.spike.factor);
    expect(s.startRate).toBe(p.spike[profile].baseRate);

    const concurrent = await optionsOf(new URL('load/concurrent-tenants.ts', root).pathname, profile);
    expect(exprs(concurrent.thresholds.http_req_duration)).toEqual([`p(95)<${t.concurrentTenants.p95Ms}`]);
    expect(exprs(concurrent.thresholds.http_req_failed)).toEqual([`rate<${t.concurrentTenants.errorRate}`]);
    expect(concurrent.scenarios['concurrent-tenants']).toMatchObject({ executor: 'constant-arrival-rate', rate: p.concurrentTenants[profile].ratePerTenant * p.concurrentTenants.tenants });
    for (const tier of ['small', 'medium', 'large']) expect(exprs(concurrent.thresholds[`http_req_duration{tier:${tier}}`])).toEqual([`p(95)<${t.concurrentTenants.p95Ms}`]);

    const cold = await optionsOf(new URL('load/cold-start.ts', root).pathname, profile);
    expect(exprs(cold.thresholds.ttfr)).toEqual([`p(95)<${t.coldStartP95Seconds * 1000}`]);
    expect(Object.keys(cold.scenarios).sort()).toEqual(scenarios.coldStart.tiers.map((x: string) => `cold-${x}`).sort());
  }, 60_000);

  it('print their summary as one JSON line only with SUMMARY_STDOUT=json (a k6-operator runner\'s log is read back)', async () => {
    const file = scriptFiles().find((f) => basename(f, '.ts') === 'baseline')!;
    const withLine = (await scriptModule(file, { SUMMARY_STDOUT: 'json', SUMMARY_DIR: '/tmp/summary' })).handleSummary({ metrics: {} });
    expect(summariesInLog(withLine.stdout).map((s) => s.script)).toEqual(['baseline']);
    expect(withLine['/tmp/summary/baseline.json']).toBeDefined();
    const without = (await scriptModule(file, {})).handleSummary({ metrics: {} });
    expect(summariesInLog(without.stdout)).toEqual([]);
  });

  it('bundle to ES2017 JavaScript (read by every ES2019 runtime and by k6 before 0.5x) that imports only k6 modules (npm run load:bundle)', async () => {
    const outputs = await bundleAll();
    expect(outputs.map((o) => basename(o, '.js')).sort()).toEqual([...scripts].sort());
    for (const out of outputs) {
      const js = readFileSync(out, 'utf8');
      expect(foreignImports(js)).toEqual([]);
      // Optional chaining and nullish coalescing lowered, no type syntax left.
      expect(js).not.toMatch(/\?\.|\?\?|\bimport type\b|\binterface\s+\w+\s*\{|: (string|number|boolean)\b[,)=;]/);
      // No object spread either (k6 before 0.5x parses none): lowering the bundle once more adds no spread helper.
      const spreads = (code: string) => code.match(/__spread(Values|Props)\(/g)?.length ?? 0;
      const lowered = await transform(js, { format: 'esm', target: 'esnext', supported: { 'object-rest-spread': false } });
      expect(spreads(lowered.code), `${basename(out)}: object spread left in the bundle`).toBe(spreads(js));
    }
  }, 60_000);

  it('go to k6 as TypeScript from k6 v0.57 on, and as their ES2017 bundle for an older k6', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'percolate-k6-'));
    try {
      const fakeK6 = (version: string) => {
        const file = join(dir, `k6-${version}`);
        writeFileSync(file, `#!/bin/sh\necho "k6 ${version} (go1.22.0, linux/amd64)"\n`, { mode: 0o755 });
        return file;
      };
      expect(k6Release(fakeK6('v1.2.3'))).toEqual([1, 2, 3]);
      const current = await k6Script(fakeK6('v1.0.0'), 'baseline', dir);
      expect([basename(current.file), current.form]).toEqual(['baseline.ts', 'k6 v1.0.0, TypeScript']);
      expect(basename((await k6Script(fakeK6('v0.57.0'), 'baseline', dir)).file)).toBe('baseline.ts');
      const older = await k6Script(fakeK6('v0.48.0'), 'baseline', dir);
      expect([basename(older.file), older.form]).toEqual(['baseline.bundle.js', 'k6 v0.48.0 (before native TypeScript), ES2017 bundle']);
      expect(foreignImports(readFileSync(older.file, 'utf8'))).toEqual([]);
      expect(readFileSync(older.file, 'utf8')).not.toMatch(/\bimport type\b|\binterface\s+\w+\s*\{/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('count k6\'s requests by the second they started in, from the earliest start', () => {
    // Points are stamped at the end: the first to end (t 1 000) started after the slow one (started at 200).
    const points = [
      { t: 1_000, ms: 50, failed: false },
      { t: 2_700, ms: 2_500, failed: false },
      { t: 2_300, ms: 100, failed: true },
    ];
    expect(requestTimeline(points, 1_000)).toEqual([
      { second: 0, requests: 2, errors: 0, slow: 1 },
      { second: 1, requests: 0, errors: 0, slow: 0 },
      { second: 2, requests: 1, errors: 1, slow: 0 },
    ]);
    expect(requestTimeline([], 500)).toEqual([]);
  });
});
