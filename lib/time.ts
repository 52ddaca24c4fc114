import { PROFILE_NAMES, type ProfileName, type TimeProfile, loadProfile } from '../reference-services/shared/profile.ts';
import { loadPlanTargets } from '../suites/lib/targets.ts';

/**
 * Every duration a runner uses (the local runtime, the CLI, the suite, the bench, the
 * project's tests), by name:
 *
 *   profile name → TimeProfile (fixtures/time-profiles.yaml) → named bounds
 *
 * - `deadlinesFor(profile)`: how long a spec waits for each kind of change;
 * - `runtimeSettings(name)`: how the local runtime's own machinery behaves;
 * - the plan's bounds the machinery holds too (`ttfrMs`), read from fixtures/targets.yaml;
 * - the machinery's fixed timeouts (the constants below).
 *
 * Loading the profile file stays in reference-services/shared/profile.ts: the services read
 * it themselves. A runner imports it from here.
 */
export { PROFILE_NAMES, loadProfile };
export type { ProfileName, TimeProfile };

const S = 1000;

// ---- bounds of the plan (fixtures/targets.yaml) that the machinery holds as well ---------

let ttfrCache: number | undefined;

/**
 * T2.1's bound on the time to first response from zero pods (targets.yaml
 * `scaling.ttfrSeconds`, 30 s). The local activator holds a request that finds its pool at
 * zero this long before it answers 503 (`RuntimeSettings.activationTimeoutMs`).
 */
export function ttfrMs(): number {
  ttfrCache ??= loadPlanTargets().scaling.ttfrSeconds * S;
  return ttfrCache;
}

/** What a client allows beyond the TTFR bound for the held request's own answer. */
const HELD_ANSWER_MARGIN_MS = 5_000;

/**
 * How long a client (HAProxy's `timeout server`, the CLI's traffic `--timeout`) waits for one
 * request that may find its pool at zero: the TTFR bound, then the answer.
 */
export function heldRequestTimeoutMs(): number {
  return ttfrMs() + HELD_ANSWER_MARGIN_MS;
}

// ---- the machinery's own timeouts -----------------------------------------------------

/** `up`: the daemon started and every workload ready, before it gives up and tears down. */
export const UP_TIMEOUT_MS = 120_000;
/** `down`: the daemon asked to stop (or signalled) and gone, before it is killed. */
export const DOWN_TIMEOUT_MS = 30_000;
/**
 * Something that has already happened becoming visible to a spec: a log line written
 * asynchronously and read back, clients' counters moving. Also Playwright's `expect` timeout.
 */
export const SETTLE_MS = 10_000;
/** One call to the local control API (a call that waits on the cluster says how long itself). */
export const CONTROL_API_TIMEOUT_MS = 30_000;
/** A control API call's margin over the wait it asks the daemon for, so the daemon's own bound fails first. */
export const CONTROL_API_MARGIN_MS = 5_000;
/** A node drain on the local target (the control API, `drainNode`, a workflow's `kubectl drain` Task without `--timeout`): every pod evicted and its workload back at its replicas. */
export const NODE_DRAIN_TIMEOUT_MS = 120_000;
/** The local target's default for `waitForReplicasReady`. */
export const REPLICAS_READY_TIMEOUT_MS = 60_000;
/** The kube target's default for `waitForReplicasReady` (a real scheduler and image pulls). */
export const KUBE_REPLICAS_READY_TIMEOUT_MS = 120_000;
/** A node drain on the kube target: the eviction API, PodDisruptionBudgets and rescheduling. */
export const KUBE_DRAIN_TIMEOUT_MS = 300_000;
/** A container killed by Chaos Mesh (container-kill) seen restarted by its kubelet. */
export const KUBE_CONTAINER_RESTART_TIMEOUT_MS = 60_000;
/** A stopped NATS server restarted, healthy, and its cluster with a JetStream meta leader again. */
export const NATS_RESTORE_TIMEOUT_MS = 60_000;

// ---- what a spec waits for ------------------------------------------------------------

/**
 * How long a spec waits for each kind of change, derived from the time profile so that a
 * spec never holds a duration of its own. Each bound is the sum of the delays the change
 * has to pass through, in the order it passes them.
 */
