/**
 * `npm run load -- <script> [--target local|k3s|kube] [--profile fast|realistic] [--operator] [-- <k6 args>]`
 *
 * Mints a token for every tenant of the script's plan (with the target's secrets), writes
 * them to a file only this user can read, points BASE_URL at the target's database load
 * balancer and runs `k6 run load/<script>.ts` — with the k6 on PATH or in K6_BINARY. The
 * summary lands in reports/load/<script>.{json,txt}. Without k6 it says how to get it, and
 * that `npx playwright test --project=t5-performance` runs the same scenarios without it.
 *
 * `--operator` (a cluster with the k6-operator): the script runs in the cluster instead, as
 * a TestRun (load/tools/testrun.ts) with one runner per node up to what its peak rate
 * needs; the runners' summaries are read back from their logs and merged. No local k6.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openTarget } from '../../cluster/targets.ts';
import { ConfigError, TARGET_KINDS, harnessConfig, parseProfile, parseTarget } from '../../lib/config.ts';
import { capabilityMissingReason, capabilityOf } from '../../cluster/target.ts';
import { SCRIPTS, type ScriptName, loadPlan } from '../lib/scenarios.ts';
import { mergeRunnerSummaries, summariesInLog, summaryText } from '../lib/summary.ts';
import { LOAD_DIR, bundleScript } from './bundle.ts';
import { parallelismFor, renderTestRun } from './testrun.ts';
import { bringTiersToZero, findK6, k6Script, mintTokens } from './k6-runner.ts';

const K6_INSTALL = `k6 is not installed (looked for K6_BINARY, then k6 on PATH). Install it from Grafana's packages:
  https://grafana.com/docs/k6/latest/set-up/install-k6/   (Debian/Ubuntu: the dl.k6.io apt repository; or a release binary)
then run this again, or set K6_BINARY=/path/to/k6. Without k6, the same scenarios and thresholds run in the suite:
  npx playwright test --project=t5-performance`;

const fail = (message: string): never => { process.stderr.write(`load: ${message}\n`); process.exit(2); };
const { values, positionals } = parseArgs({ allowPositionals: true, options: { target: { type: 'string' }, profile: { type: 'string' }, operator: { type: 'boolean' } } });
const script = (positionals[0] ?? fail(`usage: npm run load -- <${SCRIPTS.join('|')}> [--target ${TARGET_KINDS.join('|')}] [--profile fast|realistic] [--operator] [-- k6 args]`)).replace(/^load\//, '').replace(/\.(ts|js)$/, '');
if (!(SCRIPTS as readonly string[]).includes(script)) fail(`unknown script "${script}"; known: ${SCRIPTS.join(', ')}`);
// The options win over the environment (PERCOLATE_TARGET, PERCOLATE_PROFILE: lib/config.ts).
const choice = (() => {
  try {
    const config = harnessConfig();
    return {
      target: values.target === undefined ? config.target : parseTarget(values.target, '--target'),
      profile: values.profile === undefined ? config.profile : parseProfile(values.profile, '--profile'),
    };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return fail(err.message);
  }
})();

const plan = loadPlan(script as ScriptName, choice.profile);
if (values.operator) process.exit(await runOnOperator());

const k6 = findK6();
if (!k6) { process.stderr.write(`${K6_INSTALL}\n`); process.exit(3); }

const target = await openTarget(choice);
let code = 1;
try {
  const { loadBalancerUrl } = await target.getEndpoints();
  const summaryDir = join(LOAD_DIR, '..', 'reports', 'load');
  mkdirSync(summaryDir, { recursive: true });
  const tokensFile = join(summaryDir, `tokens-${script}.json`);
  writeFileSync(tokensFile, JSON.stringify(await mintTokens(target, plan.tenants)), { mode: 0o600 });
  const iterations = plan.coldStart ? plan.coldStart.iterationsPerTier : 1;
  for (let i = 0; i < iterations; i += 1) {
    if (plan.coldStart) {
      process.stderr.write(`load: bringing ${plan.coldStart.tiers.join(', ')} to zero pods (cold start ${i + 1} of ${iterations})\n`);
      await bringTiersToZero(target, plan.coldStart.tiers, 5 * 60_000);
    }
    const { file, form } = await k6Script(k6, script, summaryDir);
    if (i === 0) process.stderr.write(`load: ${form}\n`);
    const child = spawn(k6, ['run', ...positionals.slice(1), file], {
      stdio: 'inherit',
      env: { ...process.env, BASE_URL: loadBalancerUrl, TOKENS_FILE: tokensFile, PERCOLATE_PROFILE: choice.profile, SUMMARY_DIR: summaryDir },
    });
    code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (code !== 0) break;
  }
} finally {
  await target.close();
}
process.exit(code);

/** The script as a k6-operator TestRun on the target; the exit code k6 would give (99: a threshold failed). */
async function runOnOperator(): Promise<number> {
  if (plan.coldStart) fail('cold-start brings its tiers to zero pods between runs, which a TestRun cannot: run it with a local k6 (without --operator)');
  if (choice.target === 'local') fail('--operator runs k6 in a cluster through the k6-operator: use it with --target kube (or k3s); on the local target, run k6 here (without --operator)');
  const target = await openTarget(choice);
  try {
    const operator = capabilityOf(target, 'loadOperator') ?? fail(capabilityMissingReason(target, 'loadOperator'));
    const parallelism = parallelismFor(plan, (await target.listNodes()).length);
    const run = renderTestRun({
      plan, bundle: await bundleScript(script), parallelism, tokens: await mintTokens(target, plan.tenants),
      runTag: `load-${Date.now().toString(36)}`, ...(process.env.PERCOLATE_K6_BASE_URL ? { baseUrl: process.env.PERCOLATE_K6_BASE_URL } : {}),
    });
    process.stderr.write(`load: TestRun ${run.namespace}/${run.name}, ${parallelism} runner(s), up to ${Math.round(run.timeoutMs / 1000)} s\n`);
    const result = await operator.runTestRun(run, (stage) => process.stderr.write(`load: TestRun ${run.name}: ${stage}\n`));
    const runners = result.runnerLogs.flatMap((r) => summariesInLog(r.log));
    if (runners.length !== parallelism) process.stderr.write(`load: ${runners.length} of ${parallelism} runners printed a summary (stage ${result.stage})\n`);
    const summary = mergeRunnerSummaries(runners);
    const summaryDir = join(LOAD_DIR, '..', 'reports', 'load');
    mkdirSync(summaryDir, { recursive: true });
    writeFileSync(join(summaryDir, `${script}.json`), JSON.stringify(summary, null, 2));
    writeFileSync(join(summaryDir, `${script}.txt`), summaryText(summary));
    process.stdout.write(summaryText(summary));
    return result.stage === 'finished' && runners.length === parallelism && summary.thresholds.every((t) => t.ok) ? 0 : 99;
  } finally {
    await target.close();
  }
}
