import type { K8sObject, RenderedManifests } from './types.ts';

/**
 * What the NetworkPolicies in the manifests allow, evaluated the way the
 * Kubernetes API defines it: a pod selected by no policy of a direction is open in
 * that direction; once selected, only a rule of a selecting policy admits a flow; a
 * flow needs both the source's egress and the destination's ingress. The unit test
 * asserts the architecture's flows with it, and a runtime without a CNI can enforce
 * the same decisions.
 */

export interface PodPeer { namespace: string; labels: Record<string, string>; ip?: string }
/** An address outside the pod network (the API server, the internet). */
export interface AddressPeer { ip: string }
export type NetworkPeer = PodPeer | AddressPeer;

export interface Flow {
  from: NetworkPeer;
  to: NetworkPeer;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  /** The destination container port's name, for policies that name ports. */
  portName?: string;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}
interface PolicyPeer { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: { cidr: string; except?: string[] } }
interface PolicyPort { protocol?: string; port?: number | string; endPort?: number }
interface PolicyRule { peers?: PolicyPeer[]; ports?: PolicyPort[] }

const isPod = (peer: NetworkPeer): peer is PodPeer => 'namespace' in peer;

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok = operator === 'In' ? has && values.includes(labels[key] as string)
      : operator === 'NotIn' ? !has || !values.includes(labels[key] as string)
      : operator === 'Exists' ? has
      : !has;
    if (!ok) return false;
  }
  return true;
}

function ipv4(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipv4(base) / size) * size;
  const value = ipv4(ip);
  return value >= start && value < start + size;
}

/** Namespace labels: the manifests' Namespaces, plus the name label Kubernetes sets on every namespace. */
function namespaceLabels(m: RenderedManifests, namespace: string, extra: Record<string, Record<string, string>>): Record<string, string> {
  const declared = m.objects.find((o) => o.kind === 'Namespace' && o.metadata.name === namespace)?.metadata.labels ?? {};
  return { ...declared, ...(extra[namespace] ?? {}), 'kubernetes.io/metadata.name': namespace };
}

function peerMatches(m: RenderedManifests, policyNamespace: string, rulePeer: PolicyPeer, peer: NetworkPeer, extra: Record<string, Record<string, string>>): boolean {
  if (rulePeer.ipBlock) {
    if (peer.ip === undefined) return false;
    return inCidr(peer.ip, rulePeer.ipBlock.cidr) && !(rulePeer.ipBlock.except ?? []).some((c) => inCidr(peer.ip as string, c));
  }
  if (!isPod(peer)) return false;
  if (rulePeer.namespaceSelector) {
    if (!selectorMatches(rulePeer.namespaceSelector, namespaceLabels(m, peer.namespace, extra))) return false;
  } else if (peer.namespace !== policyNamespace) {
    return false;
  }
  return selectorMatches(rulePeer.podSelector, peer.labels);
}

function portMatches(ports: PolicyPort[] | undefined, flow: Flow): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== (flow.protocol ?? 'TCP')) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return p.port === flow.portName;
    return p.endPort === undefined ? p.port === flow.port : flow.port >= p.port && flow.port <= p.endPort;
  });
}

function policyTypes(policy: K8sObject): string[] {
  if (Array.isArray(policy.spec?.policyTypes)) return policy.spec.policyTypes as string[];
  return policy.spec?.egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

function allowedAt(m: RenderedManifests, flow: Flow, direction: 'Ingress' | 'Egress', extra: Record<string, Record<string, string>>): boolean {
  const subject = direction === 'Ingress' ? flow.to : flow.from;
  const other = direction === 'Ingress' ? flow.from : flow.to;
  if (!isPod(subject)) return true; // outside the pod network: no policy governs it
  const selecting = m.objects.filter((o) => o.kind === 'NetworkPolicy'
    && (o.metadata.namespace ?? 'default') === subject.namespace
    && selectorMatches(o.spec?.podSelector, subject.labels)
    && policyTypes(o).includes(direction));
  if (selecting.length === 0) return true;
  return selecting.some((policy) => {
    const rules: Array<{ from?: PolicyPeer[]; to?: PolicyPeer[]; ports?: PolicyPort[] }> =
      (direction === 'Ingress' ? policy.spec?.ingress : policy.spec?.egress) ?? [];
    return rules.some((raw) => {
      const rule: PolicyRule = { peers: direction === 'Ingress' ? raw.from : raw.to, ports: raw.ports };
      const peerOk = !rule.peers || rule.peers.length === 0
        || rule.peers.some((p) => peerMatches(m, subject.namespace, p, other, extra));
      return peerOk && portMatches(rule.ports, flow);
    });
  });
}

/**
 * Whether the manifests' NetworkPolicies let `flow` through. `namespaceLabels`
 * adds labels of namespaces the manifests do not declare (say, a mesh namespace's
 * istio-injection label).
 */
export function flowAllowed(m: RenderedManifests, flow: Flow, namespaceLabels: Record<string, Record<string, string>> = {}): boolean {
  return allowedAt(m, flow, 'Egress', namespaceLabels) && allowedAt(m, flow, 'Ingress', namespaceLabels);
}
