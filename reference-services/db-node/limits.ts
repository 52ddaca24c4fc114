import type { Context, Next } from 'koa';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { tenantOf } from '../shared/auth.ts';
import { HttpError } from '../shared/errors.ts';
import type { DbMetrics } from './metrics.ts';

export interface TenantLimitOptions {
  ratePerSecond: number;
  burst: number;
  maxConcurrency: number;
}

/**
 * Per-tenant rate and concurrency limits: a tenant that bursts past its share gets 429
 * with Retry-After, and the node's capacity stays with the others (T1.3).
 */
export function tenantLimits(options: TenantLimitOptions, metrics: DbMetrics) {
  // A window of burst/rate seconds holding `burst` points: sustained rate, bounded burst.
  const windowSeconds = Math.max(1, Math.round(options.burst / options.ratePerSecond));
  const rate = new RateLimiterMemory({ points: options.burst, duration: windowSeconds });
  const inFlight = new Map<string, number>();

  return async (ctx: Context, next: Next) => {
    const { tenantId } = tenantOf(ctx);
    try {
      await rate.consume(tenantId);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      metrics.rejected.inc({ tenant_id: tenantId, limit: 'rate' });
      const retryAfter = String(Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
      throw new HttpError(429, 'rate_limited', `tenant ${tenantId} is over its rate of ${options.ratePerSecond} requests/s`, { 'Retry-After': retryAfter });
    }
    const current = inFlight.get(tenantId) ?? 0;
    if (current >= options.maxConcurrency) {
      metrics.rejected.inc({ tenant_id: tenantId, limit: 'concurrency' });
      throw new HttpError(429, 'too_many_in_flight', `tenant ${tenantId} has ${current} requests in flight (limit ${options.maxConcurrency})`, { 'Retry-After': '1' });
    }
    inFlight.set(tenantId, current + 1);
    try {
      await next();
    } finally {
      const left = (inFlight.get(tenantId) ?? 1) - 1;
      if (left <= 0) inFlight.delete(tenantId);
      else inFlight.set(tenantId, left);
    }
  };
}
