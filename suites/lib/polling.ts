import { expect } from '@playwright/test';

/**
 * Waits that state their bound. Every wait in the suite is one of these or Playwright's
 * own `expect.poll` / `toPass` with a message: bounded, on observable state, never a
 * fixed sleep.
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
 * "Nothing changes for N seconds": samples `probe` for the whole window and fails at the
 * first sample that differs from the first one, saying what changed and when.
 */
export async function expectSteady<T>(what: string, probe: () => Promise<T>, options: { forMs: number; intervalMs?: number }): Promise<T> {
  const { forMs, intervalMs = 500 } = options;
  const started = Date.now();
  const first = await probe();
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= forMs) return first;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, forMs - elapsed)));
    const now = await probe();
    expect(now as unknown, `${what} changed from ${JSON.stringify(first)} to ${JSON.stringify(now)} after ${((Date.now() - started) / 1000).toFixed(1)} s (expected steady for ${(forMs / 1000).toFixed(1)} s)`).toEqual(first);
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
