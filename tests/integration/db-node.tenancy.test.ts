import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollBound } from '../../lib/poll.ts';
import { DbTestCluster } from '../helpers/db-cluster.ts';
import { http, tenantHeaders } from '../../lib/http.ts';

// Per-tenant machinery of one db-node: envelope encryption, key rotation and its audit
// trail, the open-tenant cache, per-tenant limits, the active-tenant gauge, and SIGTERM.
const COLD_OPEN_MS = 300;
const ACTIVE_WINDOW_SECONDS = 2;
let cluster: DbTestCluster;
let url: string;

beforeAll(async () => {
  cluster = await DbTestCluster.start('db-tenancy', [{
    name: 'db-t-0',
    env: {
      COLD_OPEN_MS: String(COLD_OPEN_MS), TENANT_CACHE_SIZE: '2', ACTIVE_WINDOW_SECONDS: String(ACTIVE_WINDOW_SECONDS),
    },
  }, {
    name: 'db-t-limits', env: { TENANT_RATE_LIMIT: '40', TENANT_RATE_BURST: '40', TENANT_MAX_CONCURRENCY: '8' },
  }]);
  url = cluster.node('db-t-0').url;
});
afterAll(async () => { await cluster?.stop(); });

const admin = async (method: string, path: string) => http(`${url}${path}`, { method, headers: tenantHeaders({ token: await cluster.adminToken() }) });
const metricValue = async (pattern: RegExp) => Number(pattern.exec((await http(`${url}/metrics`)).text)?.[1] ?? 0);
const auditLines = (tenant: string) => cluster.node('db-t-0').process.jsonLogs().filter((l) => l.audit === 'key.unwrap' && l.tenant === tenant);

describe('envelope encryption', () => {
  it('stores only ciphertext: no plaintext of a resource or an entity in what the store holds', async () => {
    const c = await cluster.client('tenant-enc', 'db-t-0');
    expect((await c.request('POST', '/api/v1/resources', { id: 'r1', title: 'platypus-7731', content: 'the platypus ledger' })).status).toBe(201);
    expect((await c.request('PUT', '/api/v1/entities/e1', { properties: { codename: 'okapi-4410' } })).status).toBe(200);
    const raw = await admin('GET', '/admin/tenants/tenant-enc/raw');
    expect(raw.body.records.length).toBe(2);
    const decoded = (raw.body.records as Array<{ ct: string }>).map((r) => Buffer.from(r.ct, 'base64').toString('latin1')).join('|');
    for (const plaintext of ['platypus', 'ledger', 'okapi']) {
      expect(raw.text).not.toContain(plaintext);
      expect(decoded).not.toContain(plaintext);
    }
    // …and the API still reads it back.
    expect((await c.request('GET', '/api/v1/resources/r1')).body.title).toBe('platypus-7731');
  });
});

describe('key rotation and audit', () => {
  it('rotates a tenant key under load with zero failed requests; new writes use the new version, old data stays readable', async () => {
    const c = await cluster.client('tenant-rot', 'db-t-0');
    expect((await c.request('POST', '/api/v1/resources', { id: 'before', title: 'old', content: 'written under v1' })).body.keyVersion).toBe(1);
    const statuses: number[] = [];
    let rotating = true;
    const load = (async () => {
      let i = 0;
      while (rotating || i < 100) {
        const write = await c.request('POST', '/api/v1/resources', { id: `during-${i}`, title: 't', content: 'c' });
        const read = await c.request('GET', '/api/v1/resources/before');
        statuses.push(write.status, read.status);
        i += 1;
      }
    })();
    for (let r = 0; r < 3; r += 1) expect((await admin('POST', '/admin/tenants/tenant-rot/keys/rotate')).status).toBe(200);
    rotating = false;
    await load;
    expect(statuses.length).toBeGreaterThanOrEqual(200);
    expect(statuses.filter((s) => s !== 200 && s !== 201), 'failed requests during rotation').toEqual([]);
    expect((await c.request('POST', '/api/v1/resources', { id: 'after', title: 'new', content: 'x' })).body.keyVersion).toBe(4);
    expect((await c.request('GET', '/api/v1/resources/before')).body).toMatchObject({ title: 'old', keyVersion: 1 });
    const keys = await admin('GET', '/admin/tenants/tenant-rot/keys');
    expect(keys.body.versions.map((v: { version: number }) => v.version).sort()).toEqual([1, 2, 3, 4]);
  });

  it('logs every key unwrap as a JSON audit line with time, tenant, key version, pod and caller', async () => {
    const c = await cluster.client('tenant-audit', 'db-t-0');
    const before = auditLines('tenant-audit').length;
    await c.request('GET', '/api/v1/resources');
    // Logs arrive through a pipe: wait for the line, then check it.
    await expect.poll(() => auditLines('tenant-audit').length, pollBound('audit line', 2000)).toBe(before + 1);
    expect(auditLines('tenant-audit').at(-1)).toMatchObject({ tenant: 'tenant-audit', keyVersion: 1, pod: 'db-t-0', caller: 'GET /api/v1/resources', outcome: 'granted', time: expect.any(String) });
    // A cached tenant needs no unwrap; one evicted from the two-tenant cache needs one again.
    await c.request('GET', '/api/v1/resources');
    for (const other of ['tenant-evict-1', 'tenant-evict-2']) await (await cluster.client(other, 'db-t-0')).request('GET', '/api/v1/resources');
    await c.request('GET', '/api/v1/resources');
    await expect.poll(() => auditLines('tenant-audit').length, pollBound('reopen audited', 2000)).toBeGreaterThanOrEqual(before + 2);
    // Lines keep their order, so the cached request would have logged before the evictions did.
    const unwraps = cluster.node('db-t-0').process.jsonLogs().filter((l) => l.audit === 'key.unwrap').map((l) => l.tenant);
    expect(unwraps.slice(unwraps.lastIndexOf('tenant-evict-2') + 1)).toEqual(['tenant-audit']);
    expect(auditLines('tenant-audit').length).toBe(before + 2);
  });
});

