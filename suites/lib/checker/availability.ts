import type { Op } from './ledger.ts';

/**
 * Availability as clients saw it: the share of operations that succeeded, per second of
 * the run, and from that the disruption window (first to last second that fell short) and
 * the time to recover (fault → end of the last failed operation).
 *
 * `fail` counts as unavailable here on purpose: a 429 or 421 during a fault is as much an
 * outage to the client as a 503, even though the checker knows it did not write.
 */

export interface SecondBucket {
  /** Start of the second (ms since the epoch). */
  t: number;
  total: number;
  ok: number;
  /** ok / total; 1 for a second without operations (nothing was refused). */
  ratio: number;
}

export function availabilityPerSecond(ops: Op[], from?: number, to?: number): SecondBucket[] {
  const done = ops.filter((o) => Number.isFinite(o.end));
  if (!done.length) return [];
  const first = Math.floor((from ?? Math.min(...done.map((o) => o.end))) / 1000) * 1000;
  const last = Math.floor((to ?? Math.max(...done.map((o) => o.end))) / 1000) * 1000;
  const buckets: SecondBucket[] = [];
  for (let t = first; t <= last; t += 1000) buckets.push({ t, total: 0, ok: 0, ratio: 1 });
  for (const op of done) {
    const i = Math.floor(op.end / 1000) - first / 1000;
    const b = buckets[i];
    if (!b) continue;
    b.total += 1;
    if (op.outcome === 'ok') b.ok += 1;
  }
  for (const b of buckets) b.ratio = b.total ? b.ok / b.total : 1;
  return buckets;
}

export interface Disruption {
  /** Operations that did not succeed from the fault on. */
  failed: number;
  /** First and last failed operation (their end times); undefined when none failed. */
  firstFailure?: number;
  lastFailure?: number;
  /** lastFailure − firstFailure, 0 when none failed. */
  windowMs: number;
  /**
   * From the fault to the end of the last failed operation: how long clients could see
   * it. 0 when no operation failed. Operations that merely slowed down do not count.
   */
  recoveryMs: number;
  /** Lowest per-second success ratio from the fault on. */
  worstSecond: number;
  /** How the failed operations ended, e.g. `503 ×2 (longest 20.1 s), error: timeout ×1 (longest 23.0 s)`, or `none`. */
  failures: string;
}

/** Failed operations by what answered them (`503 ×4 (longest 20.1 s), error: … ×1`), or `none`. */
export function describeFailures(failed: Op[]): string {
  const byDetail = new Map<string, { n: number; longestMs: number }>();
  for (const o of failed) {
    const key = o.detail ?? o.outcome;
    const entry = byDetail.get(key) ?? { n: 0, longestMs: 0 };
    entry.n += 1;
    entry.longestMs = Math.max(entry.longestMs, o.end - o.start);
    byDetail.set(key, entry);
  }
  return [...byDetail].map(([k, v]) => `${k} ×${v.n} (longest ${(v.longestMs / 1000).toFixed(1)} s)`).join(', ') || 'none';
}

export function disruption(ops: Op[], faultAt: number): Disruption {
  const after = ops.filter((o) => Number.isFinite(o.end) && o.end >= faultAt);
  const failed = after.filter((o) => o.outcome !== 'ok');
  const seconds = availabilityPerSecond(after, faultAt);
  const worstSecond = seconds.length ? Math.min(...seconds.map((s) => s.ratio)) : 1;
  if (!failed.length) return { failed: 0, windowMs: 0, recoveryMs: 0, worstSecond, failures: 'none' };
  const firstFailure = Math.min(...failed.map((o) => o.end));
  const lastFailure = Math.max(...failed.map((o) => o.end));
  return { failed: failed.length, firstFailure, lastFailure, windowMs: lastFailure - firstFailure, recoveryMs: lastFailure - faultAt, worstSecond, failures: describeFailures(failed) };
}
