import { performance } from 'node:perf_hooks';
import { SERVED_BY_HEADER, TENANT_HEADER, ZONE_HEADER } from './names.ts';

/**
 * The HTTP client of the suite, the CLI, the bench and the project's own tests: plain fetch
 * (Node's undici), JSON in and out, the identity headers every Percolate response carries,
 * and the one way a request is sent as a tenant.
 *
 *   const c = new TenantClient(loadBalancerUrl, 'tenant-001', token);
 *   await c.request('GET', '/api/v1/resources?limit=1');             // throws on a failed connection
 *   await c.send({ method: 'GET', path: '/api/v1/resources' }, { timeoutMs: 5000 }); // never throws: an outcome
 *   fetch(url, { headers: tenantHeaders({ tenant, token }) });        // any other client (undici Pool, node:http)
 */

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
  /** `x-served-by`: the pod that answered. */
  servedBy: string | null;
  /** `x-zone`: the zone of that pod. */
  zone: string | null;
}

export type HttpInit = RequestInit & { json?: unknown };

export async function http<T = any>(url: string, init: HttpInit = {}): Promise<HttpResult<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(url, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: body as T, text, servedBy: res.headers.get(SERVED_BY_HEADER), zone: res.headers.get(ZONE_HEADER) };
}

/**
 * Who a request is sent as: a bearer token, and the tenant `X-Tenant-ID` names. The tenant
 * is left out where the service takes it from the token alone (the gateway), and for an
 * admin token that reaches no tenant's data.
 */
export interface Credentials { token: string; tenant?: string }

/** A tenant's credentials, as the database API wants them: both the token and the tenant. */
export interface TenantCredentials extends Credentials { tenant: string }

/**
 * The headers that say who a request is from: `Authorization: Bearer <token>` and, when a
 * tenant is named, `X-Tenant-ID`. The one place they are spelled; `extra` comes last, so a
 * test that means to send another tenant's id (or none) says so there.
 */
export function tenantHeaders(who: Credentials, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${who.token}`, ...(who.tenant === undefined ? {} : { [TENANT_HEADER]: who.tenant }), ...extra };
}

/** A path (as given: a test may mean its odd bytes) on a base URL: a load balancer, a gateway, `http://<pod address>`. */
export function urlOf(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path.startsWith('/') ? '' : '/'}${path}`;
}

export interface SendRequest {
  method: string;
  path: string;
  json?: unknown;
  /** A body of its own (FormData, a stream); sent half-duplex. */
  body?: RequestInit['body'];
  headers?: Record<string, string>;
}

export interface SendOptions {
  /** Bound on the whole request; past it the request is aborted. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One request as `who` to `baseUrl`: the token and tenant headers, the URL, the body. Throws when no answer came. */
export function sendRequest<T = any>(baseUrl: string, who: Credentials, req: SendRequest, opts: SendOptions = {}): Promise<HttpResult<T>> {
  const signals = [opts.signal, opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)))].filter((s): s is AbortSignal => s !== undefined);
  return http<T>(urlOf(baseUrl, req.path), {
    method: req.method,
    headers: tenantHeaders(who, req.headers),
    ...(signals.length ? { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) } : {}),
    ...(req.json !== undefined ? { json: req.json } : {}),
    ...(req.body !== undefined ? { body: req.body, duplex: 'half' } as RequestInit : {}),
  });
}

/** How one request ended: an HTTP status, or a transport failure by its code. */
export type RequestOutcome = { status: number } | { failure: string };

export interface Sent<T = unknown> {
  outcome: RequestOutcome;
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
 * One request as `who`, timed and never thrown: a failure is an outcome. What a traffic
 * driver sends (the suite's background traffic, the CLI's commands).
 */
export async function sendAs<T = unknown>(
  baseUrl: string, who: Credentials, req: SendRequest, opts: { timeoutMs: number; signal?: AbortSignal; startedAt?: number },
): Promise<Sent<T>> {
  const startedAt = opts.startedAt ?? performance.now();
  const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)));
  try {
    const result = await sendRequest<T>(baseUrl, who, req, { signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout });
    return { outcome: { status: result.status }, ms: performance.now() - startedAt, pod: result.servedBy, result };
  } catch (err) {
    return { outcome: { failure: failureOf(err, timeout.aborted) }, ms: performance.now() - startedAt, pod: null };
  }
}

export interface TenantRequestOptions extends SendOptions {
  /** Headers on top of the tenant's (they win: a test that means to send another tenant's id says so here). */
  headers?: Record<string, string>;
}

/** A tenant's view of one endpoint (a pod, the load balancer, the gateway). */
export class TenantClient {
  constructor(readonly baseUrl: string, readonly tenantId: string, readonly token: string, private readonly defaults: SendOptions = {}) {}

  /** Who this client sends as. */
  get credentials(): TenantCredentials { return { tenant: this.tenantId, token: this.token }; }

  /** One request; throws when no answer came (connection refused, timeout). */
  request<T = any>(method: string, path: string, json?: unknown, opts: TenantRequestOptions = {}): Promise<HttpResult<T>> {
    const { headers, ...send } = opts;
    return sendRequest<T>(this.baseUrl, this.credentials, { method, path, json, headers }, { ...this.defaults, ...send });
  }

  /** One request, timed and never thrown (see `sendAs`). */
  send<T = unknown>(req: SendRequest, opts: { timeoutMs: number; signal?: AbortSignal; startedAt?: number }): Promise<Sent<T>> {
    return sendAs<T>(this.baseUrl, this.credentials, req, opts);
  }

  /** The same tenant and token against another endpoint. */
  at(baseUrl: string): TenantClient {
    return new TenantClient(baseUrl, this.tenantId, this.token, this.defaults);
  }
}
