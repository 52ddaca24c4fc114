import type { TenantClient } from './http.ts';
import type { Outcome } from './timeline.ts';

/** What a background traffic driver saw, by HTTP status (or `error` for a failed connection). */
export interface TrafficStats {
  sent: number;
  byStatus: Record<string, number>;
  podsByTenant: Map<string, Set<string>>;
  /** Every request's outcome in sending order, for the report's per-second plots. */
  outcomes: Outcome[];
}

export interface Traffic {
  readonly stats: TrafficStats;
  /** Changes which tenants are active (the oscillating load of T2.6). */
  setClients(clients: TenantClient[]): void;
  stop(): Promise<TrafficStats>;
}

/**
 * Keeps the given tenants active: each sends `ratePerTenant` requests a second (an open
 * model: sends are not held back by slow answers) until `stop()`. This is load, not a
 * wait: specs still wait on observable state.
 */
export function startTraffic(clients: TenantClient[], ratePerTenant: number): Traffic {
  let current = clients;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const stats: TrafficStats = { sent: 0, byStatus: {}, podsByTenant: new Map(), outcomes: [] };
  const record = (c: TenantClient, key: string, pod: string | null, at: number, started: number) => {
    stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
    stats.outcomes.push({ at, ok: key.startsWith('2'), ms: performance.now() - started });
    if (pod) {
      let pods = stats.podsByTenant.get(c.tenantId);
      if (!pods) stats.podsByTenant.set(c.tenantId, (pods = new Set()));
      pods.add(pod);
    }
  };
  const intervalMs = 1000 / ratePerTenant;
  const timer = setInterval(() => {
    if (stopped) return;
    for (const c of current) {
      stats.sent += 1;
      const at = Date.now();
      const started = performance.now();
      const p = c.request('GET', '/api/v1/resources?limit=1').then(
        (res) => record(c, String(res.status), res.servedBy, at, started),
        () => record(c, 'error', null, at, started),
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, intervalMs);
  return {
    stats,
    setClients(next) { current = next; },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(inFlight);
      return stats;
    },
  };
}

export function failures(stats: TrafficStats): Record<string, number> {
  return Object.fromEntries(Object.entries(stats.byStatus).filter(([status]) => status === 'error' || Number(status) >= 500));
}

/**
 * Alternates between `high` and `low` tenants, `highMs` of the one then `lowMs` of the other,
 * for as long as it runs: the oscillating load of T2.6. `onFlip` hears each change, so a spec
 * can line the phases up with what the autoscaler read.
 */
export function startOscillatingTraffic(
  high: TenantClient[], low: TenantClient[], phases: { highMs: number; lowMs: number }, ratePerTenant: number,
  onFlip: (phase: 'high' | 'low', at: number) => void = () => {},
): Traffic {
  const traffic = startTraffic(high, ratePerTenant);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const enter = (phase: 'high' | 'low') => {
    if (stopped) return;
    traffic.setClients(phase === 'high' ? high : low);
    onFlip(phase, Date.now());
    timer = setTimeout(() => enter(phase === 'high' ? 'low' : 'high'), phase === 'high' ? phases.highMs : phases.lowMs);
  };
  enter('high');
  return {
    stats: traffic.stats,
    setClients: (clients) => traffic.setClients(clients),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      return traffic.stop();
    },
  };
}
