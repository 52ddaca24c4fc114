/**
 * Time as the autoscaler sees it. The controller never calls Date.now or setTimeout itself,
 * so tests can run hours of polling on a simulated clock without waiting.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  }),
};

interface Sleeper { at: number; seq: number; resolve: () => void }

/**
 * A clock that moves only when told. `advance` wakes sleepers in time order and lets the
 * woken code run (until it sleeps again or settles) before moving on, so a loop that polls
 * every second polls exactly 60 times in `advance(60_000)`.
 */
export class SimulatedClock implements Clock {
  private t: number;
  private seq = 0;
  private sleepers: Sleeper[] = [];

  constructor(start = Date.UTC(2025, 0, 1)) { this.t = start; }

  now(): number { return this.t; }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = { at: this.t + Math.max(0, ms), seq: this.seq++, resolve: () => resolve() };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  }

  /** Sleepers waiting right now (e.g. one per running loop). */
  get pending(): number { return this.sleepers.length; }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.sleepers = this.sleepers.filter((s) => s !== next);
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = end;
    await settle();
  }

  /** Advance to an absolute time. */
  async advanceTo(at: number): Promise<void> { await this.advance(Math.max(0, at - this.t)); }
}

/**
 * Lets every promise chain that is not waiting on real I/O run to its next sleep: a few
 * macrotask turns drain all microtasks queued in between.
 */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
