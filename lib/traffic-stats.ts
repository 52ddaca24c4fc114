import type { RequestOutcome } from './http.ts';
import { Latency, type LatencySummary } from './latency.ts';

/**
 * What a traffic driver saw: requests sent, how each ended (by status, or by transport
 * failure), which pods answered, and latency. The suite's background traffic
 * (suites/lib/traffic.ts) and the CLI's commands (cli/traffic/) both count with it.
 */

export interface StatsSnapshot {
  sent: number;
  answered: number;
  /** Requests not sent because too many were in flight (the open model's dropped arrivals). */
  dropped: number;
  /** By status code ("200", "429") or failure ("ECONNREFUSED", "timeout", "aborted"). */
  outcomes: Record<string, number>;
  /** By operation of the traffic mix (read, search, write…), where the driver names one. */
  operations: Record<string, number>;
  /** Non-2xx answers and transport failures. */
  errors: number;
  /** 5xx answers and transport failures (not our own aborts at Ctrl-C): the ones a healthy cluster never gives. */
  serverErrors: number;
  latency: LatencySummary;
  /** `x-served-by` → requests it answered. */
  pods: Record<string, number>;
}

const inc = (m: Record<string, number>, key: string, by = 1) => { m[key] = (m[key] ?? 0) + by; };

/** An outcome key ("200", "ECONNREFUSED") that a healthy cluster never gives: a 5xx, or a transport failure other than our own abort. */
export const isServerErrorOutcome = (key: string): boolean => {
  const status = Number(key);
  return Number.isInteger(status) ? status >= 500 : key !== 'aborted';
};

/** An outcome key that is not a 2xx answer. */
export const isErrorOutcome = (key: string): boolean => {
  const status = Number(key);
  return !Number.isInteger(status) || status < 200 || status >= 300;
};

/** Counters and latency of a traffic run (one tenant, or all of them merged). */
export class TrafficStats {
  sent = 0;
  dropped = 0;
  readonly outcomes: Record<string, number> = {};
  readonly operations: Record<string, number> = {};
  readonly pods: Record<string, number> = {};
  readonly latency = new Latency();
  /** Since the last `resetWindow()` (a progress line). */
  readonly window = new Latency();
  windowAnswered = 0;

  recordSent(op?: string): void {
    this.sent++;
    if (op !== undefined) inc(this.operations, op);
  }

  /** Latency counts for answers only: a refused connection says nothing about the service's speed. */
  recordOutcome(outcome: RequestOutcome, ms: number, pod: string | null): void {
    if ('status' in outcome) {
      inc(this.outcomes, String(outcome.status));
      this.latency.record(ms);
      this.window.record(ms);
      this.windowAnswered++;
      if (pod) inc(this.pods, pod);
    } else inc(this.outcomes, outcome.failure);
  }

  merge(other: TrafficStats): void {
    this.sent += other.sent;
    this.dropped += other.dropped;
    for (const [k, v] of Object.entries(other.outcomes)) inc(this.outcomes, k, v);
    for (const [k, v] of Object.entries(other.operations)) inc(this.operations, k, v);
    for (const [k, v] of Object.entries(other.pods)) inc(this.pods, k, v);
    this.latency.add(other.latency);
    this.window.add(other.window);
    this.windowAnswered += other.windowAnswered;
  }

  resetWindow(): void { this.window.reset(); this.windowAnswered = 0; }

  /** The outcomes a healthy cluster never gives (5xx answers, transport failures), by key: `{}` when there were none. */
  failures(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.outcomes).filter(([k]) => isServerErrorOutcome(k)));
  }

  snapshot(): StatsSnapshot {
    let errors = 0;
    let serverErrors = 0;
    let answered = 0;
    for (const [k, v] of Object.entries(this.outcomes)) {
      if (Number.isInteger(Number(k))) answered += v;
      if (isErrorOutcome(k)) errors += v;
      if (isServerErrorOutcome(k)) serverErrors += v;
    }
    return {
      sent: this.sent, answered, dropped: this.dropped, outcomes: { ...this.outcomes }, operations: { ...this.operations },
      errors, serverErrors, latency: this.latency.summary(), pods: { ...this.pods },
    };
  }
}

/** `200:412 201:88 429:3` (statuses first, then failures), or `none`. */
export function fmtOutcomes(outcomes: Record<string, number>, only?: (key: string) => boolean): string {
  const keys = Object.keys(outcomes).filter((k) => !only || only(k)).sort((a, b) => {
    const [na, nb] = [Number(a), Number(b)];
    if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
    return Number.isInteger(na) ? -1 : Number.isInteger(nb) ? 1 : a.localeCompare(b);
  });
  return keys.length ? keys.map((k) => `${k}:${outcomes[k]}`).join(' ') : 'none';
}
