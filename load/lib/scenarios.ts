/**
 * The T5 scenarios as data: which tenants, what arrival rate over which stages, which
 * phases, which thresholds — from the fixtures, for one time profile. The k6 scripts turn
 * a plan into k6 `options`; the suite's own generator (bench/staged-load.ts) runs the same
 * plan when k6 is not installed. No k6 import here: Node and k6 both load this module.
 */
import { FIXTURES } from './fixtures.generated.ts';

export type Tier = 'small' | 'medium' | 'large';
export type ProfileName = 'fast' | 'realistic';
export type ScriptName = 'baseline' | 'spike' | 'sustained' | 'cold-start' | 'concurrent-tenants';
export const SCRIPTS: readonly ScriptName[] = ['baseline', 'spike', 'sustained', 'cold-start', 'concurrent-tenants'];
export const TIERS: readonly Tier[] = ['small', 'medium', 'large'];

export interface Tenant { id: string; tier: Tier }
/** Arrival rate moves linearly to `target` (requests/s) over `durationS`, as k6's ramping-arrival-rate. */
export interface Stage { target: number; durationS: number }
/** A named slice of the run, [fromS, toS) from its start; requests are tagged with it. */
export interface Phase { name: string; fromS: number; toS: number }
/** A k6 threshold: an expression, optionally stopping the run when it fails. */
export type Threshold = string | { threshold: string; abortOnFail: boolean; delayAbortEval: string };

export interface LoadPlan {
  script: ScriptName;
  profile: ProfileName;
  tenants: Tenant[];
  /** Open model: arrivals follow the stages whatever the answers do. Empty for cold-start. */
  startRate: number;
  stages: Stage[];
  phases: Phase[];
  /** k6 metric (with tag filter) → threshold expressions. */
  thresholds: Record<string, Threshold[]>;
  /** The latency and error bounds a second of the run must meet to count as healthy (spike recovery). */
  slo: { p95Ms: number; errorRate: number };
  /** cold-start: first requests per tier. */
  coldStart?: { tiers: Tier[]; iterationsPerTier: number; boundSeconds: number };
}

const S = FIXTURES.scenarios;
const T = FIXTURES.targets;

export const ALL_TENANTS: Tenant[] = FIXTURES.tenants.map(([id, tier]) => ({ id, tier: tier as Tier }));

/**
 * `count` tenants with the fixtures' tier shares, at least one of each tier (the fixture
 * order interleaves tiers, but a short prefix can miss the rare large tier).
 */
export function tenantSample(count: number): Tenant[] {
  if (count >= ALL_TENANTS.length) return ALL_TENANTS.slice();
  const byTier = TIERS.map((tier) => ALL_TENANTS.filter((t) => t.tier === tier));
  const want = byTier.map((list) => Math.max(1, Math.round((count * list.length) / ALL_TENANTS.length)));
  while (want.reduce((a, b) => a + b, 0) > count) want[want.indexOf(Math.max(...want))]! -= 1;
  while (want.reduce((a, b) => a + b, 0) < count) want[0]! += 1;
  return byTier.flatMap((list, i) => list.slice(0, want[i]));
}

const tiersOf = (tenants: Tenant[]): Tier[] => TIERS.filter((tier) => tenants.some((t) => t.tier === tier));

/** The SLO thresholds of a steady run, overall and per tier (so the summary carries per-tier p95). */
function sloThresholds(tenants: Tenant[], p95Ms: number, p99Ms: number | undefined, errorRate: number, abort: boolean): Record<string, Threshold[]> {
  const wrap = (expr: string): Threshold => (abort ? { threshold: expr, abortOnFail: true, delayAbortEval: `${S.abortOnFailDelaySeconds}s` } : expr);
  const out: Record<string, Threshold[]> = {
    http_req_duration: [wrap(`p(95)<${p95Ms}`), ...(p99Ms === undefined ? [] : [wrap(`p(99)<${p99Ms}`)])],
    http_req_failed: [wrap(`rate<${errorRate}`)],
  };
  for (const tier of tiersOf(tenants)) {
    out[`http_req_duration{tier:${tier}}`] = [`p(95)<${p95Ms}`];
    out[`http_req_failed{tier:${tier}}`] = [`rate<${errorRate}`];
  }
  return out;
}

/** One steady rate for the whole run, held to T5.1's SLOs. */
function steadyPlan(script: ScriptName, profile: ProfileName, p: { rate: number; durationSeconds: number }, tenantCount: number, abortOnFail: boolean): LoadPlan {
  const tenants = tenantSample(tenantCount);
  return {
    script, profile, tenants, startRate: p.rate, stages: [{ target: p.rate, durationS: p.durationSeconds }],
    phases: [{ name: 'steady', fromS: 0, toS: p.durationSeconds }],
    thresholds: sloThresholds(tenants, T.p95Ms, T.p99Ms, T.errorRate, abortOnFail),
    slo: { p95Ms: T.p95Ms, errorRate: T.errorRate },
  };
}

