import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Contract } from '../../reference-services/shared/contract.ts';
import { mintTenantToken, signToken } from '../../reference-services/shared/auth.ts';
import { anotherIssuer } from '../helpers/issuer.ts';
import { DbTestCluster, dbContract } from '../helpers/db-cluster.ts';
import { type HttpResult, TenantClient, http, tenantHeaders } from '../../lib/http.ts';
import { TENANT_HEADER } from '../../lib/names.ts';
import { expectContract } from '../helpers/http.ts';

// One db-node, real NATS: every endpoint against the OpenAPI contract, auth, tenant
// isolation, and the table of bad inputs.
let cluster: DbTestCluster;
let contract: Contract;
let node: string;

beforeAll(async () => {
  contract = dbContract();
  cluster = await DbTestCluster.start('db-api', [{ name: 'db-api-0', env: { MAX_BODY_BYTES: String(64 * 1024) } }]);
  node = cluster.node('db-api-0').url;
});
afterAll(async () => { await cluster?.stop(); });

describe('endpoints keep the contract', () => {
  it('serves every tenant endpoint with identity headers, validated against openapi.yaml', async () => {
    const a = await cluster.client('tenant-contract', 'db-api-0');
    const check = (method: string, template: string, res: HttpResult, status: number) => {
      expect(res.status, res.text).toBe(status);
      expect(res.headers.get('x-served-by')).toBe('db-api-0');
      expect(res.headers.get('x-zone')).toBeTruthy();
      expectContract(contract, method, template, res);
    };

    const created = await a.request('POST', '/api/v1/resources', { title: 'Quarterly plan', content: 'growth and hiring plan', tags: ['plan'] });
    check('POST', '/api/v1/resources', created, 201);
    const id = created.body.id as string;
    check('GET', '/api/v1/resources/{id}', await a.request('GET', `/api/v1/resources/${id}`), 200);
    const search = await a.request('GET', '/api/v1/resources?query=hiring');
    check('GET', '/api/v1/resources', search, 200);
    expect(search.body.items.map((r: { id: string }) => r.id)).toEqual([id]);
    check('GET', '/api/v1/resources', await a.request('GET', '/api/v1/resources'), 200);
    check('PUT', '/api/v1/entities/{id}', await a.request('PUT', '/api/v1/entities/acme', { properties: { name: 'Acme', size: 10 } }), 200);
    check('GET', '/api/v1/entities/{id}', await a.request('GET', '/api/v1/entities/acme'), 200);
    check('POST', '/api/v1/moments', await a.request('POST', '/api/v1/moments', { kind: 'note', text: 'met Acme' }), 201);
    check('GET', '/api/v1/moments', await a.request('GET', '/api/v1/moments'), 200);
    const chat = await a.request('POST', '/api/v1/chat', { message: 'what is the hiring plan?' });
    check('POST', '/api/v1/chat', chat, 200);
    expect(chat.body.sources).toEqual([id]);
    check('POST', '/api/v1/sync', await a.request('POST', '/api/v1/sync', { timeoutMs: 1000 }), 200);
    check('GET', '/api/v1/resources/{id}', await a.request('GET', '/api/v1/resources/missing-id'), 404);

    const admin = await cluster.adminToken();
    const keys = await http(`${node}/admin/tenants/tenant-contract/keys`, { headers: tenantHeaders({ token: admin }) });
    check('GET', '/admin/tenants/{tenant}/keys', keys, 200);
    const raw = await http(`${node}/admin/tenants/tenant-contract/raw`, { headers: tenantHeaders({ token: admin }) });
    check('GET', '/admin/tenants/{tenant}/raw', raw, 200);
    check('GET', '/health', await http(`${node}/health`), 200);
    check('GET', '/ready', await http(`${node}/ready`), 200);
  });

  it('ranks search results by text score, title matches first', async () => {
    const c = await cluster.client('tenant-rank', 'db-api-0');
    await c.request('POST', '/api/v1/resources', { id: 'body-only', title: 'Notes', content: 'kafka mentioned once' });
    await c.request('POST', '/api/v1/resources', { id: 'in-title', title: 'Kafka migration', content: 'kafka kafka' });
    await c.request('POST', '/api/v1/resources', { id: 'unrelated', title: 'Lunch', content: 'sandwiches' });
    const res = await c.request('GET', '/api/v1/resources?query=Kafka');
    expect(res.body.items.map((r: { id: string }) => r.id)).toEqual(['in-title', 'body-only']);
  });

  it('serves /metrics with the Prometheus names of the design', async () => {
    const res = await http(`${node}/metrics`);
    for (const name of ['percolate_active_tenants', 'percolate_tenant_requests_total', 'percolate_http_request_duration_seconds',
      'percolate_tenant_cache_lookups_total', 'percolate_replication_lag_seconds', 'percolate_tenant_rejected_total']) {
      expect(res.text, name).toContain(`# TYPE ${name}`);
    }
    // Latency by route template, not by raw path (which would be one series per id).
    expect(res.text).toMatch(/percolate_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/resources\/:id"/);
  });
});

describe('auth', () => {
  it('refuses a request without a token (401), with another tenant token (403), and an admin route for a tenant (403: a valid token without the admin role)', async () => {
    const b = await cluster.client('tenant-b', 'db-api-0');
    expect((await http(`${node}/api/v1/resources`, { headers: { [TENANT_HEADER]: 'tenant-b' } })).status).toBe(401);
    const bTokenAsA = await b.request('GET', '/api/v1/resources', undefined, { headers: { [TENANT_HEADER]: 'tenant-a' } });
    expect(bTokenAsA.status).toBe(403);
    expect(bTokenAsA.body).toMatchObject({ error: 'tenant_mismatch' });
    expect((await http(`${node}/admin/tenants/tenant-b/raw`, { headers: tenantHeaders({ token: await cluster.token('tenant-b') }) })).status).toBe(403);
  });
});

describe('tenant isolation', () => {
  it('never returns, counts or reveals another tenant’s data: search, list, get by id, entities, moments, chat', async () => {
    const a = await cluster.client('tenant-iso-a', 'db-api-0');
    const b = await cluster.client('tenant-iso-b', 'db-api-0');
    const secret = await a.request('POST', '/api/v1/resources', { id: 'shared-id', title: 'zebrafish secret', content: 'zebrafish zebrafish' });
    expect(secret.status).toBe(201);
    await a.request('PUT', '/api/v1/entities/shared-entity', { properties: { owner: 'a' } });
    await a.request('POST', '/api/v1/moments', { kind: 'note', text: 'zebrafish moment' });

    expect((await b.request('GET', '/api/v1/resources?query=zebrafish')).body.items).toEqual([]);
    expect((await b.request('GET', '/api/v1/resources')).body.items).toEqual([]);
    expect((await b.request('GET', '/api/v1/resources/shared-id')).status).toBe(404);
    expect((await b.request('GET', '/api/v1/entities/shared-entity')).status).toBe(404);
    expect((await b.request('GET', '/api/v1/moments')).body.items).toEqual([]);
    expect((await b.request('POST', '/api/v1/chat', { message: 'zebrafish' })).body.sources).toEqual([]);

    // The same id in B is B's own object; A's stays A's.
    await b.request('POST', '/api/v1/resources', { id: 'shared-id', title: 'b title', content: 'b content' });
    expect((await a.request('GET', '/api/v1/resources/shared-id')).body.title).toBe('zebrafish secret');
    expect((await b.request('GET', '/api/v1/resources/shared-id')).body.title).toBe('b title');
  });
});

describe('bad input gets a 4xx with a reason, and nothing is half-written', () => {
  const tenant = 'tenant-bad';
  let good: TenantClient;
  let expiredToken: string;
  let foreignToken: string;
  beforeAll(async () => {
    good = await cluster.client(tenant, 'db-api-0');
    const now = Math.floor(Date.now() / 1000);
    expiredToken = await signToken(cluster.secrets, { tenant, tier: 'small' }, { subject: tenant, issuedAt: now - 7200, expiresAt: now - 3600 });
    // Right claims and kid scheme, signed by a key pair that is not the issuer's.
    foreignToken = await mintTenantToken(anotherIssuer(cluster.secrets), tenant, 'small');
  });

  type Case = { name: string; method: string; path: string; body?: string; contentType?: string; auth?: 'good' | 'none' | 'garbage' | 'expired' | 'foreign'; tenantHeader?: string | null; status: number; error: string };
  const cases: Case[] = [
    { name: 'malformed JSON', method: 'POST', path: '/api/v1/resources', body: '{"title": "x", ', status: 400, error: 'bad_request' },
    { name: 'JSON that is not an object', method: 'POST', path: '/api/v1/resources', body: '[1,2]', status: 400, error: 'invalid_body' },
    { name: 'wrong type', method: 'POST', path: '/api/v1/resources', body: '{"title": 5, "content": "x"}', status: 400, error: 'invalid_body' },
    { name: 'missing field', method: 'POST', path: '/api/v1/resources', body: '{"title": "x"}', status: 400, error: 'invalid_body' },
    { name: 'unknown field', method: 'POST', path: '/api/v1/resources', body: '{"title": "x", "content": "y", "owner": "tenant-other"}', status: 400, error: 'invalid_body' },
    { name: 'oversized body', method: 'POST', path: '/api/v1/resources', body: JSON.stringify({ title: 'x', content: 'y'.repeat(70 * 1024) }), status: 413, error: 'payload_too_large' },
    { name: 'not JSON', method: 'POST', path: '/api/v1/resources', body: 'title=x', contentType: 'text/plain', status: 415, error: 'unsupported_media_type' },
    { name: 'path traversal in a body id', method: 'POST', path: '/api/v1/resources', body: '{"id": "../../etc/passwd", "title": "x", "content": "y"}', status: 400, error: 'invalid_body' },
    { name: 'path traversal in a path id', method: 'GET', path: '/api/v1/resources/..%2F..%2Fetc%2Fpasswd', status: 400, error: 'invalid_id' },
    { name: 'dots in a path id', method: 'GET', path: '/api/v1/entities/a.b', status: 400, error: 'invalid_id' },
    { name: 'bad property name', method: 'PUT', path: '/api/v1/entities/e1', body: '{"properties": {"a!b": 1}}', status: 400, error: 'invalid_body' },
    { name: 'empty properties', method: 'PUT', path: '/api/v1/entities/e1', body: '{"properties": {}}', status: 400, error: 'invalid_body' },
    { name: 'limit not a number', method: 'GET', path: '/api/v1/resources?limit=abc', status: 400, error: 'bad_request' },
    { name: 'limit too large', method: 'GET', path: '/api/v1/moments?limit=100000', status: 400, error: 'bad_request' },
    { name: 'missing token', method: 'GET', path: '/api/v1/resources', auth: 'none', status: 401, error: 'unauthorized' },
    { name: 'garbage token', method: 'GET', path: '/api/v1/resources', auth: 'garbage', status: 401, error: 'unauthorized' },
    { name: 'expired token', method: 'GET', path: '/api/v1/resources', auth: 'expired', status: 401, error: 'unauthorized' },
    { name: 'token signed with another secret', method: 'GET', path: '/api/v1/resources', auth: 'foreign', status: 401, error: 'unauthorized' },
    { name: 'missing X-Tenant-ID', method: 'GET', path: '/api/v1/resources', tenantHeader: null, status: 400, error: 'missing_tenant_header' },
    { name: 'tenant id with odd characters', method: 'GET', path: '/api/v1/resources', tenantHeader: '../Tenant_A', status: 400, error: 'invalid_tenant_id' },
    { name: 'tenant id too long', method: 'GET', path: '/api/v1/resources', tenantHeader: 'a'.repeat(80), status: 400, error: 'invalid_tenant_id' },
    { name: 'odd tenant id in an admin path', method: 'GET', path: '/admin/tenants/..%2Fx/raw', auth: 'none', status: 401, error: 'unauthorized' },
    { name: 'unknown route', method: 'GET', path: '/api/v1/nothing-here', status: 404, error: 'not_found' },
    { name: 'unknown method', method: 'DELETE', path: '/api/v1/resources', status: 405, error: 'method_not_allowed' },
  ];

  it.each(cases)('$name → $status $error', async (c) => {
    const headers: Record<string, string> = {};
    const tokens = { good: await cluster.token(tenant), none: undefined, garbage: 'not.a.jwt', expired: expiredToken, foreign: foreignToken };
    const token = tokens[c.auth ?? 'good'];
    if (token) headers.authorization = `Bearer ${token}`;
    if (c.tenantHeader !== null) headers['x-tenant-id'] = c.tenantHeader ?? tenant;
    if (c.body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
    const res = await http(`${node}${c.path}`, { method: c.method, headers, body: c.body });
    expect(res.status, res.text).toBe(c.status);
    expect(res.body).toMatchObject({ error: c.error, reason: expect.any(String) });
    expect((res.body as { reason: string }).reason.length).toBeGreaterThan(3);
  });

  it('is unharmed afterwards, and none of the refused writes was stored', async () => {
    expect(cluster.node('db-api-0').process.running).toBe(true);
    const list = await good.request('GET', '/api/v1/resources');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    expect((await good.request('GET', '/api/v1/entities/e1')).status).toBe(404);
    expect(cluster.node('db-api-0').process.output).not.toMatch(/"level":50/);
  });
});
