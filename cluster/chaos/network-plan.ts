import { NAMESPACE, NAME_LABEL, NATS, PART_OF, PART_OF_LABEL } from '../../lib/names.ts';
import type { Flow, NetworkFault } from '../local/network/sidecar.ts';
import { type Candidate, UnsupportedOnLocal } from './selector.ts';
import type { Direction, NetworkChaosSpec } from './types.ts';
import { parsePercent, parseRate, parseSimpleDuration } from './units.ts';

/**
 * Where a NetworkChaos lands on the local target. On a cluster Chaos Mesh shapes packets on
 * a pod's interface, filtered by peer address; locally every byte of a pod crosses one of
 * its sidecar's links, and each link has a known far end:
 *
 *   inbound  ← the load balancer (and Prometheus, and tests calling the pod's address)
 *   nats     → NATS
 *   lb       → the load balancer, and through it every database pod (workers only)
 *
 * "Packets from A to B" becomes the links of A's pods that reach B, flow `from-pod`, and the
 * links of B's pods that A reaches (a component such as NATS has no sidecar of its own:
 * packets from NATS are the `to-pod` flow of every pod's `nats` link).
 */

/** Components of the local runtime that a selector can name as if they were pods. */
export type ComponentName = 'nats' | 'load-balancer';

export type Endpoint = { kind: 'pod'; name: string } | { kind: 'component'; name: ComponentName };

/**
 * The components as pods of a cluster would be selected: NATS is the StatefulSet of
 * manifests/base/percolate/nats (its pod template's labels), the load balancer is Istio's
 * ingress gateway.
 */
