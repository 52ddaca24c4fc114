/**
 * The names the harness relies on: the workloads and their ScaledObjects, the Services
 * and load-balancer frontends, the labels that select pods, and the headers every
 * Percolate request and response carries. Everything outside `reference-services/` spells
 * them through this module.
 *
 * Where a name is data, the data is the source of truth: the manifests (`manifests/`)
 * name the workloads, Services, labels and mesh headers, and tests/unit/names.test.ts
 * checks every name here against both rendered overlays, so renaming a workload in the
 * manifests fails that test until it is renamed here too. The headers of the HTTP
 * contract are the services' own (reference-services/shared/headers.ts).
 */
import { TIERS, type Tier } from '../reference-services/shared/tenant-id.ts';

export { TIERS, type Tier };
export { REQUEST_ID_HEADER, SERVED_BY_HEADER, TENANT_HEADER, ZONE_HEADER } from '../reference-services/shared/headers.ts';

/** The namespace of every object of ours. */
export const NAMESPACE = 'percolate';

// ---- workloads ---------------------------------------------------------------------------

/** The database StatefulSet of a tier; also its ScaledObject and its own Service (the tier's host in the mesh). */
export const dbWorkload = <T extends Tier>(tier: T): `percolate-db-${T}` => `percolate-db-${tier}`;
/** Every tier's database workload, in the order of TIERS. */
export const DB_WORKLOADS: readonly string[] = TIERS.map(dbWorkload);
/** The small tier's database: the tier every target has, and the one most specs hold. */
export const DB_SMALL = dbWorkload('small');
/** The workers' Deployment of a tier, pulling that tier's jobs; also its ScaledObject. */
export const workerWorkload = <T extends Tier>(tier: T): `percolate-worker-${T}` => `percolate-worker-${tier}`;
/** Every tier's workers, in the order of TIERS. */
export const WORKER_WORKLOADS: readonly string[] = TIERS.map(workerWorkload);
/** The small tier's workers: those that take the jobs of the tenants most specs hold. */
export const WORKER_SMALL = workerWorkload('small');
/** The upload gateway's Deployment. */
export const GATEWAY = 'percolate-gateway';

/**
 * Every ScaledObject. Each is named as the workload it scales, so `pools.hold(DB_SMALL, n)`
 * and `cluster.getReplicas(DB_SMALL)` name the same thing.
 */
export const SCALED_OBJECTS: readonly string[] = [...DB_WORKLOADS, ...WORKER_WORKLOADS];

/** Whether a pod (its name, as `x-served-by` gives it) belongs to a workload: `percolate-db-small-0`, `percolate-worker-small-7d9f-x2`. */
export const isPodOf = (pod: string, workload: string): boolean => pod.startsWith(`${workload}-`);

// ---- Services and frontends -------------------------------------------------------------

/**
 * The Service every database tier sits behind: what callers inside the mesh address, the
 * VirtualService that sends each request on to its tenant's tier, and the local load
 * balancer's frontend that picks the tier from the token.
 */
export const DB_SERVICE = 'percolate-db';
/** The gateway's Service (and the local load balancer's gateway frontend). */
export const GATEWAY_SERVICE = GATEWAY;
/** The JetStream StatefulSet and its Service. */
export const NATS = 'nats';
/** Prometheus's Deployment and Service. */
export const PROMETHEUS = 'prometheus';
/** The Secret every service mounts (the secrets file of reference-services/shared/secrets.ts). */
export const SECRETS = 'percolate-secrets';

// ---- labels ------------------------------------------------------------------------------

export const NAME_LABEL = 'app.kubernetes.io/name';
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
/** `app.kubernetes.io/part-of` of every object of ours (the overlays set it). */
export const PART_OF = 'percolate';
/** The database tier, on every object and pod of a tier. */
export const TIER_LABEL = 'percolate.io/tier';

/** `app.kubernetes.io/name` of each workload's pods: the pods of every database tier share one, and so do every tier's workers. */
export const APP = { db: DB_SERVICE, worker: 'percolate-worker', gateway: GATEWAY } as const;

/** The label selector of the database pods of one tier, or of every tier. */
export function dbPodSelector(tier?: Tier): Record<string, string> {
  return tier === undefined ? { [NAME_LABEL]: APP.db } : { [NAME_LABEL]: APP.db, [TIER_LABEL]: tier };
}

// ---- headers the mesh adds ---------------------------------------------------------------

/** The tier of the token's tenant: RequestAuthentication copies the token's claim into it, the VirtualService routes on it. */
export const TENANT_TIER_HEADER = 'x-tenant-tier';
