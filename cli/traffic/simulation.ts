import { performance } from 'node:perf_hooks';
import { sendAs } from '../../lib/http.ts';
import { TrafficStats } from '../../lib/traffic-stats.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';
import { constantArrivals } from './arrivals.ts';
import { type Mix, TenantTraffic } from './mix.ts';

export interface SimulatedTenant { tenant: string; tier: Tier; token: string }

export interface SimulationOptions {
  loadBalancerUrl: string;
  tenants: SimulatedTenant[];
  /** Arrivals per second, per tenant. */
  rate: number;
  durationMs: number;
  /** Bound on the requests of one tenant, whatever rate × duration says. */
  maxRequestsPerTenant: number;
  /** Beyond this many unanswered requests (all tenants), new arrivals are dropped and counted. */
  maxInFlight: number;
  timeoutMs: number;
  mix: Mix;
  runId: string;
  /** Stops the arrivals; requests in flight get `graceMs` to finish, then are aborted. */
  signal: AbortSignal;
  graceMs: number;
  progressEveryMs: number;
  onProgress(p: SimulationProgress): void;
}

export interface SimulationProgress {
  elapsedMs: number;
  perTenant: Map<string, TrafficStats>;
  total: TrafficStats;
  inFlight: number;
}

export interface SimulationResult {
  perTenant: Map<string, TrafficStats>;
  total: TrafficStats;
  elapsedMs: number;
  interrupted: boolean;
}

/** Open-model mixed traffic for each tenant through the load balancer, until done or aborted. */
export async function simulate(o: SimulationOptions): Promise<SimulationResult> {
  const perTenant = new Map(o.tenants.map((t) => [t.tenant, new TrafficStats()]));
  const inFlightAbort = new AbortController();
  const pending = new Set<Promise<void>>();
  const started = performance.now();

  const progress = () => {
    const total = new TrafficStats();
    for (const s of perTenant.values()) total.merge(s);
    o.onProgress({ elapsedMs: performance.now() - started, perTenant, total, inFlight: pending.size });
    for (const s of perTenant.values()) s.resetWindow();
  };
  const ticker = setInterval(progress, o.progressEveryMs);

  const runTenant = async (t: SimulatedTenant) => {
    const stats = perTenant.get(t.tenant)!;
    const traffic = new TenantTraffic(t.tenant, o.runId, o.mix);
    await constantArrivals({ rate: o.rate, durationMs: o.durationMs, maxArrivals: o.maxRequestsPerTenant, signal: o.signal }, (i, dueAt) => {
      if (pending.size >= o.maxInFlight) { stats.dropped++; return; }
      const req = traffic.next(i);
      stats.recordSent(req.op);
      const p = sendAs(o.loadBalancerUrl, t, req, { timeoutMs: o.timeoutMs, signal: inFlightAbort.signal, startedAt: dueAt }).then((r) => {
        stats.recordOutcome(r.outcome, r.ms, r.pod);
        if ('status' in r.outcome) traffic.settled(req, r.outcome.status);
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    });
  };

  try {
    await Promise.all(o.tenants.map(runTenant));
    await drain(pending, o.timeoutMs + 1_000, o.signal, o.graceMs);
    inFlightAbort.abort();
    await Promise.all(pending);
  } finally {
    clearInterval(ticker);
  }
  const total = new TrafficStats();
  for (const s of perTenant.values()) total.merge(s);
  return { perTenant, total, elapsedMs: performance.now() - started, interrupted: o.signal.aborted };
}

/**
 * Answers still count: waits for the requests in flight, at most `maxMs` (each request's
 * own timeout bounds it), or only `graceMs` once the run has been interrupted.
 */
async function drain(pending: Set<Promise<void>>, maxMs: number, signal: AbortSignal, graceMs: number): Promise<void> {
  let deadline = performance.now() + (signal.aborted ? graceMs : maxMs);
  const onAbort = () => { deadline = Math.min(deadline, performance.now() + graceMs); };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (pending.size && performance.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending), new Promise((r) => { timer = setTimeout(r, Math.min(100, Math.max(0, deadline - performance.now()))); })]);
      clearTimeout(timer);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
