import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { requireTenant, tenantOf } from '../shared/auth.ts';
import type { Contract } from '../shared/contract.ts';
import { HttpError, badRequest, notFound } from '../shared/errors.ts';
import { type PodIdentity, routeOf } from '../shared/http-app.ts';
import type { Secrets } from '../shared/secrets.ts';
import { assertObjectId, type Tier } from '../shared/tenant-id.ts';
import type { ActiveTenants } from './active-tenants.ts';
import type { KeyRing } from './key-ring.ts';
import { keyRouters } from './key-routes.ts';
import { principalIs, withRequestId } from './audit-context.ts';
import { type TenantLimitOptions, tenantLimits } from './limits.ts';
import type { DbMetrics } from './metrics.ts';
import { type HybridClock, type SyncMessage, type SyncOp, type SyncEntry, keys } from './records.ts';
import type { Replicator } from './replication.ts';
import { tokenize } from './search.ts';
import type { OpenTenant, TenantStores } from './tenant-stores.ts';

export interface DbNodeDeps {
  identity: PodIdentity;
  tier: Tier;
  secrets: Secrets;
  contract: Contract;
  stores: TenantStores;
  keyRing: KeyRing;
  replicator: Replicator;
  clock: HybridClock;
  active: ActiveTenants;
  metrics: DbMetrics;
  limits: TenantLimitOptions;
  /** JSON body parsing, mounted after auth so that anonymous requests are refused unread. */
  parseBody: Middleware;
}

interface Resource { id: string; tenant: string; title: string; content: string; tags: string[]; createdAt: string; updatedAt: string }
interface Moment { id: string; tenant: string; kind: string; text: string; at: string }

const newId = () => randomBytes(12).toString('base64url');
const isoOf = (ts: number) => new Date(Math.floor(ts / 1000)).toISOString();

function limitParam(ctx: Context): number {
  const raw = ctx.query.limit;
  if (raw === undefined) return 20;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(value) || value < 1 || value > 100) throw badRequest('limit must be an integer from 1 to 100');
  return value;
}

function queryParam(ctx: Context): string | null {
  const raw = ctx.query.query;
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || raw.length > 500) throw badRequest('query must be one string of at most 500 characters');
  return raw;
}

