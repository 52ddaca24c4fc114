import type { ProfileName } from '../../../reference-services/shared/profile.ts';

/**
 * How the local runtime itself behaves under each time profile. The services' own
 * durations live in fixtures/time-profiles.yaml and the manifests; these are the knobs of
 * the machinery around them (probes, health checks, scrapes, the activator's bound).
 */
export interface RuntimeSettings {
  /** HAProxy `inter` for /ready checks; `fall` failures mark a server down, `rise` successes up. */
  healthCheckIntervalMs: number;
  healthCheckFall: number;
  healthCheckRise: number;
  /** Readiness probe period while a pod has never been ready (start-up is what `up` waits for). */
  startupProbePeriodMs: number;
  /** Upper bound of the readiness probe period once ready (the manifest's periodSeconds if shorter). */
  maxProbePeriodMs: number;
  /** Prometheus scrape_interval. */
  scrapeIntervalSeconds: number;
  /**
   * How long the activator holds a request while the pool is at zero before it gives up
   * with 503: the TTFR bound of T2.1 (30 s).
   */
  activationTimeoutMs: number;
  /**
   * Cap on each pod's grace period during `down`: with the whole cluster going, nobody
   * waits for a drain, and the pods' preStop grace would only make `down` slow.
   */
  downGraceCapMs: number;
  /** First delay before restarting a crashed container; doubles while it keeps crashing. */
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
}

const SETTINGS: Record<ProfileName, RuntimeSettings> = {
  fast: {
    healthCheckIntervalMs: 250,
    healthCheckFall: 2,
    healthCheckRise: 1,
    startupProbePeriodMs: 50,
    maxProbePeriodMs: 500,
    scrapeIntervalSeconds: 1,
    activationTimeoutMs: 30_000,
    downGraceCapMs: 1_500,
    restartBackoffMs: 100,
    restartBackoffMaxMs: 5_000,
  },
  realistic: {
    healthCheckIntervalMs: 2_000,
    healthCheckFall: 3,
    healthCheckRise: 2,
    startupProbePeriodMs: 200,
    maxProbePeriodMs: 10_000,
    scrapeIntervalSeconds: 5,
    activationTimeoutMs: 30_000,
    downGraceCapMs: 1_500,
    restartBackoffMs: 1_000,
    restartBackoffMaxMs: 30_000,
  },
};

export function runtimeSettings(profile: ProfileName): RuntimeSettings {
  return SETTINGS[profile];
}

/**
 * The preStop a pod gets (UNREADY_GRACE_MS): long enough for the load balancer to see
 * /ready fail twice before the pod stops accepting connections.
 */
export function unreadyGraceMs(settings: RuntimeSettings): number {
  return settings.healthCheckIntervalMs * 2 + 100;
}
