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

/**
 * The most requests a client sends to the destination at once (`connectionPool.http.
 * http2MaxRequests`, which Istio applies to HTTP/1.1 as well); undefined when the rule sets none.
 */
export function maxActiveRequests(m: RenderedManifests, destinationRuleName: string): number | undefined {
  const value: unknown = findObject(m, 'DestinationRule', destinationRuleName).spec?.trafficPolicy?.connectionPool?.http?.http2MaxRequests;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`DestinationRule/${destinationRuleName}: connectionPool.http.http2MaxRequests must be a positive integer`);
  return value;
}

/**
 * One rule of a DestinationRule's `localityLbSetting.distribute`: clients in `from` send
 * each locality of `to` its weight (percent) of their requests. Localities are
 * `region/zone/sub-zone`; `*` matches any value and may only end a locality.
 */
export interface LocalityDistribution {
  from: string;
  /** Locality → percent, in the manifest's order; the percents sum to 100. */
  to: Array<[locality: string, percent: number]>;
}

/** Istio's rule for a locality string (its own validation): no empty part, one `*` at most, and only at the end. */
export function checkLocality(locality: string): string | undefined {
  const stars = locality.split('*').length - 1;
  if (stars > 1 || (stars === 1 && !locality.endsWith('*'))) return `locality "${locality}": a wildcard '*' may appear once, at the end`;
  const parts = locality.split('/');
  if (parts.length > 3 || parts.some((p) => p === '')) return `locality "${locality}": must be region[/zone[/sub-zone]] with no empty part`;
  return undefined;
}

/** Whether a workload's locality is one a rule names (Istio's LocalityMatch: `*` or a missing part matches anything below the region). */
export function localityMatches(locality: { region: string; zone: string; subZone?: string }, rule: string): boolean {
  const [region, zone, subZone] = rule.split('/');
  return (region === '*' || region === locality.region)
    && (zone === undefined || zone === '*' || zone === locality.zone)
    && (subZone === undefined || subZone === '*' || subZone === (locality.subZone ?? ''));
}

/**
 * The `distribute` rules of a DestinationRule (empty without any), checked as Istio's
 * admission checks them: valid localities, every percent from 1 to 100, 100 per rule.
 */
export function localityDistribution(m: RenderedManifests, destinationRuleName: string): LocalityDistribution[] {
  const where = `DestinationRule/${destinationRuleName}`;
  const setting = findObject(m, 'DestinationRule', destinationRuleName).spec?.trafficPolicy?.loadBalancer?.localityLbSetting;
  const raw: unknown = setting?.distribute ?? [];
  if (!Array.isArray(raw)) throw new Error(`${where}: localityLbSetting.distribute must be a list`);
  return raw.map((rule: { from?: unknown; to?: unknown }, i) => {
    if (typeof rule.from !== 'string') throw new Error(`${where}: distribute[${i}].from must be a locality`);
    const to = Object.entries((rule.to ?? {}) as Record<string, unknown>);
    const problems = [rule.from, ...to.map(([l]) => l)].map(checkLocality).filter((p): p is string => p !== undefined);
    const bad = to.filter(([, w]) => !Number.isInteger(w) || (w as number) < 1 || (w as number) > 100);
    const sum = to.reduce((acc, [, w]) => acc + Number(w), 0);
    if (bad.length) problems.push(`weights must be whole percents from 1 to 100 (${bad.map(([l, w]) => `${l}: ${String(w)}`).join(', ')})`);
    else if (sum !== 100) problems.push(`weights sum to ${sum}, not 100`);
    if (problems.length) throw new Error(`${where}: distribute[${i}]: ${problems.join('; ')}`);
    return { from: rule.from, to: to as Array<[string, number]> };
  });
}
