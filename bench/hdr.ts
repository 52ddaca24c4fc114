import { build, type Histogram } from 'hdr-histogram-js';

export type { Histogram };

/** Latencies in microseconds, 3 significant digits, up to a minute (longer is clamped). */
export function latencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: false });
}

const MAX_US = 60_000_000;

export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.min(MAX_US, Math.max(1, Math.round(ms * 1000))));
}

export interface LatencySummary { count: number; p50Ms: number; p99Ms: number; maxMs: number }

export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN };
  return {
    count: histogram.totalCount,
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
    maxMs: histogram.maxValue / 1000,
  };
}

export function merged(histograms: Histogram[]): Histogram {
  const total = latencyHistogram();
  for (const h of histograms) total.add(h);
  return total;
}
