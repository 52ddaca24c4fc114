import { describe, expect, it } from 'vitest';
import {
  PROFILE_NAMES, type TimeProfile, deadlinesFor, heldRequestTimeoutMs, loadProfile, runtimeSettings, ttfrMs, unreadyGraceMs,
} from '../../lib/time.ts';
import { loadPlanTargets } from '../../suites/lib/targets.ts';

/** A profile with distinct round numbers, so each formula's terms can be read off its result. */
const PROFILE: TimeProfile = {
  name: 'fast',
  activeWindowSeconds: 100,
  coldOpenMs: 1,
  tenantCacheSize: 1,
  parseMs: [1, 4_000],
  pollingIntervalSeconds: 2,
  cooldownSeconds: 30,
  scaleDownStabilizationSeconds: 60,
  drainTimeoutMs: 5_000,
  podReadySeconds: 20,
  metricDelaySeconds: 7,
  oscillationPeriodSeconds: 40,
  flappingWindowSeconds: 1_200,
};

describe('lib/time.ts: deadlines from the profile', () => {
  const d = deadlinesFor(PROFILE);
  const poll = 2_000;
  const metric = 7_000 + poll;

  it('one poll, a pod ready, a metric seen (scrape and discovery, then a poll)', () => {
    expect(d.pollMs).toBe(poll);
    expect(d.podReadyMs).toBe(20_000);
    expect(d.metricSeenMs).toBe(9_000);
  });

  it('scale-up: the decision (metric seen, a sync) and the pods (metric seen, pod ready)', () => {
    expect(d.scaleUpDecidedMs).toBe(metric + poll);
    expect(d.scaleUpMs).toBe(metric + 20_000);
  });

  it('scale-down: window, metric seen, stabilization, a sync; then the drain', () => {
    expect(d.scaleDownDecidedMs).toBe(100_000 + metric + 60_000 + poll);
    expect(d.scaleDownMs).toBe(d.scaleDownDecidedMs + 5_000);
  });

  it('to zero: from idle (window, metric, cooldown, a poll, drain) and from the metric at zero (metric, cooldown from the last active poll, drain)', () => {
    expect(d.scaleToZeroMs).toBe(100_000 + metric + 30_000 + poll + 5_000);
    expect(d.zeroMetricToZeroMs).toBe(metric + 30_000 + 2 * poll + 5_000);
  });

  it('a job done: a worker ready, the slowest parse, the metric', () => {
    expect(d.jobDoneMs).toBe(20_000 + 4_000 + metric);
  });

  it('steady: two polls past the stabilization window, plus the metric', () => {
    expect(d.steadyMs).toBe(60_000 + 2 * poll + metric);
    // Long enough for a scaler that would scale up, too.
    expect(d.steadyMs).toBeGreaterThan(d.scaleUpDecidedMs);
  });

  it('after a fault: the waits plus the fault margin', () => {
    expect(d.faultMarginMs).toBe(30_000);
    expect(d.recoveryMs).toBe(d.podReadyMs + d.faultMarginMs);
    expect(d.jobsRecoveredMs).toBe(d.jobDoneMs + d.faultMarginMs);
  });

  it('T2.6 oscillation: half a period high; low for the window plus half the stabilization window', () => {
    expect(d.oscillation).toEqual({ highMs: 20_000, lowMs: 100_000 + 30_000, seenLowMs: 30_000 });
    // The metric is seen low for less than the stabilization window: an HPA with it never scales down.
    expect(d.oscillation.lowMs - 100_000).toBeLessThan(60_000);
  });

  it.each(PROFILE_NAMES)('%s: every deadline of the real profile is a positive, finite number of ms', (name) => {
    const all = deadlinesFor(loadProfile(name));
    const flat = { ...all, ...Object.fromEntries(Object.entries(all.oscillation).map(([k, v]) => [`oscillation.${k}`, v])) } as Record<string, unknown>;
    delete flat.oscillation;
    for (const [key, value] of Object.entries(flat)) expect(Number.isFinite(value) && (value as number) > 0, key).toBe(true);
  });
});

describe('lib/time.ts: the local runtime and the TTFR bound', () => {
  const plan = loadPlanTargets();

  it('the TTFR bound is targets.yaml scaling.ttfrSeconds (T2.1), and T5.4 holds the same', () => {
    expect(ttfrMs()).toBe(plan.scaling.ttfrSeconds * 1000);
    expect(plan.performance.coldStartP95Seconds).toBe(plan.scaling.ttfrSeconds);
  });

  it.each(PROFILE_NAMES)('%s: the activator holds a request at zero for the TTFR bound; a client waits a little longer', (name) => {
    const settings = runtimeSettings(name);
    expect(settings.activationTimeoutMs).toBe(ttfrMs());
    expect(heldRequestTimeoutMs()).toBeGreaterThan(settings.activationTimeoutMs);
  });

  it.each(PROFILE_NAMES)('%s: pods started together get at least the profile\'s bound for one pod', (name) => {
    expect(runtimeSettings(name).podsReadyMs).toBeGreaterThanOrEqual(loadProfile(name).podReadySeconds * 1000);
  });

  it('unknown profiles are refused', () => {
    expect(() => runtimeSettings('slow' as never)).toThrow(/unknown time profile "slow"/);
    expect(() => loadProfile('slow')).toThrow(/unknown time profile "slow"/);
  });

  it.each(PROFILE_NAMES)('%s: a pod\'s preStop grace is two health-check intervals and a little', (name) => {
    const settings = runtimeSettings(name);
    expect(unreadyGraceMs(settings)).toBe(2 * settings.healthCheckIntervalMs + 100);
  });
});