export interface Deadlines {
  /** One scaler poll (KEDA's pollingInterval; the HPA syncs on the same clock here). */
  pollMs: number;
  /** A new pod: scheduled, started, replayed the sync stream, ready and routable. */
  podReadyMs: number;
  /** A metric change visible to the autoscaler: scrape and target discovery, then a poll. */
  metricSeenMs: number;
  /** Load arrives → replicas raised (the decision): metric seen, then a sync. */
  scaleUpDecidedMs: number;
  /** Load arrives → replicas rise: metric seen, decision, pod ready. */
  scaleUpMs: number;
  /** Tenants idle → N → 1 decided: they leave the active window, the metric shows it, the HPA's stabilization, a sync. */
  scaleDownDecidedMs: number;
  /** Load stops → N→1: tenants leave the active window, metric seen, HPA stabilization, pod drained. */
  scaleDownMs: number;
  /**
   * Metric at zero (as Prometheus shows it) → 1 → 0 and drained: the metric reaches the
   * scaler, KEDA's cooldown from its last active poll, the deactivating poll, the drain.
   */
  zeroMetricToZeroMs: number;
  /** Idle → 1→0: tenants leave the window, metric seen, KEDA cooldown, pod drained. */
  scaleToZeroMs: number;
  /** An uploaded file parsed and its result written: a worker ready, the slowest parse, the write. */
  jobDoneMs: number;
  /** A long enough "nothing changes" window to catch a scaler that would act: two polls past stabilization. */
  steadyMs: number;
  /**
   * What a fault adds to a wait for the state after it: the fault applied and lifted (Chaos
   * Mesh, a rescheduled pod), and the requests caught in it timing out.
   */
  faultMarginMs: number;
  /** After a fault: a pod recreated and ready, and the clients' writes acknowledged again. */
  recoveryMs: number;
  /** After a fault: the jobs it held parsed and written. */
  jobsRecoveredMs: number;
  /**
   * T2.6's oscillating load: `highMs` of the high tenant set, then `lowMs` of the low one.
   * A tenant stays in the metric for the active window after its last request, so the
   * autoscaler sees the metric low for about `lowMs − window` = half the stabilization
   * window: long enough that an HPA without the window scales down, short enough that one
   * with it never does.
   */
  oscillation: { highMs: number; lowMs: number; seenLowMs: number };
}

/** See `Deadlines.faultMarginMs`. */
const FAULT_MARGIN_MS = 30_000;

export function deadlinesFor(profile: TimeProfile): Deadlines {
  const poll = profile.pollingIntervalSeconds * S;
  const metric = profile.metricDelaySeconds * S + poll;
  const podReady = profile.podReadySeconds * S;
  const drain = profile.drainTimeoutMs;
  const window = profile.activeWindowSeconds * S;
  const stabilization = profile.scaleDownStabilizationSeconds * S;
  const cooldown = profile.cooldownSeconds * S;
  const jobDone = podReady + profile.parseMs[1] + metric;
  return {
    pollMs: poll,
    podReadyMs: podReady,
    metricSeenMs: metric,
    scaleUpDecidedMs: metric + poll,
    scaleUpMs: metric + podReady,
    scaleDownDecidedMs: window + metric + stabilization + poll,
    scaleDownMs: window + metric + stabilization + poll + drain,
    zeroMetricToZeroMs: metric + cooldown + 2 * poll + drain,
    scaleToZeroMs: window + metric + cooldown + poll + drain,
    jobDoneMs: jobDone,
    steadyMs: stabilization + 2 * poll + metric,
    faultMarginMs: FAULT_MARGIN_MS,
    recoveryMs: podReady + FAULT_MARGIN_MS,
    jobsRecoveredMs: jobDone + FAULT_MARGIN_MS,
    oscillation: {
      highMs: (profile.oscillationPeriodSeconds / 2) * S,
      lowMs: window + stabilization / 2,
      seenLowMs: stabilization / 2,
    },
  };
}

// ---- the local runtime's machinery ------------------------------------------------------

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
   * with 503: the TTFR bound of T2.1 (`ttfrMs()`).
   */
  activationTimeoutMs: number;
  /**
   * Pods started together ready and routable: every workload at `up`, or several replicas
   * of one. On a small machine this is longer than the profile's `podReadySeconds` for one.
   */
  podsReadyMs: number;
  /**
   * Cap on each pod's grace period during `down`: with the whole cluster going, nobody
   * waits for a drain, and the pods' preStop grace would only make `down` slow.
   */
  downGraceCapMs: number;
  /** First delay before restarting a crashed container; doubles while it keeps crashing. */
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
}

const SETTINGS: Record<ProfileName, Omit<RuntimeSettings, 'activationTimeoutMs'>> = {
  fast: {
    healthCheckIntervalMs: 250,
    healthCheckFall: 2,
    healthCheckRise: 1,
    startupProbePeriodMs: 50,
    maxProbePeriodMs: 500,
    scrapeIntervalSeconds: 1,
    podsReadyMs: 30_000,
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
    podsReadyMs: 90_000,
    downGraceCapMs: 1_500,
    restartBackoffMs: 1_000,
    restartBackoffMaxMs: 30_000,
  },
};

export function runtimeSettings(profile: ProfileName): RuntimeSettings {
  const settings = SETTINGS[profile];
  if (!settings) throw new Error(`unknown time profile "${String(profile)}": expected one of ${PROFILE_NAMES.join(', ')}`);
  return { ...settings, activationTimeoutMs: ttfrMs() };
}

/**
 * The preStop a pod gets (UNREADY_GRACE_MS): long enough for the load balancer to see
 * /ready fail twice before the pod stops accepting connections.
 */
export function unreadyGraceMs(settings: RuntimeSettings): number {
  return settings.healthCheckIntervalMs * 2 + 100;
}
