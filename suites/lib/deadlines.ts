import type { TimeProfile } from '../../reference-services/shared/profile.ts';

/**
 * How long a spec waits for each kind of change, derived from the time profile so that a
 * spec never holds a duration of its own. Each bound is the sum of the delays the change
 * has to pass through, in the order it passes them.
 */
export interface Deadlines {
  /** A new pod: scheduled, started, replayed the sync stream, ready and routable. */
  podReadyMs: number;
  /** A metric change visible to the autoscaler: scrape and target discovery, then a poll. */
  metricSeenMs: number;
  /** Load arrives → replicas rise: metric seen, decision, pod ready. */
  scaleUpMs: number;
  /** Load stops → N→1: tenants leave the active window, metric seen, HPA stabilization, pod drained. */
  scaleDownMs: number;
  /** Idle → 1→0: tenants leave the window, metric seen, KEDA cooldown, pod drained. */
  scaleToZeroMs: number;
  /** An uploaded file parsed and its result written: a worker ready, the slowest parse, the write. */
  jobDoneMs: number;
  /** A long enough "nothing changes" window to catch a scaler that would act: two polls past stabilization. */
  steadyMs: number;
  /**
   * T2.6's oscillating load: `highMs` of the high tenant set, then `lowMs` of the low one.
   * A tenant stays in the metric for the active window after its last request, so the
   * autoscaler sees the metric low for about `lowMs − window` = half the stabilization
   * window: long enough that an HPA without the window scales down, short enough that one
   * with it never does.
   */
  oscillation: { highMs: number; lowMs: number; seenLowMs: number };
}

export function deadlinesFor(profile: TimeProfile): Deadlines {
  const s = 1000;
  const poll = profile.pollingIntervalSeconds * s;
  const metric = profile.metricDelaySeconds * s + poll;
  const podReady = profile.podReadySeconds * s;
  const drain = profile.drainTimeoutMs;
  const window = profile.activeWindowSeconds * s;
  return {
    podReadyMs: podReady,
    metricSeenMs: metric,
    scaleUpMs: metric + podReady,
    scaleDownMs: window + metric + profile.scaleDownStabilizationSeconds * s + poll + drain,
    scaleToZeroMs: window + metric + profile.cooldownSeconds * s + poll + drain,
    jobDoneMs: podReady + profile.parseMs[1] + metric,
    steadyMs: profile.scaleDownStabilizationSeconds * s + 2 * poll + metric,
    oscillation: {
      highMs: (profile.oscillationPeriodSeconds / 2) * s,
      lowMs: window + (profile.scaleDownStabilizationSeconds / 2) * s,
      seenLowMs: (profile.scaleDownStabilizationSeconds / 2) * s,
    },
  };
}
