import { randomBytes } from 'node:crypto';
import { loadTenants, tierOf } from '../../fixtures/tenants.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';

/** A tenant's tier: as asked, else its tier in fixtures/tenants.yaml, else the fallback (small: the tier every target has). */
export function tierFor(tenant: string, asked?: Tier, fallback: Tier = 'small'): Tier {
  return asked ?? tierOf(tenant) ?? fallback;
}

/** The first `n` fixture tenants of a tier; an error message when the fixtures have fewer. */
export function firstTenants(tier: Tier, n: number): { tenants: string[] } | { error: string } {
  const all = loadTenants(tier);
  if (all.length < n) return { error: `fixtures/tenants.yaml has ${all.length} ${tier} tenants, ${n} asked for` };
  return { tenants: all.slice(0, n).map((t) => t.id) };
}

/** Stamped on every id and text a command creates: `<what>-<time>-<random>`, a valid object id. */
export function newRunId(what: string): string {
  return `${what}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
