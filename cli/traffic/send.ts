import { performance } from 'node:perf_hooks';
import { type HttpResult, http } from '../../suites/lib/http.ts';
import type { Outcome } from './stats.ts';

export interface TenantIdentity { tenant: string; token: string }

export interface Sent<T = unknown> {
  outcome: Outcome;
  /** From `startedAt` (the due time in an open model) to the end of the answer. */
  ms: number;
  pod: string | null;
  result?: HttpResult<T>;
}

/** A transport failure by what a person would look up: the errno, "timeout" or "aborted". */
export function failureOf(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'AbortError') return 'aborted';
  if (e?.name === 'SyntaxError') return 'invalid-json';
  return e?.cause?.code ?? e?.code ?? e?.cause?.name ?? e?.name ?? 'error';
}

/**
 * One request as the tenant, with its token and `X-Tenant-ID`, through whatever base URL
 * (the load balancer, or one pod's address). Never throws: a failure is an outcome.
 */
export async function sendAs<T = unknown>(
  base: string, who: TenantIdentity,
  req: { method: string; path: string; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> },
  opts: { timeoutMs: number; signal?: AbortSignal; startedAt?: number },
): Promise<Sent<T>> {
  const startedAt = opts.startedAt ?? performance.now();
  const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)));
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const result = await http<T>(`${base}${req.path}`, {
      method: req.method, signal,
      headers: { authorization: `Bearer ${who.token}`, 'x-tenant-id': who.tenant, ...req.headers },
      ...(req.json !== undefined ? { json: req.json } : {}),
      ...(req.body !== undefined ? { body: req.body, duplex: 'half' } as RequestInit : {}),
    });
    return { outcome: { status: result.status }, ms: performance.now() - startedAt, pod: result.servedBy, result };
  } catch (err) {
    return { outcome: { failure: failureOf(err, timeout.aborted) }, ms: performance.now() - startedAt, pod: null };
  }
}
