import { expect } from 'vitest';
import type { Contract } from '../../reference-services/shared/contract.ts';
import { type TenantClient, http, tenantHeaders } from '../../lib/http.ts';
import { type FuzzTarget, operationsOf } from './hostile-requests.ts';

export const FUZZ_TENANT = 'tenant-fuzz';
const TENANT = FUZZ_TENANT;

export async function dbFuzzTarget(c: Contract, tokens: { token: string; otherToken: string; adminToken: string }): Promise<FuzzTarget> {
  return {
    contract: c, ops: operationsOf(c), tenant: TENANT, otherTenant: 'tenant-other', tenantHeader: true, ...tokens,
    validParams: { id: 'fuzz-seed', tenant: TENANT },
    validBodies: {
      ResourceInput: { title: 'fuzz', content: 'a resource the fuzzer must not change' },
      EntityInput: { properties: { name: 'fuzz' } },
      MomentInput: { kind: 'note', text: 'fuzz' },
      ChatInput: { message: 'fuzz' },
      SyncInput: { timeoutMs: 1000 },
    },
  };
}

/** The tenant's data as stored, read back through the admin API: any write shows here. */
export async function storedRecords(baseUrl: string, admin: string, tenant = TENANT): Promise<unknown> {
  const res = await http(`${baseUrl}/admin/tenants/${tenant}/raw`, { headers: tenantHeaders({ token: admin }) });
  if (res.status !== 200) throw new Error(`reading the stored records answered ${res.status} ${res.text.slice(0, 200)}`);
  return res.body;
}

/** A resource, an entity and a moment: something a refused write could damage. */
export async function seedTenant(client: TenantClient): Promise<void> {
  const writes = [
    await client.request('POST', '/api/v1/resources', { id: 'fuzz-seed', title: 'seed', content: 'kept as is' }),
    await client.request('PUT', '/api/v1/entities/fuzz-seed', { properties: { name: 'seed', size: 1 } }),
    await client.request('POST', '/api/v1/moments', { kind: 'note', text: 'seed' }),
  ];
  for (const w of writes) expect(w.status, w.text).toBeLessThan(300);
}