export function loadPlan(script: ScriptName, profile: ProfileName): LoadPlan {
  switch (script) {
    case 'baseline':
      return steadyPlan(script, profile, S.baseline[profile], S.baseline.tenants, false);
    case 'sustained':
      // A day-long run that has broken its SLOs stops instead of running on.
      return steadyPlan(script, profile, S.sustained[profile], S.sustained.tenants, true);
    case 'concurrent-tenants': {
      const p = S.concurrentTenants[profile];
      const tenants = tenantSample(S.concurrentTenants.tenants);
      const rate = p.ratePerTenant * tenants.length;
      return {
        script, profile, tenants, startRate: rate, stages: [{ target: rate, durationS: p.durationSeconds }],
        phases: [{ name: 'steady', fromS: 0, toS: p.durationSeconds }],
        thresholds: sloThresholds(tenants, T.concurrentTenants.p95Ms, undefined, T.concurrentTenants.errorRate, false),
        slo: { p95Ms: T.concurrentTenants.p95Ms, errorRate: T.concurrentTenants.errorRate },
      };
    }
    case 'spike': {
      const p = S.spike[profile];
      const peak = p.baseRate * S.spike.factor;
      const tenants = tenantSample(S.spike.tenants);
      const spikeFrom = p.warmSeconds;
      const spikeTo = spikeFrom + 2 * p.rampSeconds + p.spikeSeconds;
      const thresholds = sloThresholds(tenants, T.p95Ms, T.p99Ms, T.errorRate, false);
      // Seed 003: "no errors during 10x spike" — a run that breaks it stops there.
      thresholds['http_req_failed{phase:spike}'] = [{ threshold: `rate<=${T.spikeErrorRate}`, abortOnFail: true, delayAbortEval: `${S.abortOnFailDelaySeconds}s` }];
      thresholds['http_req_duration{phase:spike}'] = [`p(95)<${T.p95Ms}`];
      thresholds['http_req_failed{phase:recovery}'] = [`rate<${T.errorRate}`];
      thresholds['http_req_duration{phase:recovery}'] = [`p(95)<${T.p95Ms}`];
      return {
        script, profile, tenants, startRate: p.baseRate,
        stages: [
          { target: p.baseRate, durationS: p.warmSeconds },
          { target: peak, durationS: p.rampSeconds },
          { target: peak, durationS: p.spikeSeconds },
          { target: p.baseRate, durationS: p.rampSeconds },
          { target: p.baseRate, durationS: p.recoverySeconds },
        ],
        phases: [
          { name: 'warm', fromS: 0, toS: spikeFrom },
          { name: 'spike', fromS: spikeFrom, toS: spikeTo },
          { name: 'recovery', fromS: spikeTo, toS: spikeTo + p.recoverySeconds },
        ],
        thresholds,
        slo: { p95Ms: T.p95Ms, errorRate: T.errorRate },
      };
    }
    case 'cold-start': {
      const p = S.coldStart[profile];
      const tiers = S.coldStart.tiers.slice() as Tier[];
      return {
        script, profile, tenants: tiers.map((tier) => { const list = ALL_TENANTS.filter((t) => t.tier === tier); return list[list.length - 1]!; }),
        startRate: 0, stages: [], phases: [],
        thresholds: { ttfr: [`p(95)<${T.coldStartP95Seconds * 1000}`], checks: ['rate==1'] },
        slo: { p95Ms: T.coldStartP95Seconds * 1000, errorRate: 0 },
        coldStart: { tiers, iterationsPerTier: p.iterationsPerTier, boundSeconds: T.coldStartP95Seconds },
      };
    }
  }
}

export const planDurationS = (plan: LoadPlan): number => plan.stages.reduce((sum, s) => sum + s.durationS, 0);
export const peakRate = (plan: LoadPlan): number => Math.max(plan.startRate, ...plan.stages.map((s) => s.target));

/** The phase a request sent `elapsedS` into the run belongs to. */
export function phaseAt(plan: LoadPlan, elapsedS: number): string {
  return plan.phases.find((p) => elapsedS >= p.fromS && elapsedS < p.toS)?.name ?? plan.phases[plan.phases.length - 1]?.name ?? 'steady';
}

export const isProfile = (name: string | undefined): name is ProfileName => name === 'fast' || name === 'realistic';
