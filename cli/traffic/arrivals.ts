import { performance } from 'node:perf_hooks';

export interface ArrivalPlan {
  /** Arrivals per second, held whether or not earlier requests have been answered. */
  rate: number;
  durationMs: number;
  /** Never more arrivals than this, whatever the rate and duration. */
  maxArrivals: number;
  signal: AbortSignal;
}

/**
 * An open model: arrival i is due at start + i/rate and is fired then, never waiting for
 * earlier ones (a slow cluster gets more concurrent requests, as from real users, instead of
 * fewer). Timers have ~1 ms granularity, so each tick fires every arrival that has become
 * due. Resolves with the number fired once the plan is done or the signal aborts.
 */
export function constantArrivals(plan: ArrivalPlan, fire: (i: number, dueAt: number) => void): Promise<number> {
  const intervalMs = 1000 / plan.rate;
  const total = Math.min(plan.maxArrivals, Math.floor((plan.durationMs * plan.rate) / 1000 + 1e-9));
  const start = performance.now();
  return new Promise<number>((resolve) => {
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      plan.signal.removeEventListener('abort', done);
      resolve(i);
    };
    const tick = () => {
      const now = performance.now();
      while (i < total && start + i * intervalMs <= now && !plan.signal.aborted) { fire(i, start + i * intervalMs); i++; }
      if (i >= total || plan.signal.aborted) { done(); return; }
      timer = setTimeout(tick, Math.max(0, start + i * intervalMs - performance.now()));
    };
    if (plan.signal.aborted) { resolve(0); return; }
    plan.signal.addEventListener('abort', done, { once: true });
    tick();
  });
}
