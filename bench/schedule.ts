import { performance } from 'node:perf_hooks';

/**
 * Calls fire(i, dueAt) for i = 0…total-1 at start + i/rate, never waiting for earlier
 * calls to finish (an open model). Timers fire with ~1 ms granularity, so one tick
 * fires everything that has become due since the last; callers measure from dueAt.
 * Resolves once the last call has been fired.
 */
export function atFixedRate(rate: number, total: number, fire: (i: number, dueAt: number) => void): Promise<void> {
  const intervalMs = 1000 / rate;
  const start = performance.now();
  return new Promise<void>((resolve) => {
    let i = 0;
    const tick = () => {
      const now = performance.now();
      while (i < total && start + i * intervalMs <= now) { fire(i, start + i * intervalMs); i++; }
      if (i >= total) { resolve(); return; }
      setTimeout(tick, Math.max(0, start + i * intervalMs - performance.now()));
    };
    tick();
  });
}
