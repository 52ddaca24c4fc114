/**
 * The HTTP client of the suite and of the project's own tests: plain fetch (Node's
 * undici), JSON in and out, and the identity headers every Percolate response carries.
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

export async function http<T = any>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<HttpResult<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(url, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: body as T, text, servedBy: res.headers.get('x-served-by'), zone: res.headers.get('x-zone') };
}

/** A tenant's view of one database endpoint (a node, or the load balancer). */
export class TenantClient {
  constructor(readonly baseUrl: string, readonly tenantId: string, private readonly token: string) {}

  request<T = any>(method: string, path: string, json?: unknown, extraHeaders: Record<string, string> = {}): Promise<HttpResult<T>> {
    return http<T>(`${this.baseUrl}${path}`, {
      method, json,
      headers: { authorization: `Bearer ${this.token}`, 'x-tenant-id': this.tenantId, ...extraHeaders },
    });
  }

  /** The same tenant and token against another endpoint. */
  at(baseUrl: string): TenantClient {
    return new TenantClient(baseUrl, this.tenantId, this.token);
  }
}
