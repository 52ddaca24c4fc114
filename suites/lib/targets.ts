import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The plan's pass criteria (fixtures/targets.yaml). */
export interface PlanTargets {
  isolation: { routingAccuracy: number; noisyNeighbourLatencyIncrease: number; concurrentRequests: number };
  scaling: { ttfrSeconds: number; scaleUpSeconds: number; scaleDownSeconds: number; scaleToZeroSeconds: number; maxScaleEventsPer20Min: number; flappingMinDipsSeen: number };
  performance: { p95Ms: number; p99Ms: number; errorRate: number; spikeErrorRate: number; concurrentTenants: { p95Ms: number; errorRate: number }; coldStartP95Seconds: number };
  seed000: { workerColdStartSeconds: number; scalingDecisionSeconds: number; cachedReadMs: number; coldReadP99Ms: number; readSamples: number };
  chaos: { lostWrites: number; staleValues: number; phantomValues: number; podKillRecoverySeconds: number; nodeDrainRecoverySeconds: number; zoneFailoverSeconds: number; gatewayRecoverySeconds: number; duplicateJobs: number; natsNodeLossFailures: number; exhaustionP95Increase: number; floodReadP95Ms: number; floodReadErrorRate: number; soakRssSlopeMBPerMin: number };
  routing: { affinity: number; affinityTopology: number; maxSkew: number; skewProbeTenants: number; maxMovedShareSlack: number; zoneLocalShare: number; zoneLocalSlack: number; failoverSuccess: number; errorsDuringTermination: number; headerInjection: number; gatewayUploads: number; gatewayTenants: number };
}

export function loadPlanTargets(): PlanTargets {
  return parse(readFileSync(fileURLToPath(new URL('../../fixtures/targets.yaml', import.meta.url)), 'utf8')) as PlanTargets;
}
