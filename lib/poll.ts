/**
 * The one bounded poller, and the one way its failures read:
 *
 *     <what> not within 30.0 s; last seen <value>
 *
 * Every wait in the project is `eventually` (or a thin function around it, such as the
 * kube target's check waits), Playwright's / Vitest's own `expect.poll` with `pollBound`'s
 * message, or one of the sampling windows below. Each states its bound and samples
 * observable state: never a fixed sleep. No test runner is imported here: the runtime,
 * the bench, the suite and the project's own tests all use it.
 */

export interface PollOptions<T = unknown> {
  /** Upper bound of the whole wait, a probe in flight included; the failure message names it. */
  timeoutMs: number;
  /** Time between the end of one sample and the start of the next (default 100 ms). */
  intervalMs?: number;
  /** How a timeout shows the last value seen (default `renderValue`: compact JSON, cut short). */
  show?: (value: T) => string;
}

const DEFAULT_INTERVAL_MS = 100;

/**
 * Thrown by a probe when waiting longer cannot help (the process it waits for died, the
 * cluster is shutting down): the poller rethrows it at once instead of sampling again.
 */
export class Fatal extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'Fatal';
  }
}

/** Thrown when a wait's bound passes; `cause` is the probe's last error when its last sample threw. */
export class NotWithin extends Error {
  constructor(readonly what: string, readonly timeoutMs: number, readonly lastSeen: string, options?: ErrorOptions) {
    super(`${notWithin(what, timeoutMs)}; last seen ${lastSeen}`, options);
    this.name = 'NotWithin';
  }
}

/** The head of every timeout message: `<what> not within 30.0 s`. */
export function notWithin(what: string, timeoutMs: number): string {
  return `${what} not within ${seconds(timeoutMs)}`;
}

/**
 * The bound and message of a runner's own poll (`expect.poll(probe, pollBound('pod ready', 5_000))`,
 * Playwright or Vitest), phrased as `eventually` phrases its failures; the runner adds what it received.
 */
export function pollBound(what: string, timeoutMs: number): { timeout: number; message: string } {
  return { timeout: timeoutMs, message: notWithin(what, timeoutMs) };
}

/**
 * Samples `probe` until `accept` holds for what it returned, and resolves with that value.
 * A probe (or `accept`) that throws is sampled again (its error is what was last seen, kept as the
 * failure's `cause`), except with `Fatal`, which ends the wait at once. The bound holds
 * even for a probe that does not answer: the wait fails when it passes, whatever is in
 * flight.
 */
export async function eventually<T>(what: string, probe: () => T | Promise<T>, accept: (value: T) => boolean, options: PollOptions<T>): Promise<T> {
  const { timeoutMs, intervalMs = DEFAULT_INTERVAL_MS, show = renderValue } = options;
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    const sample = await withinDeadline(async () => {
      const value = await probe();
      return { value, accepted: accept(value) };
    }, deadline);
    if (sample.kind === 'late') throw notWithinError(what, timeoutMs, last, show, true);
    if (sample.kind === 'error') {
      if (sample.error instanceof Fatal) throw sample.error;
      last = { error: sample.error };
    } else {
      if (sample.value.accepted) return sample.value.value;
      last = { value: sample.value.value };
    }
    const left = deadline - Date.now();
    if (left <= 0) throw notWithinError(what, timeoutMs, last, show, false);
    await sleep(Math.min(intervalMs, left));
  }
}

/**
 * "Nothing changes for N seconds", as a bounded sampling: reads `probe` every `intervalMs`
 * for `forMs` and fails at the first sample that differs from the first one, saying what it
 * became and when. Resolves with the value and how many samples agreed.
 */
export async function expectSteady<T>(what: string, probe: () => T | Promise<T>, options: { forMs: number; intervalMs?: number }): Promise<{ value: T; samples: number }> {
  const { forMs, intervalMs = 250 } = options;
  const started = Date.now();
  const value = await probe();
  const first = JSON.stringify(value);
  let samples = 1;
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= forMs) return { value, samples };
    await sleep(Math.min(intervalMs, forMs - elapsed));
    const now = await probe();
    samples += 1;
    if (JSON.stringify(now) !== first) {
      throw new Error(`${what} changed from ${renderValue(value)} to ${renderValue(now)} after ${seconds(Date.now() - started)} (expected steady for ${seconds(forMs)})`);
    }
  }
}

/** Samples `probe` every `intervalMs` for `forMs` (an observation window, not a wait for a state). */
export async function observe<T>(probe: () => Promise<T>, options: { forMs: number; intervalMs: number }): Promise<Array<{ at: number; value: T }>> {
  const samples: Array<{ at: number; value: T }> = [];
  const end = Date.now() + options.forMs;
  while (Date.now() < end) {
    samples.push({ at: Date.now(), value: await probe() });
    await sleep(Math.min(options.intervalMs, Math.max(0, end - Date.now())));
  }
  return samples;
}

const MAX_RENDERED = 300;

/**
 * A value as a failure message shows it: strings as they are, errors by their message,
 * anything else as compact JSON (Maps and Sets as objects and arrays), cut at 300 characters.
 */
export function renderValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value instanceof Error) text = `error: ${value.message}`;
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'function') text = `[function ${value.name || 'anonymous'}]`;
  else {
    try {
      text = JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Map) return Object.fromEntries(v);
        if (v instanceof Set) return [...v];
        if (v instanceof Error) return `error: ${v.message}`;
        return v;
      }) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_RENDERED ? `${text.slice(0, MAX_RENDERED - 1)}…` : text;
}

function notWithinError<T>(what: string, timeoutMs: number, last: { value: T } | { error: unknown } | undefined, show: (value: T) => string, probeInFlight: boolean): NotWithin {
  const inFlight = probeInFlight ? ' (a probe still unanswered at the bound)' : '';
  if (last === undefined) return new NotWithin(what, timeoutMs, `nothing${inFlight}`);
  if ('error' in last) {
    const message = last.error instanceof Error ? last.error.message : String(last.error);
    return new NotWithin(what, timeoutMs, `error: ${message}${inFlight}`, { cause: last.error });
  }
  return new NotWithin(what, timeoutMs, `${show(last.value)}${inFlight}`);
}

type Sample<V> = { kind: 'ok'; value: V } | { kind: 'error'; error: unknown } | { kind: 'late' };

/** Runs one sample, or gives up on it when the deadline passes first (its late answer is dropped). */
function withinDeadline<V>(run: () => Promise<V>, deadline: number): Promise<Sample<V>> {
  const sample: Promise<Sample<V>> = run().then((value) => ({ kind: 'ok', value }), (error: unknown) => ({ kind: 'error', error }));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Sample<V>>((resolve) => { timer = setTimeout(() => resolve({ kind: 'late' }), Math.max(0, deadline - Date.now())); });
  return Promise.race([sample, late]).finally(() => clearTimeout(timer));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
