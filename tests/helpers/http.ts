import { expect } from 'vitest';
import type { Contract } from '../../reference-services/shared/contract.ts';

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP request; the body is parsed as JSON when it is JSON. */
export async function http<T = any>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<HttpResult<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(url, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: body as T, text };
}

/** A tenant's view of one database endpoint (a node or the load balancer). */
export class TenantClient {
  constructor(readonly baseUrl: string, readonly tenantId: string, private readonly token: string) {}

  request<T = any>(method: string, path: string, json?: unknown, extraHeaders: Record<string, string> = {}): Promise<HttpResult<T>> {
    return http<T>(`${this.baseUrl}${path}`, {
      method, json,
      headers: { authorization: `Bearer ${this.token}`, 'x-tenant-id': this.tenantId, ...extraHeaders },
    });
  }

  at(baseUrl: string): TenantClient {
    return new TenantClient(baseUrl, this.tenantId, this.token);
  }
}

/** Asserts that a real response keeps the OpenAPI contract of its operation. */
export function expectContract(contract: Contract, method: string, pathTemplate: string, res: HttpResult): void {
  expect(contract.checkResponse(method, pathTemplate, res.status, res.body), `${method} ${pathTemplate} → ${res.status} ${res.text.slice(0, 300)}`).toEqual([]);
}
