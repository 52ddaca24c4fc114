import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import { REQUEST_ID_HEADER } from '../shared/headers.ts';

/**
 * The request a key access happens for. Held in async context so that the key ring can
 * name the request on every audit line without each store and cache passing it along;
 * accesses outside any request (a rotation seen on the KV watch) say what caused them.
 */
export interface AuditContext { requestId: string; principal: string }

export const auditContext = new AsyncLocalStorage<AuditContext>();

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's `X-Request-ID` when well formed, else makes one; echoes it on the response. */
export function withRequestId() {
  return async (ctx: Context, next: Next) => {
    const given = ctx.get(REQUEST_ID_HEADER);
    const requestId = REQUEST_ID.test(given) ? given : randomBytes(9).toString('base64url');
    ctx.set(REQUEST_ID_HEADER, requestId);
    await auditContext.run({ requestId, principal: 'anonymous' }, next);
  };
}

export function currentAudit(): AuditContext | undefined {
  return auditContext.getStore();
}

/** Names the authenticated caller on the audit lines of the rest of the request. */
export function principalIs(of: (ctx: Context) => string) {
  return async (ctx: Context, next: Next) => {
    const store = auditContext.getStore();
    if (store) store.principal = of(ctx);
    await next();
  };
}