export const COMPONENT_CANDIDATES: readonly (Candidate & { component: ComponentName })[] = [
  { component: 'nats', name: `${NATS}-0`, namespace: NAMESPACE, labels: { [NAME_LABEL]: NATS, 'app.kubernetes.io/component': 'messaging', [PART_OF_LABEL]: PART_OF }, phase: 'Running' },
  { component: 'load-balancer', name: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' }, phase: 'Running' },
];

/** externalTargets the local target knows: NATS by its Service names (`nats`, `nats.percolate.svc.cluster.local`, `nats-0.nats-headless…`), with or without a port. */
export function externalTargetComponent(target: string): ComponentName | undefined {
  const host = target.trim().toLowerCase().replace(/:\d+$/, '');
  return /^nats(-headless|-\d+)?$/.test(host.split('.')[0] ?? '') ? 'nats' : undefined;
}

/** One link of a pod's sidecar and what is at its far end. */
export interface LinkEnds {
  link: string;
  components: ComponentName[];
  /** Pods reached through it (the database pods behind the load balancer). */
  pods: string[];
}

/** A fault on one link and flow of one pod's sidecar. */
export interface Placement { pod: string; link: string; flow: Flow }

type Side = Endpoint[] | 'any';

const isPod = (e: Endpoint): e is { kind: 'pod'; name: string } => e.kind === 'pod';

/**
 * The (pod, link, flow) triples that carry the packets the experiment names. Throws
 * UnsupportedOnLocal where a link would carry more than the experiment names (a worker
 * reaches every database pod through one load-balancer link: a fault towards some of them
 * only cannot be placed) or where no traffic flows between the two sets at all.
 */
export function placeNetworkFault(
  selected: Endpoint[],
  target: Endpoint[] | undefined,
  direction: Direction,
  pods: readonly string[],
  linksOf: (pod: string) => LinkEnds[],
): Placement[] {
  const out = new Map<string, Placement>();
  const add = (pod: string, link: string, flow: Flow) => out.set(`${pod}|${link}|${flow}`, { pod, link, flow });
  const B: Side = target ?? 'any';

  const reaches = (owner: string, l: LinkEnds, peers: Endpoint[]): boolean => {
    const podPeers = peers.filter(isPod).map((e) => e.name).filter((n) => l.pods.includes(n));
    const componentPeer = peers.some((e) => e.kind === 'component' && l.components.includes(e.name));
    if (podPeers.length && !componentPeer && podPeers.length < l.pods.length) {
      throw new UnsupportedOnLocal(`${owner} reaches ${l.pods.join(', ')} through one ${l.link} link: the local sidecar cannot shape traffic to ${podPeers.join(', ')} only; select all of them`);
    }
    return podPeers.length > 0 || componentPeer;
  };

  /** Packets from every endpoint of `from` to every endpoint of `to`. */
  const directed = (from: Side, to: Side) => {
    if (from === 'any') {
      if (to === 'any') return;
      for (const b of to) {
        if (isPod(b)) for (const l of linksOf(b.name)) add(b.name, l.link, 'to-pod');
        else for (const p of pods) for (const l of linksOf(p)) if (l.components.includes(b.name)) add(p, l.link, 'from-pod');
      }
      return;
    }
    for (const a of from) {
      if (isPod(a)) {
        for (const l of linksOf(a.name)) if (to === 'any' || reaches(a.name, l, to)) add(a.name, l.link, 'from-pod');
      } else {
        const receivers = to === 'any' ? [...pods] : to.filter(isPod).map((e) => e.name);
        for (const p of receivers) for (const l of linksOf(p)) if (l.components.includes(a.name)) add(p, l.link, 'to-pod');
      }
    }
    // Replies towards a pod that initiated the connection (the database answering a worker).
    if (to !== 'any') for (const b of to.filter(isPod)) for (const l of linksOf(b.name)) if (reaches(b.name, l, from)) add(b.name, l.link, 'to-pod');
  };

  if (direction === 'to' || direction === 'both') directed(selected, B);
  if (direction === 'from' || direction === 'both') directed(B, selected);
  return [...out.values()];
}

/** The sidecar fault a NetworkChaos action stands for. */
export function faultOf(spec: NetworkChaosSpec): NetworkFault {
  const fault: NetworkFault = {};
  const { action } = spec;
  if (action === 'duplicate' || action === 'corrupt' || (action === 'netem' && (spec.duplicate || spec.corrupt))) {
    throw new UnsupportedOnLocal(`${spec.duplicate || action === 'duplicate' ? 'duplicate' : 'corrupt'}: the local sidecar proxies TCP streams, where duplicated or corrupted packets never reach the application; use loss`);
  }
  if (action === 'delay' || (action === 'netem' && spec.delay)) {
    const d = spec.delay!;
    if (d.reorder) throw new UnsupportedOnLocal('delay.reorder: a TCP stream is delivered in order, so the local sidecar keeps order');
    fault.delayMs = parseSimpleDuration(d.latency);
    if (d.jitter) fault.jitterMs = parseSimpleDuration(d.jitter);
    if (d.correlation) fault.correlation = parsePercent(d.correlation);
  }
  if (action === 'loss' || (action === 'netem' && spec.loss)) {
    fault.loss = parsePercent(spec.loss!.loss);
    if (spec.loss!.correlation) fault.lossCorrelation = parsePercent(spec.loss!.correlation);
  }
  if (action === 'bandwidth') fault.bandwidthBytesPerSecond = parseRate(spec.bandwidth!.rate);
  // iptables DROP, as Chaos Mesh partitions: connections stall rather than being refused.
  if (action === 'partition') fault.partition = 'blackhole';
  return fault;
}

/**
 * Several experiments on the same link and flow add up, as stacked netem settings would:
 * delays and jitters add, losses compound, the tightest bandwidth wins, a partition wins.
 */
export function mergeFaults(faults: readonly NetworkFault[]): NetworkFault | undefined {
  if (faults.length === 0) return undefined;
  if (faults.length === 1) return { ...faults[0] };
  const merged: NetworkFault = {};
  const sum = (key: 'delayMs' | 'jitterMs') => faults.reduce((s, f) => s + (f[key] ?? 0), 0);
  const max = (key: 'correlation' | 'lossCorrelation' | 'retransmitMs') => Math.max(...faults.map((f) => f[key] ?? 0));
  if (sum('delayMs')) merged.delayMs = sum('delayMs');
  if (sum('jitterMs')) merged.jitterMs = sum('jitterMs');
  if (max('correlation')) merged.correlation = max('correlation');
  const kept = faults.reduce((k, f) => k * (1 - (f.loss ?? 0)), 1);
  if (kept < 1) merged.loss = 1 - kept;
  if (max('lossCorrelation')) merged.lossCorrelation = max('lossCorrelation');
  if (max('retransmitMs')) merged.retransmitMs = max('retransmitMs');
  const rates = faults.map((f) => f.bandwidthBytesPerSecond).filter((r): r is number => r !== undefined);
  if (rates.length) merged.bandwidthBytesPerSecond = Math.min(...rates);
  if (faults.some((f) => f.partition === 'refuse')) merged.partition = 'refuse';
  else if (faults.some((f) => f.partition === 'blackhole')) merged.partition = 'blackhole';
  return merged;
}
