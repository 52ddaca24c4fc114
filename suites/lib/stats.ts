import { mulberry32 } from '../../load/lib/mix.ts';

/** Φ⁻¹: the standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0 || p >= 1) throw new Error(`quantile of ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * The skew (max |n_i − mean| / mean) that an ideal uniform hash stays under with
 * probability `confidence`, for `tenants` spread over `pods`: each pod's count is
 * Binomial(tenants, 1/pods), and the bound covers all pods at once (Bonferroni).
 */
export function idealSkewBound(tenants: number, pods: number, confidence = 0.99): number {
  const p = 1 / pods;
  const mean = tenants * p;
  const sd = Math.sqrt(tenants * p * (1 - p));
  const z = normalQuantile(1 - (1 - confidence) / (2 * pods));
  return (z * sd) / mean;
}

/** The q-quantile (0–1) of samples, nearest-rank: the smallest sample with at least q of them at or below it. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The least-squares slope of value over time (value units per ms), NaN with fewer than two distinct times. */
export function slope(points: readonly { at: number; value: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanT = points.reduce((s, p) => s + p.at, 0) / n;
  const meanV = points.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.at - meanT) * (p.value - meanV);
    den += (p.at - meanT) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export interface RatioInterval { estimate: number; lo: number; hi: number; confidence: number }

/**
 * The ratio of a quantile under B to the same quantile under A, with a confidence interval
 * from a paired block bootstrap: the measurement is a series of pairs (a window of A, then a
 * window of B), and each draw takes pairs with replacement, keeping each pair whole, so
 * that drift of the machine between pairs is carried into the interval rather than
 * mistaken for an effect. `estimate` is the ratio over every sample; `lo`/`hi` are the
 * draws' (1 − confidence)/2 and (1 + confidence)/2 percentiles.
 */
export function pairedQuantileRatio(pairs: ReadonlyArray<{ a: readonly number[]; b: readonly number[] }>, q: number, options: { draws?: number; confidence?: number; seed?: number } = {}): RatioInterval {
  const { draws = 2000, confidence = 0.98, seed = 1 } = options;
  if (pairs.length === 0) return { estimate: Number.NaN, lo: Number.NaN, hi: Number.NaN, confidence };
  const ratioOf = (chosen: ReadonlyArray<{ a: readonly number[]; b: readonly number[] }>) =>
    quantile(chosen.flatMap((p) => p.b), q) / quantile(chosen.flatMap((p) => p.a), q);
  // Seeded: a bootstrap that can be run again gives the same interval.
  const random = mulberry32(seed);
  const ratios: number[] = [];
  for (let d = 0; d < draws; d += 1) ratios.push(ratioOf(pairs.map(() => pairs[Math.floor(random() * pairs.length)]!)));
  return { estimate: ratioOf(pairs), lo: quantile(ratios, (1 - confidence) / 2), hi: quantile(ratios, (1 + confidence) / 2), confidence };
}
