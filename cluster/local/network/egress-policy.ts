import { connect } from 'node:net';
import { type PodPeer, flowAllowed } from '../../manifests/network-policy.ts';
import type { RenderedManifests } from '../../manifests/types.ts';
import type { OutboundDestination } from './sidecar.ts';

/**
 * A port a pod can connect to through its sidecar: the pods behind it (their labels, as
 * the policies select them), the port as the manifests name it, and where it is locally.
 */
export interface EgressDestination {
  /** The link's name in the sidecar: `nats`, `lb`, or `<workload>:<containerPort>`. */
  name: string;
  /** The workload behind it (our own links, `nats` and `lb`, name theirs too). */
  workload: string;
  to: PodPeer[];
  port: number;
  /** The local ports behind it now (looked up per connection: pods come and go). */
  resolve: () => number[];
}

const describe = (peer: PodPeer) => peer.labels['app.kubernetes.io/name'] ?? JSON.stringify(peer.labels);

/**
 * Why the rendered NetworkPolicies refuse `from` → `destination` (undefined: allowed).
 * A destination with several kinds of pods behind it (the database Service over every
 * tier) is refused if any of them refuses: the sidecar cannot know which one a
 * connection will reach before it is made.
 */
export function egressDenial(m: RenderedManifests, from: PodPeer, destination: Pick<EgressDestination, 'to' | 'port'>): string | undefined {
  const refusing = destination.to.filter((to) => !flowAllowed(m, { from, to, port: destination.port, protocol: 'TCP' }));
  if (refusing.length === 0) return undefined;
  const who = [...new Set(refusing.map((to) => to.labels['percolate.io/tier'] ? `${describe(to)} (${to.labels['percolate.io/tier']})` : describe(to)))];
  return `NetworkPolicy: ${describe(from)} → ${who.join(', ')}:${destination.port} is not allowed`;
}

/**
 * The outbound links of a pod's sidecar, each with the policies' verdict: on the local
 * target the sidecar is where a CNI's enforcement happens, so a flow the manifests forbid
 * is refused there — the pod's own links (NATS, the database) as much as any other.
 */
export function outboundLinks(m: RenderedManifests, from: PodPeer, destinations: readonly EgressDestination[]): Record<string, OutboundDestination> {
  return Object.fromEntries(destinations.map((d) => {
    const deniedBy = egressDenial(m, from, d);
    return [d.name, { resolve: d.resolve, ...(deniedBy ? { deniedBy } : {}) }];
  }));
}

/** What a connection attempt saw: bytes back, a reset or close before any, or silence until the bound. */
export type ConnectionOutcome = 'answered' | 'reset' | 'closed' | 'silent';

/**
 * Connects to 127.0.0.1:port, says something every server of ours answers (an HTTP request;
 * NATS sends its INFO before reading anything), and reports what came back first.
 */
export function probeConnection(port: number, timeoutMs: number): Promise<ConnectionOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let settled = false;
    const done = (outcome: ConnectionOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('silent'), timeoutMs);
    socket.once('connect', () => socket.write('GET /healthz HTTP/1.0\r\n\r\n'));
    socket.once('data', () => done('answered'));
    socket.once('error', () => done('reset'));
    socket.once('close', () => done('closed'));
  });
}
