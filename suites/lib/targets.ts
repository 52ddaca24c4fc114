import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The plan's pass criteria (fixtures/targets.yaml). */
export interface PlanTargets {
  isolation: { routingAccuracy: number; noisyNeighbourLatencyIncrease: number };
  scaling: { ttfrSeconds: number; scaleUpSeconds: number; scaleDownSeconds: number; scaleToZeroSeconds: number; maxScaleEventsPer20Min: number };
  performance: { p95Ms: number; p99Ms: number; errorRate: number; spikeErrorRate: number; concurrentTenants: { p95Ms: number; errorRate: number }; coldStartP95Seconds: number };
  routing: { affinity: number; affinityTopology: number; maxSkew: number; skewProbeTenants: number; maxMovedShareSlack: number; zoneLocalShare: number; failoverSuccess: number; errorsDuringTermination: number; headerInjection: number };
}

export function loadPlanTargets(): PlanTargets {
  return parse(readFileSync(fileURLToPath(new URL('../../fixtures/targets.yaml', import.meta.url)), 'utf8')) as PlanTargets;
}
