import type { TestInfo } from '@playwright/test';
import type { PlanTargets } from '../targets.ts';
import { measure, recordFigure, recordSeries, type SeriesEvent } from '../measure.ts';
import { type Disruption, availabilityPerSecond } from './availability.ts';
import { describe } from './check.ts';
import type { Ledger } from './ledger.ts';
import type { Verdict } from './judge.ts';

/**
 * Puts a chaos test's verdict in the run report and asserts it: the checker's counts
 * against `targets.yaml chaos`, the convergence time, and the availability series with the
 * fault marked on it. The checker's own summary goes in as an annotation, so a red test
 * names the keys it lost and where in the run they fall.
 */
export async function reportVerdict(testInfo: TestInfo, plan: PlanTargets, verdict: Verdict, convergeWithinMs: number): Promise<void> {
  const { check } = verdict;
  testInfo.annotations.push({ type: 'checker', description: describe(check) });
  recordFigure(testInfo, { name: 'writes acknowledged', value: check.writes.ok, unit: 'ops' });
  recordFigure(testInfo, { name: 'writes refused', value: check.writes.fail, unit: 'ops' });
  recordFigure(testInfo, { name: 'writes in doubt', value: check.writes.unknown, unit: 'ops' });
  recordFigure(testInfo, { name: 'keys read back', value: check.keys * check.replicas.length, unit: 'reads' });
  const detail = `\n${describe(check)}`;
  try {
    measure(testInfo, 'acknowledged writes lost', check.counts.lost, 'writes', { op: '<=', value: plan.chaos.lostWrites, source: `targets.yaml chaos.lostWrites${detail}` });
    measure(testInfo, 'stale values', check.counts.stale, 'keys', { op: '<=', value: plan.chaos.staleValues, source: 'targets.yaml chaos.staleValues' });
    measure(testInfo, 'phantom values', check.counts.phantom, 'keys', { op: '<=', value: plan.chaos.phantomValues, source: 'targets.yaml chaos.phantomValues' });
    measure(testInfo, 'unreadable keys', check.counts.unreadable, 'keys', { op: '==', value: 0, source: 'every key read back from every replica' });
  } finally {
    recordFigure(testInfo, { name: 'replica convergence', value: verdict.convergenceMs / 1000, unit: 's', target: { op: '<', value: convergeWithinMs / 1000, source: 'time profile podReadySeconds' } });
  }
}

/** Availability per second (success ratio) with the fault's start and end marked. */
export async function reportAvailability(testInfo: TestInfo, name: string, ledger: Ledger, d: Disruption, events: SeriesEvent[]): Promise<void> {
  const seconds = availabilityPerSecond(ledger.ops);
  await recordSeries(testInfo, {
    name, unit: 'success ratio',
    points: seconds.map((s) => ({ t: s.t, value: Number(s.ratio.toFixed(4)), series: 'availability' })),
    events,
  });
  recordFigure(testInfo, { name: 'failed operations after the fault', value: d.failed, unit: 'ops' });
  recordFigure(testInfo, { name: 'disruption window', value: d.windowMs / 1000, unit: 's' });
  recordFigure(testInfo, { name: 'worst second (success ratio)', value: d.worstSecond, unit: 'ratio' });
}
