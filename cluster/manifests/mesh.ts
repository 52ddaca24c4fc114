import { findObject } from './render.ts';
import type { RenderedManifests } from './types.ts';

/** The header a DestinationRule's ring hash is keyed on, lower-cased (HTTP header names are). */
export function hashHeader(m: RenderedManifests, destinationRuleName: string): string {
  const rule = findObject(m, 'DestinationRule', destinationRuleName);
  const header: unknown = rule.spec?.trafficPolicy?.loadBalancer?.consistentHash?.httpHeaderName;
  if (typeof header !== 'string' || header === '') {
    throw new Error(`DestinationRule/${destinationRuleName} does not hash on a header (spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName)`);
  }
  return header.toLowerCase();
}
