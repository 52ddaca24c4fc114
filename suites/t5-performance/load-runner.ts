import type { TestInfo } from '@playwright/test';
import { recoveryAfter, runStaged } from '../../bench/staged-load.ts';
import type { LoadPlan } from '../../load/lib/scenarios.ts';
import { type LoadSummary, summarize, summaryText } from '../../load/lib/summary.ts';
import { findK6, requestPoints, requestTimeline, runK6 } from '../../load/tools/k6-runner.ts';
import { harnessConfig } from '../../lib/config.ts';
import { recordFigure, recordSeries } from '../lib/measure.ts';
import type { Faults } from '../fixtures/faults.ts';
import type { Tenants } from '../fixtures/tenants.ts';

/**
 * PERCOLATE_T5_FAULT=chaos/<file>.yaml runs the T5 scenarios with that experiment applied
 * (removed when the test ends): the SLOs under a fault, and the way to watch these tests
 * fail, e.g. with chaos/db-slow-network-delay.yaml.
 */
export async function applyFaultUnderTest(faults: Faults, testInfo: TestInfo): Promise<void> {
  const file = harnessConfig().t5Fault;
  if (!file) return;
  testInfo.annotations.push({ type: 'fault', description: `${file} applied for the whole run (PERCOLATE_T5_FAULT)` });
  await faults.applyExperiment(file);
}

/**
 * Runs a T5 plan with k6 where it is installed (K6_BINARY or PATH), else with the suite's
 * open-model generator (bench/staged-load.ts) on the same arrivals, mix and thresholds;
 * attaches the LoadSummary (JSON and text) and says which executor ran. The caller asserts
 * the figures with measure().
 */
export async function runPlan(plan: LoadPlan, ctx: { baseUrl: string; tenants: Tenants; runTag: string; testInfo: TestInfo }): Promise<LoadSummary> {
  const tokens = Object.fromEntries(await Promise.all(plan.tenants.map(async (t) => [t.id, await ctx.tenants.token(t.id, t.tier)] as const)));
  const k6 = findK6();
  let summary: LoadSummary;
  let timeline: Array<{ second: number; requests: number; errors: number; slow: number }> = [];
  let k6Form = '';
  if (k6) {
    const run = await runK6(k6, plan, { baseUrl: ctx.baseUrl, tokens, dir: ctx.testInfo.outputPath('k6'), runTag: ctx.runTag });
    summary = run.summary;
    k6Form = run.form;
    timeline = requestTimeline(requestPoints(run.pointsFile), plan.slo.p95Ms);
    const spike = plan.phases.find((p) => p.name === 'spike');
    if (spike) summary.recoverySeconds = recoveryAfter(timeline, spike.toS, plan.slo);
  } else {
    const run = await runStaged({ plan, baseUrl: ctx.baseUrl, tokens, runTag: ctx.runTag });
    timeline = run.timeline;
    summary = summarize(plan, run.metrics, {
      executor: 'open-model', baseUrl: ctx.baseUrl, durationSeconds: run.durationSeconds,
      ...(run.recoverySeconds === undefined ? {} : { recoverySeconds: run.recoverySeconds }),
    });
  }
  ctx.testInfo.annotations.push({ type: 'executor', description: summary.executor === 'k6' ? `k6 (${k6}; ${k6Form})` : 'open-model generator (bench/staged-load.ts): k6 is not installed' });
  await ctx.testInfo.attach(`${plan.script}-summary.json`, { body: JSON.stringify(summary, null, 2), contentType: 'application/json' });
  await ctx.testInfo.attach(`${plan.script}-summary.txt`, { body: summaryText(summary), contentType: 'text/plain' });
  if (timeline.length) {
    const start = Date.now() - summary.durationSeconds * 1000;
    await recordSeries(ctx.testInfo, {
      name: `${plan.script} requests and slow requests per second`, unit: 'requests',
      points: timeline.flatMap((b) => [
        { t: start + b.second * 1000, value: b.requests, series: 'requests' },
        { t: start + b.second * 1000, value: b.slow, series: `over ${plan.slo.p95Ms} ms` },
        { t: start + b.second * 1000, value: b.errors, series: 'errors' },
      ]),
    });
  }
  recordFigure(ctx.testInfo, { name: 'pool throughput', value: summary.throughputRps, unit: 'req/s' });
  recordFigure(ctx.testInfo, { name: 'dropped arrivals', value: summary.droppedIterations, unit: 'arrivals' });
  process.stdout.write(`\n${summaryText(summary)}`);
  return summary;
}
