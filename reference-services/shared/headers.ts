/**
 * The headers of the Percolate HTTP contract (each service's `openapi.yaml`), in lower case
 * as Node and fetch give them. The harness takes these names from here (lib/names.ts).
 */

/** The tenant a database request is for: the token's tenant must be this one, and the load balancer hashes on it. */
export const TENANT_HEADER = 'x-tenant-id';
/** On every response: the pod that answered. */
export const SERVED_BY_HEADER = 'x-served-by';
/** On every response: the zone of that pod. */
export const ZONE_HEADER = 'x-zone';
/** A caller's request id (else one is made), echoed on the response and in audit lines. */
export const REQUEST_ID_HEADER = 'x-request-id';
