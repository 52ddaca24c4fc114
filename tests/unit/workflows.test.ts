import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../lib/repo.ts';

const DIR = join(REPO_ROOT, '.github', 'workflows');
type Json = any;
const text = (name: string) => readFileSync(join(DIR, name), 'utf8');
const steps = (wf: Json): Json[] => Object.values(wf.jobs as Record<string, Json>).flatMap((j) => j.steps);
const runs = (wf: Json) => steps(wf).map((s) => s.run ?? '').join('\n');

describe('CI workflows', () => {
  it('every workflow is valid against GitHub\'s workflow schema (action-validator, offline)', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
    expect(files.sort()).toEqual(['nightly.yml', 'pr.yml', 'weekly.yml']);
    for (const f of files) expect(validateWorkflow(text(f)).errors, f).toEqual([]);
  });

  it('the validator catches a broken workflow', () => {
    const broken = text('pr.yml').replace('runs-on: ubuntu-24.04', 'runs_on: ubuntu-24.04');
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0);
  });

  it('pr runs what .ci/run runs; nightly and weekly run on a schedule with their tags, target and profile', () => {
    const pr = parse(text('pr.yml'));
    expect(runs(pr)).toContain('bash .ci/run');

    const nightly = parse(text('nightly.yml'));
    expect(nightly.on.schedule[0].cron).toMatch(/^\S+ \S+ \* \* \*$/);
    expect(runs(nightly)).toContain('--grep "@pr|@nightly"');
    expect(runs(nightly)).toMatch(/docker info .*kind=k3s.*kind=local/s);
    expect(nightly.jobs.suite.env.PERCOLATE_PROFILE).toBe('fast');

    const weekly = parse(text('weekly.yml'));
    expect(weekly.on.schedule[0].cron).toMatch(/^\S+ \S+ \* \* [0-6]$/);
    expect(weekly.jobs.suite.env.PERCOLATE_PROFILE).toBe('realistic');
    // Everything: no tag filter.
    expect(runs(weekly)).toMatch(/npm run suite\s*$/m);
  });

  it('each uploads reports/ whatever the outcome, and the scheduled ones keep reports/history', () => {
    for (const f of ['pr.yml', 'nightly.yml', 'weekly.yml']) {
      const upload = steps(parse(text(f))).find((s) => String(s.uses).startsWith('actions/upload-artifact@'));
      expect(upload, f).toBeDefined();
      expect(upload.with.path, f).toBe('reports/');
      expect(upload.if, f).toBe('always()');
    }
    for (const f of ['nightly.yml', 'weekly.yml']) {
      const all = steps(parse(text(f)));
      expect(all.find((s) => String(s.uses).startsWith('actions/cache/restore@'))?.with.path, f).toBe('reports/history');
      expect(all.find((s) => String(s.uses).startsWith('actions/cache/save@'))?.with.path, f).toBe('reports/history');
      expect(runs(parse(text(f))), f).toContain('reports/history/');
    }
  });
});
