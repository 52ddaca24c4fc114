import { type LocalityDistribution, localityMatches } from '../../manifests/mesh.ts';

/** The region of the local nodes (their topology.kubernetes.io/region): the one the manifests' localities name. */
export const LOCAL_REGION = 'region-1';

/**
 * HAProxy's largest server weight. Equal servers all get it: `hash-type consistent` puts
 * 16 points per unit of weight on the ring, and at weight 1 (48 points for 3 pods) the
 * arcs are visibly uneven.
 */
export const MAX_WEIGHT = 256;

export interface PlacedPod { name: string; zone: string }

/** The distribute rule that applies to clients in `zone` (Istio takes the first that matches), if any. */
export function ruleFor(rules: readonly LocalityDistribution[], zone: string, region = LOCAL_REGION): LocalityDistribution | undefined {
  return rules.find((r) => localityMatches({ region, zone }, r.from));
}

/**
 * Each ready pod's share (0..1) of the hash space for a client under `rule`, as Envoy's
 * ring hash builds it from Istio's locality weights: a `to` entry's percent is divided
 * among the pods it matches (each pod goes to the first entry that matches its zone);
 * pods no entry names get nothing; entries that match no pod drop out and the others
 * grow in proportion. Without a rule, every pod gets an equal share.
 */
export function podShares(rule: LocalityDistribution | undefined, pods: readonly PlacedPod[], region = LOCAL_REGION): Map<string, number> {
  const shares = new Map<string, number>();
  if (!rule) {
    for (const p of pods) shares.set(p.name, 1 / pods.length);
    return shares;
  }
  const groups = rule.to.map(([locality, percent]) => ({ percent, pods: [] as string[], locality }));
  for (const p of pods) {
    const group = groups.find((g) => localityMatches({ region, zone: p.zone }, g.locality));
    if (group) group.pods.push(p.name);
    else shares.set(p.name, 0);
  }
  const total = groups.filter((g) => g.pods.length > 0).reduce((sum, g) => sum + g.percent, 0);
  for (const g of groups) for (const name of g.pods) shares.set(name, g.percent / total / g.pods.length);
  return shares;
}

/**
 * HAProxy weights (0–256) that realise the shares: the largest share gets 256, the others
 * in proportion, never below 1 unless the share is 0 (a zone the rule sends nothing).
 */
export function weightsFor(shares: ReadonlyMap<string, number>): Map<string, number> {
  const top = Math.max(0, ...shares.values());
  return new Map([...shares].map(([name, share]) => [name, share <= 0 || top <= 0 ? 0 : Math.max(1, Math.round((MAX_WEIGHT * share) / top))]));
}
