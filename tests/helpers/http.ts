import { expect } from 'vitest';
import type { HttpResult } from '../../lib/http.ts';
import type { Contract } from '../../reference-services/shared/contract.ts';

/** Asserts that a real response keeps the OpenAPI contract of its operation. */
export function expectContract(contract: Contract, method: string, pathTemplate: string, res: HttpResult): void {
  expect(contract.checkResponse(method, pathTemplate, res.status, res.body), `${method} ${pathTemplate} → ${res.status} ${res.text.slice(0, 300)}`).toEqual([]);
}
