import { DB_SERVICE } from '../../../lib/names.ts';
import type { LocalityDistribution } from '../../manifests/mesh.ts';
import type { HaproxyBackend, HaproxyFrontend } from './haproxy-config.ts';
import type { ZonalBackend } from './lb-pool.ts';
import { LOCAL_REGION, ruleFor } from './locality.ts';

/** The database load balancer's frontend: the Service every tier sits behind. */
export const DB_FRONTEND = DB_SERVICE;
/** The token claim that names the tenant's tier (what RequestAuthentication copies into x-tenant-tier). */
export const TIER_CLAIM = 'tier';
/** Requests whose token names no tier (or an unknown one) go to this tier, as the mesh's untiered route does. */
export const DEFAULT_TIER = 'small';

export const zonalFrontend = (zone: string) => `${DB_FRONTEND}.${zone}`;
export const zonalBackend = (workload: string, zone: string) => `${workload}.${zone}`;

/** A database tier as the local mesh routes it: one StatefulSet, its DestinationRule and its activator. */
export interface DbTier {
  workload: string;
  tier: string;
  hashHeader: string;
  readinessPath: string;
  /** The tier's activator, HAProxy's backup server in each of the tier's backends. */
  backupAddress: string;
  distribute: LocalityDistribution[];
  /**
   * The DestinationRule's connectionPool limit on requests in flight, held per pod and
   * client view (HAProxy's server maxconn; Envoy holds it per client over the tier): a
   * request beyond it waits in HAProxy's queue, where Envoy would queue or refuse it.
   */
  maxActiveRequests?: number;
}

export interface MeshPlan {
  frontends: Array<Omit<HaproxyFrontend, 'port'>>;
  backends: HaproxyBackend[];
  /** Per tier workload, the backends of its client zones. */
  zonal: Map<string, ZonalBackend[]>;
}

/**
 * What HAProxy runs for the local mesh. The zone-agnostic frontend (a client outside the
 * mesh) and one frontend per zone (a client's sidecar in that zone) each pick the
 * tenant's tier from its token and hash the tenant over that tier's pods: over equal
 * weights from the zone-agnostic frontend, over the DestinationRule's locality weights
 * for the client's zone from a zonal one. The gateway has its own round-robin frontend.
 */
export function meshPlan(tiers: readonly DbTier[], gateways: ReadonlyArray<{ workload: string; readinessPath: string }>, zones: readonly string[], region = LOCAL_REGION): MeshPlan {
  const frontends: MeshPlan['frontends'] = [];
  const backends: HaproxyBackend[] = [];
  const zonal = new Map<string, ZonalBackend[]>();
  const fallback = tiers.find((t) => t.tier === DEFAULT_TIER) ?? tiers[0];
  const routeTo = (backendOf: (t: DbTier) => string): Omit<HaproxyFrontend, 'name' | 'port'> => ({
    defaultBackend: backendOf(fallback!),
    claimRoute: { claim: TIER_CLAIM, backends: Object.fromEntries(tiers.map((t) => [t.tier, backendOf(t)])) },
  });
  if (fallback) {
    frontends.push({ name: DB_FRONTEND, ...routeTo((t) => t.workload) });
    for (const zone of zones) frontends.push({ name: zonalFrontend(zone), ...routeTo((t) => zonalBackend(t.workload, zone)) });
  }
  for (const t of tiers) {
    const common = { hashHeader: t.hashHeader, readinessPath: t.readinessPath, backupAddress: t.backupAddress };
    backends.push({ name: t.workload, ...common });
    const views = zones.map((zone) => ({ zone, backend: zonalBackend(t.workload, zone), rule: ruleFor(t.distribute, zone, region) }));
    for (const v of views) backends.push({ name: v.backend, ...common });
    zonal.set(t.workload, views);
  }
  for (const g of gateways) {
    frontends.push({ name: g.workload, defaultBackend: g.workload });
    backends.push({ name: g.workload, readinessPath: g.readinessPath });
  }
  return { frontends, backends, zonal };
}
