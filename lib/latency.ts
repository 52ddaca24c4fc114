import { build, type Histogram } from 'hdr-histogram-js';

const MAX_US = 120_000_000;

export interface LatencySummary { count: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }

/** Latencies in microseconds with 3 significant digits, up to two minutes (longer is clamped). */
export class Latency {
  readonly histogram: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_US, numberOfSignificantValueDigits: 3, autoResize: false });

  record(ms: number): void {
    this.histogram.recordValue(Math.min(MAX_US, Math.max(1, Math.round(ms * 1000))));
  }

  add(other: Latency): void { this.histogram.add(other.histogram); }

  reset(): void { this.histogram.reset(); }

  summary(): LatencySummary {
    const h = this.histogram;
    if (h.totalCount === 0) return { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 };
    // HDR reports the top of a value's bucket; no percentile is above the largest value seen.
    const at = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000;
    return { count: h.totalCount, p50Ms: at(50), p95Ms: at(95), p99Ms: at(99), maxMs: h.maxValue / 1000 };
  }
}

/** Milliseconds with the precision a person can use: µs below 1 ms, whole ms above 100. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtLatency(s: LatencySummary): string {
  return s.count === 0 ? 'no answers yet' : `p50 ${fmtMs(s.p50Ms)}  p95 ${fmtMs(s.p95Ms)}  p99 ${fmtMs(s.p99Ms)}  max ${fmtMs(s.maxMs)}`;
}
