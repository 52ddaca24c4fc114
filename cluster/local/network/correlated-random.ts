/**
 * Uniform random numbers in [0, 1) where each draw depends on the previous one by `rho`
 * (Chaos Mesh's `delay.correlation` and `loss.correlation`, which it hands to netem): with
 * probability rho the previous draw repeats, otherwise a fresh one is taken. The lag-1
 * autocorrelation is rho — long delays follow long delays, losses come in bursts — while
 * every draw stays uniform, so a 100 ms ± 10 ms jitter keeps its ±10 ms and a 10 % loss
 * stays 10 %.
 *
 * netem itself blends the fresh draw with the previous one, (1-rho)·r + rho·last, which also
 * narrows the spread and lowers the effective loss rate (the known flaw behind netem's
 * later Gilbert-Elliott loss models); we keep the rates the resource asks for.
 */
export class CorrelatedUniform {
  private last: number;

  constructor(readonly rho: number, private readonly random: () => number = Math.random) {
    if (!(rho >= 0 && rho <= 1)) throw new Error(`correlation must be from 0 to 1, got ${rho}`);
    this.last = random();
  }

  next(): number {
    if (this.rho === 0 || this.random() >= this.rho) this.last = this.random();
    return this.last;
  }
}
