/**
 * What the bench started, stopped in reverse order: at the end, on an error, and on
 * SIGINT/SIGTERM (servers run in their own process groups, so a Ctrl-C in the
 * terminal does not reach them: we must stop them ourselves).
 */
type Step = { what: string; run: () => Promise<void> | void };

const steps: Step[] = [];
let running: Promise<void> | undefined;

export function onTeardown(what: string, run: Step['run']): void {
  steps.push({ what, run });
}

export function teardown(): Promise<void> {
  running ??= (async () => {
    while (steps.length) {
      const step = steps.pop()!;
      try { await step.run(); } catch (err) { process.stderr.write(`[bench] teardown ${step.what}: ${String(err)}\n`); }
    }
  })();
  return running;
}

export function teardownOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping everything…\n`);
      void teardown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}
