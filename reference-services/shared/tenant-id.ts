import { HttpError } from './errors.ts';

/** Tenant ids are DNS-label-like: they become NATS subjects, metric labels and file names. */
export const TENANT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Resource, entity and moment ids: no separators, no dots, so they can't traverse or collide. */
export const OBJECT_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const TIERS = ['small', 'medium', 'large'] as const;
export type Tier = (typeof TIERS)[number];

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}

export function assertTenantId(value: unknown, where = 'tenant id'): string {
  if (typeof value !== 'string' || !TENANT_ID_PATTERN.test(value)) {
    throw new HttpError(400, 'invalid_tenant_id', `${where} must match ${TENANT_ID_PATTERN.source}`);
  }
  return value;
}

export function assertObjectId(value: unknown, where = 'id'): string {
  if (typeof value !== 'string' || !OBJECT_ID_PATTERN.test(value)) {
    throw new HttpError(400, 'invalid_id', `${where} must match ${OBJECT_ID_PATTERN.source}`);
  }
  return value;
}
