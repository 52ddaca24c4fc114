import { describe, expect, it } from 'vitest';
import { CorrelatedUniform } from '../../cluster/local/network/correlated-random.ts';
import { ProxyLink, parseFault } from '../../cluster/local/network/sidecar.ts';

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const variance = (xs: number[]) => { const m = mean(xs); return mean(xs.map((x) => (x - m) ** 2)); };
/** Lag-1 autocorrelation: how much each draw follows the previous one. */
function lag1(xs: number[]): number {
  const m = mean(xs);
  let num = 0;
  for (let i = 1; i < xs.length; i++) num += (xs[i]! - m) * (xs[i - 1]! - m);
  return num / (xs.length - 1) / variance(xs);
}
const draws = (rho: number, n = 100_000) => { const g = new CorrelatedUniform(rho); return Array.from({ length: n }, () => g.next()); };

describe('netem-style correlation', () => {
  it('without correlation: independent uniform draws', () => {
    const xs = draws(0);
    expect(mean(xs)).toBeCloseTo(0.5, 1);
    expect(Math.abs(lag1(xs))).toBeLessThan(0.05);
    expect(variance(xs)).toBeCloseTo(1 / 12, 2);
  });

  it('with correlation rho: lag-1 autocorrelation rho, and still uniform (mean and spread kept)', () => {
    for (const rho of [0.25, 0.75]) {
      const xs = draws(rho);
      expect(mean(xs)).toBeCloseTo(0.5, 1);
      expect(lag1(xs)).toBeGreaterThan(rho - 0.05);
      expect(lag1(xs)).toBeLessThan(rho + 0.05);
      expect(variance(xs)).toBeCloseTo(1 / 12, 2);
      // Every tenth of [0, 1) still gets its tenth of the draws.
      for (let d = 0; d < 10; d++) expect(xs.filter((x) => Math.floor(x * 10) === d).length / xs.length).toBeCloseTo(0.1, 1);
    }
  });

  it('the sidecar draws its jitter that way: 100 ms ± 10 ms, correlated draws follow each other', () => {
    const link = new ProxyLink('test', { host: '127.0.0.1', port: 1 }, true);
    const sample = (correlation: number) => Array.from({ length: 20_000 }, () => link.sampleDelay('from-pod', { delayMs: 100, jitterMs: 10, correlation }));
    const plain = sample(0);
    const correlated = sample(0.9);
    for (const xs of [plain, correlated]) {
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(90);
      expect(Math.max(...xs)).toBeLessThanOrEqual(110);
      expect(Math.abs(mean(xs) - 100)).toBeLessThan(1.5);
      expect(Math.abs(Math.sqrt(variance(xs)) - 20 / Math.sqrt(12))).toBeLessThan(0.5); // uniform over ±10 ms
    }
    expect(Math.abs(lag1(plain))).toBeLessThan(0.06);
    expect(lag1(correlated)).toBeGreaterThan(0.85);
    // Correlated draws step less from one chunk to the next.
    const step = (xs: number[]) => mean(xs.slice(1).map((x, i) => Math.abs(x - xs[i]!)));
    expect(step(correlated)).toBeLessThan(step(plain) / 3);
  });

  it('loss correlation makes losses come in bursts at the same rate', () => {
    const link = new ProxyLink('test', { host: '127.0.0.1', port: 1 }, true);
    const runs = (lossCorrelation: number) => {
      const lost = Array.from({ length: 20_000 }, () => link.sampleLost('to-pod', { loss: 0.2, lossCorrelation }));
      let bursts = 0;
      for (let i = 0; i < lost.length; i++) if (lost[i] && !lost[i - 1]) bursts++;
      return { rate: lost.filter(Boolean).length / lost.length, meanBurst: lost.filter(Boolean).length / bursts };
    };
    const plain = runs(0);
    const bursty = runs(0.8);
    expect(plain.rate).toBeCloseTo(0.2, 1);
    expect(bursty.rate).toBeCloseTo(0.2, 1);
    // Independent: bursts of 1/(1-0.2) = 1.25; correlated 0.8: 1/((1-0.8)(1-0.2)) = 6.25.
    expect(plain.meanBurst).toBeLessThan(1.4);
    expect(bursty.meanBurst).toBeGreaterThan(4);
  });

  it('faults from outside accept correlation and lossCorrelation from 0 to 1', () => {
    expect(parseFault({ delayMs: 100, jitterMs: 10, correlation: 0.25, loss: 0.1, lossCorrelation: 0.5 })).toEqual({ delayMs: 100, jitterMs: 10, correlation: 0.25, loss: 0.1, lossCorrelation: 0.5 });
    expect(() => parseFault({ correlation: 25 })).toThrow(/correlation must be a number from 0 to 1/);
  });
});
