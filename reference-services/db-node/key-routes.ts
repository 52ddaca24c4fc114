import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { requireAdmin, requireTenantToken, tenantOf } from '../shared/auth.ts';
import { HttpError, notFound } from '../shared/errors.ts';
import { TENANT_HEADER } from '../shared/headers.ts';
import type { Secrets } from '../shared/secrets.ts';
import { assertTenantId } from '../shared/tenant-id.ts';
import { currentAudit, withRequestId } from './audit-context.ts';
import type { KeyRing } from './key-ring.ts';
import type { TenantStores } from './tenant-stores.ts';

export interface KeyRouteDeps {
  secrets: Secrets;
  keyRing: KeyRing;
  stores: TenantStores;
}

/**
 * Every refusal on a key path is an audit line (T1.4): who asked (the token's subject, or
 * nobody), for whose keys, what, and why not. The error still reaches the client as is.
 */
function auditRefusals(keyRing: KeyRing, action: string): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        const principal = currentAudit()?.principal ?? 'anonymous';
        keyRing.denied(String(ctx.params.tenant ?? 'unknown'), action, principal, err.message, err.status);
      }
      throw err;
    }
  };
}

function setPrincipal(principal: string): void {
  const ctx = currentAudit();
  if (ctx) ctx.principal = principal;
}

/**
 * A tenant reaches only its own keys: the tenant in the path must be the one its verified
 * token names — never the one a header claims — and `X-Tenant-ID`, when sent, must agree.
 */
function ownKeysOnly(): Middleware {
  return async (ctx: Context, next: Next) => {
    const { tenantId } = tenantOf(ctx);
    setPrincipal(`tenant:${tenantId}`);
    const target = assertTenantId(ctx.params.tenant, 'tenant');
    const header = ctx.get(TENANT_HEADER);
    if (header && header !== tenantId) throw new HttpError(403, 'tenant_mismatch', 'token tenant does not match X-Tenant-ID');
    if (target !== tenantId) throw new HttpError(403, 'forbidden', `a tenant can reach only its own keys (token names ${tenantId})`);
    await next();
  };
}

function adminOnly(secrets: Secrets): Middleware {
  const verify = requireAdmin(secrets);
  return async (ctx: Context, next: Next) => {
    await verify(ctx, async () => {
      setPrincipal('admin');
      await next();
    });
  };
}

const fingerprint = (key: Buffer) => createHash('sha256').update(key).digest('base64url').slice(0, 16);

/** The tenant's own key API and the operator's, both audited on every refusal. */
export function keyRouters(deps: KeyRouteDeps): Router[] {
  const { keyRing, stores } = deps;
  const tenantAuth = requireTenantToken(deps.secrets);

  async function versions(ctx: Context) {
    const tenantId = assertTenantId(ctx.params.tenant, 'tenant');
    const found = await keyRing.versions(tenantId);
    if (!found) throw notFound(`tenant ${tenantId} has no keys yet`);
    ctx.body = { tenant: tenantId, ...found };
  }
  async function rotate(ctx: Context, caller: string) {
    const tenantId = assertTenantId(ctx.params.tenant, 'tenant');
    const rotated = await keyRing.rotate(tenantId, caller);
    stores.refreshKeys(tenantId, rotated.revision, caller);
    ctx.body = { tenant: tenantId, keyVersion: rotated.keyVersion, versions: rotated.versions };
  }

  const tenantKeys = new Router({ prefix: '/api/v1/tenants' });
  tenantKeys.use(withRequestId());
  tenantKeys.get('/:tenant/keys', auditRefusals(keyRing, 'read'), tenantAuth, ownKeysOnly(), versions);
  tenantKeys.post('/:tenant/keys/rotate', auditRefusals(keyRing, 'rotate'), tenantAuth, ownKeysOnly(), (ctx) => rotate(ctx, 'tenant:rotate'));
  // Proves the caller can unwrap its current key (one audited unwrap) without handing out key material.
  tenantKeys.post('/:tenant/keys/unwrap', auditRefusals(keyRing, 'unwrap'), tenantAuth, ownKeysOnly(), async (ctx) => {
    const tenantId = assertTenantId(ctx.params.tenant, 'tenant');
    const keys = await keyRing.unwrapAll(tenantId, 'tenant:unwrap');
    ctx.body = { tenant: tenantId, keyVersion: keys.current, fingerprint: fingerprint(keys.keys.get(keys.current)!) };
  });

  const admin = new Router({ prefix: '/admin' });
  admin.use(withRequestId());
  admin.get('/tenants/:tenant/keys', auditRefusals(keyRing, 'read'), adminOnly(deps.secrets), versions);
  admin.post('/tenants/:tenant/keys/rotate', auditRefusals(keyRing, 'rotate'), adminOnly(deps.secrets), (ctx) => rotate(ctx, 'admin:rotate'));
  admin.get('/tenants/:tenant/raw', auditRefusals(keyRing, 'raw'), adminOnly(deps.secrets), async (ctx) => {
    const tenantId = assertTenantId(ctx.params.tenant, 'tenant');
    ctx.body = { tenant: tenantId, records: (await stores.raw(tenantId)).map(({ key, value }) => ({ key, ...value })) };
  });
  return [tenantKeys, admin];
}
