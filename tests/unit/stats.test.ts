import { describe, expect, it } from 'vitest';
import { pairedQuantileRatio, quantile } from '../../suites/lib/stats.ts';

/** Latencies of one window: a log-normal-ish spread around `median` ms, drawn from a fixed seed. */
function window(median: number, n: number, seed: number): number[] {
  let s = seed;
  const next = () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  return Array.from({ length: n }, () => median * Math.exp((next() + next() + next() - 1.5) * 0.8));
}

describe('pairedQuantileRatio', () => {
  it('brackets 1 when both kinds of window come from the same distribution', () => {
    const pairs = Array.from({ length: 20 }, (_, i) => ({ a: window(10, 100, i * 2 + 1), b: window(10, 100, i * 2 + 2) }));
    const r = pairedQuantileRatio(pairs, 0.95);
    expect(r.lo).toBeLessThan(1);
    expect(r.hi).toBeGreaterThan(1);
    expect(r.lo).toBeLessThanOrEqual(r.estimate);
    expect(r.estimate).toBeLessThanOrEqual(r.hi);
  });

  it('shows a slowdown well beyond the noise: B at 1.5× A has its whole interval above 1.3', () => {
    const pairs = Array.from({ length: 20 }, (_, i) => ({ a: window(10, 100, i * 2 + 1), b: window(15, 100, i * 2 + 2) }));
    const r = pairedQuantileRatio(pairs, 0.95);
    expect(r.lo).toBeGreaterThan(1.3);
    expect(r.estimate).toBeCloseTo(quantile(pairs.flatMap((p) => p.b), 0.95) / quantile(pairs.flatMap((p) => p.a), 0.95), 10);
  });

  it('keeps each pair whole: drift that moves both windows of a pair alike widens nothing', () => {
    // Pair i runs on a machine 1 + i/2 times slower; within each pair B is 1.3× A.
    const pairs = Array.from({ length: 20 }, (_, i) => ({ a: window(10 * (1 + i / 2), 100, i * 2 + 1), b: window(13 * (1 + i / 2), 100, i * 2 + 2) }));
    const r = pairedQuantileRatio(pairs, 0.95);
    expect(r.lo).toBeGreaterThan(1.15);
    expect(r.hi).toBeLessThan(1.45);
  });

  it('gives the same interval for the same seed', () => {
    const pairs = Array.from({ length: 10 }, (_, i) => ({ a: window(10, 50, i + 1), b: window(11, 50, i + 100) }));
    expect(pairedQuantileRatio(pairs, 0.95, { seed: 7 })).toEqual(pairedQuantileRatio(pairs, 0.95, { seed: 7 }));
  });
});
