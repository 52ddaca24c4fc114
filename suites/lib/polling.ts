/**
 * Waits that state their bound. Every wait in the suite is one of these or Playwright's
 * own `expect.poll` / `toPass` with a message: bounded, on observable state, never a
 * fixed sleep. No test runner is imported here: the project's own tests use them too.
 */

export interface PollOptions {
  /** Upper bound; the failure message names it. */
  timeoutMs: number;
  /** Time between samples. */
  intervalMs?: number;
}

/** Samples `probe` until `accept` holds; returns the accepted value, or fails naming `what` and the bound. */
export async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, options: PollOptions): Promise<T> {
  const { timeoutMs, intervalMs = 250 } = options;
  const started = Date.now();
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (accept(last)) return last;
    } catch (err) {
      lastError = err;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      const seen = lastError ? `last error: ${String(lastError)}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`${what}: not within ${(timeoutMs / 1000).toFixed(1)} s (${seen})`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, timeoutMs - elapsed)));
  }
}

/**
 * "Nothing changes for N seconds", as a bounded sampling: reads `probe` every `intervalMs`
 * for `forMs` and fails at the first sample that differs from the first one, saying what it
 * became and when. Resolves with the value and how many samples agreed.
 */
export async function expectSteady<T>(what: string, probe: () => Promise<T>, options: { forMs: number; intervalMs?: number }): Promise<{ value: T; samples: number }> {
  const { forMs, intervalMs = 250 } = options;
  const started = Date.now();
  const value = await probe();
  const first = JSON.stringify(value);
  let samples = 1;
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= forMs) return { value, samples };
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, forMs - elapsed)));
    const now = JSON.stringify(await probe());
    samples += 1;
    if (now !== first) {
      throw new Error(`${what} changed from ${first} to ${now} after ${((Date.now() - started) / 1000).toFixed(1)} s (expected steady for ${(forMs / 1000).toFixed(1)} s)`);
    }
  }
}

/** Samples `probe` every `intervalMs` for `forMs` (an observation window, not a wait for a state). */
export async function observe<T>(probe: () => Promise<T>, options: { forMs: number; intervalMs: number }): Promise<Array<{ at: number; value: T }>> {
  const samples: Array<{ at: number; value: T }> = [];
  const end = Date.now() + options.forMs;
  while (Date.now() < end) {
    samples.push({ at: Date.now(), value: await probe() });
    await new Promise((r) => setTimeout(r, Math.min(options.intervalMs, Math.max(0, end - Date.now()))));
  }
  return samples;
}
