import type { TenantClient } from '../../lib/http.ts';
import { TrafficStats } from '../../lib/traffic-stats.ts';
import type { Outcome } from './timeline.ts';

export interface Traffic {
  /** Every request so far: outcomes by status or failure, pods, latency (lib/traffic-stats.ts). */
  readonly stats: TrafficStats;
  /** Tenant → the pods that answered it. A spec may clear it to see where tenants land from then on. */
  readonly podsByTenant: Map<string, Set<string>>;
  /** Every request's outcome in sending order, for the report's per-second plots. */
  readonly timeline: Outcome[];
  /** Changes which tenants are active (the oscillating load of T2.6). */
  setClients(clients: TenantClient[]): void;
  stop(): Promise<TrafficStats>;
}

/** Bound on one request of the background traffic: undici's own headers timeout, what the driver always had. */
const REQUEST_TIMEOUT_MS = 300_000;
const PATH = '/api/v1/resources?limit=1';

/**
 * Keeps the given tenants active: each sends `ratePerTenant` requests a second (an open
 * model: sends are not held back by slow answers) until `stop()`. This is load, not a
 * wait: specs still wait on observable state.
 */
export function startTraffic(clients: TenantClient[], ratePerTenant: number): Traffic {
  let current = clients;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const stats = new TrafficStats();
  const podsByTenant = new Map<string, Set<string>>();
  const timeline: Outcome[] = [];
  const intervalMs = 1000 / ratePerTenant;
  const timer = setInterval(() => {
    if (stopped) return;
    for (const c of current) {
      stats.recordSent();
      const at = Date.now();
      const p = c.send({ method: 'GET', path: PATH }, { timeoutMs: REQUEST_TIMEOUT_MS }).then((r) => {
        stats.recordOutcome(r.outcome, r.ms, r.pod);
        timeline.push({ at, ok: 'status' in r.outcome && r.outcome.status >= 200 && r.outcome.status < 300, ms: r.ms });
        if (r.pod) {
          let pods = podsByTenant.get(c.tenantId);
          if (!pods) podsByTenant.set(c.tenantId, (pods = new Set()));
          pods.add(r.pod);
        }
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, intervalMs);
  return {
    stats,
    podsByTenant,
    timeline,
    setClients(next) { current = next; },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(inFlight);
      return stats;
    },
  };
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
    podsByTenant: traffic.podsByTenant,
    timeline: traffic.timeline,
    setClients: (clients) => traffic.setClients(clients),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      return traffic.stop();
    },
  };
}