describe('open-tenant cache', () => {
  it('charges the cold-open delay on a miss only, and keeps at most TENANT_CACHE_SIZE tenants open', async () => {
    const misses = () => metricValue(/percolate_tenant_cache_lookups_total\{[^}]*result="miss"[^}]*\} (\d+)/);
    const hits = () => metricValue(/percolate_tenant_cache_lookups_total\{[^}]*result="hit"[^}]*\} (\d+)/);
    const t1 = await cluster.client('tenant-cold-1', 'db-t-0');
    const m0 = await misses();
    const started = performance.now();
    expect((await t1.request('GET', '/api/v1/resources')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(COLD_OPEN_MS);
    expect(await misses()).toBe(m0 + 1);
    const h0 = await hits();
    await t1.request('GET', '/api/v1/resources');
    expect(await hits()).toBe(h0 + 1);
    expect(await misses()).toBe(m0 + 1);
    for (const other of ['tenant-cold-2', 'tenant-cold-3']) await (await cluster.client(other, 'db-t-0')).request('GET', '/api/v1/resources');
    await t1.request('GET', '/api/v1/resources');
    expect(await misses(), 'tenant-cold-1 was evicted by two newer tenants').toBe(m0 + 4);
  });
});

describe('per-tenant limits', () => {
  it('answers a bursting tenant 429 with Retry-After while another tenant is served', async () => {
    const noisy = await cluster.client('tenant-noisy', 'db-t-limits');
    const victim = await cluster.client('tenant-victim', 'db-t-limits');
    await victim.request('GET', '/api/v1/resources');
    const burst = Promise.all(Array.from({ length: 150 }, () => noisy.request('GET', '/api/v1/resources')));
    const victimStatuses: number[] = [];
    for (let i = 0; i < 15; i += 1) victimStatuses.push((await victim.request('GET', '/api/v1/resources')).status);
    const noisyResults = await burst;
    const limited = noisyResults.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(noisyResults.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited[0]!.body).toMatchObject({ error: expect.stringMatching(/rate_limited|too_many_in_flight/), reason: expect.stringContaining('tenant-noisy') });
    expect(victimStatuses.every((s) => s === 200)).toBe(true);
    const metrics = (await http(`${noisy.baseUrl}/metrics`)).text;
    expect(Number(/percolate_tenant_rejected_total\{[^}]*tenant_id="tenant-noisy"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
  });
});

describe('active tenants', () => {
  const active = () => metricValue(/percolate_active_tenants\{[^}]*tier="small"[^}]*\} (\d+)/);

  it('counts tenants with a request inside the active window, and forgets them after it', async () => {
    const windowMs = ACTIVE_WINDOW_SECONDS * 1000;
    await expect.poll(active, pollBound('earlier tenants out of the window', windowMs + 2000)).toBe(0);
    for (const t of ['tenant-act-1', 'tenant-act-2', 'tenant-act-3']) {
      const c = await cluster.client(t, 'db-t-0');
      await c.request('GET', '/api/v1/resources');
      await c.request('GET', '/api/v1/moments');
    }
    expect(await active()).toBe(3);
    // One series per active tenant, which the ScaledObject counts as distinct ids across pods.
    const perTenant = [...(await http(`${url}/metrics`)).text.matchAll(/^percolate_tenant_active\{[^}]*tenant_id="([^"]+)"[^}]*\} 1$/gm)].map((m) => m[1]).sort();
    expect(perTenant).toEqual(['tenant-act-1', 'tenant-act-2', 'tenant-act-3']);
    await expect.poll(active, pollBound('back to 0 after the last request', windowMs + 2000)).toBe(0);
  });

  it('refuses a tenant of another tier with 421', async () => {
    const large = await cluster.client('tenant-large', 'db-t-0', 'large');
    const res = await large.request('GET', '/api/v1/resources');
    expect(res.status).toBe(421);
    expect(res.body).toMatchObject({ error: 'wrong_tier' });
  });
});

describe('SIGTERM', () => {
  it('turns not-ready first, finishes the request in flight, then exits 0', async () => {
    const node = await cluster.addNode('db-t-term', { COLD_OPEN_MS: '1500', UNREADY_GRACE_MS: '500' });
    const c = await cluster.client('tenant-term', 'db-t-term');
    const missCount = async () => Number(/percolate_tenant_cache_lookups_total\{[^}]*result="miss"[^}]*\} (\d+)/.exec((await http(`${node.url}/metrics`)).text)?.[1] ?? 0);
    const inFlight = c.request('POST', '/api/v1/resources', { id: 'in-flight', title: 't', content: 'c' });
    await expect.poll(missCount, pollBound('request in flight (cold open started)', 1000)).toBe(1);
    process.kill(node.process.pid, 'SIGTERM');
    await expect.poll(async () => (await http(`${node.url}/ready`)).status, pollBound('/ready failing after SIGTERM', 400)).toBe(503);
    expect((await inFlight).status).toBe(201);
    expect(await node.process.exited).toEqual({ code: 0, signal: null });
    const survivor = (await cluster.client('tenant-term', 'db-t-0'));
    await expect.poll(async () => (await survivor.request('GET', '/api/v1/resources/in-flight')).status, pollBound('the drained write replicated', 3000)).toBe(200);
    cluster.nodes.delete('db-t-term');
  });
});