/** The tenant API and the admin API, mounted in that order. */
export function dbNodeRouters(deps: DbNodeDeps): Router[] {
  const { identity, stores, replicator, clock, contract, metrics } = deps;
  const tenantApi = new Router({ prefix: '/api/v1' });

  const caller = (ctx: Context) => `${ctx.method} ${routeOf(ctx) ?? ctx.path}`;
  const openTenant = (ctx: Context) => stores.openTenant(tenantOf(ctx).tenantId, caller(ctx));

  async function write(tenant: OpenTenant, op: SyncOp, ts: number, entries: SyncEntry[]): Promise<void> {
    const message: SyncMessage = { v: 1, op, tenant: tenant.tenantId, node: identity.pod, ts, entries };
    await replicator.write(message);
  }

  tenantApi.use(withRequestId());
  tenantApi.use(requireTenant(deps.secrets));
  tenantApi.use(principalIs((ctx) => `tenant:${tenantOf(ctx).tenantId}`));
  tenantApi.use(async (ctx, next) => {
    const { tenantId, tier } = tenantOf(ctx);
    // The mesh routes by tier; a request of another tier here means routing is wrong.
    if (tier !== deps.tier) throw new HttpError(421, 'wrong_tier', `tenant of tier ${tier} reached a ${deps.tier} node`);
    deps.active.touch(tenantId, tier);
    metrics.tenantRequests.inc({ tenant_id: tenantId, pod: identity.pod, tier });
    await next();
  });
  tenantApi.use(tenantLimits(deps.limits, metrics));
  tenantApi.use(deps.parseBody);

  tenantApi.get('/resources', async (ctx) => {
    const query = queryParam(ctx);
    const limit = limitParam(ctx);
    const tenant = await openTenant(ctx);
    // Through the tenant's index: a list or a search decrypts only what it returns.
    const found = query === null ? await tenant.recentResources<Resource>(limit) : await tenant.searchResources<Resource>(tokenize(query), limit);
    ctx.body = { query, items: found.map((f) => ({ ...f.value, keyVersion: f.stored.kv, ...('score' in f ? { score: f.score } : {}) })) };
  });

  tenantApi.post('/resources', contract.body('ResourceInput'), async (ctx) => {
    const body = ctx.request.body as { id?: string; title: string; content: string; tags?: string[] };
    const tenant = await openTenant(ctx);
    const id = body.id ?? newId();
    const ts = clock.now();
    const existing = await tenant.get<Resource>(keys.resource(id));
    const resource: Resource = {
      id, tenant: tenant.tenantId, title: body.title, content: body.content, tags: body.tags ?? [],
      createdAt: existing?.value.createdAt ?? isoOf(ts), updatedAt: isoOf(ts),
    };
    const entry = await tenant.sealValue(keys.resource(id), resource, ts, identity.pod);
    await write(tenant, 'resource.put', ts, [entry]);
    ctx.status = 201;
    ctx.body = { ...resource, keyVersion: entry.kv };
  });

  tenantApi.get('/resources/:id', async (ctx) => {
    const id = assertObjectId(ctx.params.id);
    const tenant = await openTenant(ctx);
    const found = await tenant.get<Resource>(keys.resource(id));
    if (!found) throw notFound(`resource ${id} not found`);
    ctx.body = { ...found.value, keyVersion: found.stored.kv };
  });

  async function readEntity(tenant: OpenTenant, id: string) {
    // Entries, not assignment: a property named "__proto__" is data, not the object's prototype.
    const entries: Array<[string, unknown]> = [];
    let latest = 0;
    const prefix = keys.entityPrefix(id);
    for await (const { key, value, stored } of tenant.range<{ value: unknown }>(prefix)) {
      entries.push([key.slice(prefix.length), value.value]);
      latest = Math.max(latest, stored.ts);
    }
    const properties = Object.fromEntries(entries);
    if (latest === 0) return undefined;
    return { id, tenant: tenant.tenantId, properties, updatedAt: isoOf(latest) };
  }

  tenantApi.get('/entities/:id', async (ctx) => {
    const id = assertObjectId(ctx.params.id);
    const entity = await readEntity(await openTenant(ctx), id);
    if (!entity) throw notFound(`entity ${id} not found`);
    ctx.body = entity;
  });

  tenantApi.put('/entities/:id', contract.body('EntityInput'), async (ctx) => {
    const id = assertObjectId(ctx.params.id);
    const { properties } = ctx.request.body as { properties: Record<string, unknown> };
    const tenant = await openTenant(ctx);
    const ts = clock.now();
    const entries = await Promise.all(Object.entries(properties).map(([name, value]) =>
      tenant.sealValue(keys.entityProperty(id, name), { value }, ts, identity.pod)));
    await write(tenant, 'entity.merge', ts, entries);
    ctx.body = await readEntity(tenant, id);
  });

  tenantApi.get('/moments', async (ctx) => {
    const limit = limitParam(ctx);
    const tenant = await openTenant(ctx);
    const items: Moment[] = [];
    for await (const { value } of tenant.range<Moment>(keys.momentPrefix)) items.push(value);
    items.sort((a, b) => b.at.localeCompare(a.at));
    ctx.body = { items: items.slice(0, limit) };
  });

  tenantApi.post('/moments', contract.body('MomentInput'), async (ctx) => {
    const body = ctx.request.body as { kind: string; text: string };
    const tenant = await openTenant(ctx);
    const ts = clock.now();
    const moment: Moment = { id: newId(), tenant: tenant.tenantId, kind: body.kind, text: body.text, at: isoOf(ts) };
    await write(tenant, 'moment.add', ts, [await tenant.sealValue(keys.moment(moment.id), moment, ts, identity.pod)]);
    ctx.status = 201;
    ctx.body = moment;
  });

  tenantApi.post('/chat', contract.body('ChatInput'), async (ctx) => {
    const { message } = ctx.request.body as { message: string };
    const tenant = await openTenant(ctx);
    const terms = tokenize(message);
    const top = (await tenant.searchResources<Resource>(terms, 3)).map((f) => ({ id: f.value.id, title: f.value.title }));
    ctx.body = {
      reply: top.length ? `From your resources: ${top.map((r) => r.title).join('; ')}` : 'None of your resources mention that yet.',
      sources: top.map((r) => r.id),
    };
  });

  tenantApi.post('/sync', async (ctx) => {
    // The body is optional; when there is one (by length or chunked) it must keep the schema.
    const body = (ctx.request.body ?? {}) as unknown;
    const validate = contract.schema('SyncInput');
    if (!validate(body)) throw new HttpError(400, 'invalid_body', `body ${validate.errors?.[0]?.message ?? 'is invalid'}`);
    const timeoutMs = (body as { timeoutMs?: number }).timeoutMs ?? 5000;
    ctx.body = { pod: identity.pod, ...(await replicator.barrier(timeoutMs)) };
  });

  return [tenantApi, ...keyRouters(deps)];
}
