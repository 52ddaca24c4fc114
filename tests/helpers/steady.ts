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
