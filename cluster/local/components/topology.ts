import type { NodeInfo, ZoneInfo } from '../../target.ts';

/** Three zones of two nodes: enough for zone spread, a zone outage and a node drain to mean something. */
export const DEFAULT_ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;
export const NODES_PER_ZONE = 2;

interface NodeState { name: string; zone: string; cordoned: boolean }

/** What the scheduler needs to know about a pod to place the next one. */
export interface Placed { workload: string; node: string }

/**
 * Emulated nodes and zones, and the scheduler's placement: spread a workload's pods over
 * zones (topologySpreadConstraints on topology.kubernetes.io/zone, maxSkew 1), then over
 * the nodes of the chosen zone, never on a cordoned node or in a failed zone.
 */
export class Topology {
  private readonly nodes: NodeState[];
  private readonly failedZones = new Set<string>();

  constructor(zones: readonly string[] = DEFAULT_ZONES, nodesPerZone = NODES_PER_ZONE) {
    this.nodes = zones.flatMap((zone) => Array.from({ length: nodesPerZone }, (_, i) => ({
      name: `node-${zone.replace(/^zone-/, '')}${i + 1}`, zone, cordoned: false,
    })));
  }

  get zones(): string[] { return [...new Set(this.nodes.map((n) => n.zone))]; }

  zoneOf(node: string): string {
    const n = this.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`no node "${node}"`);
    return n.zone;
  }

  hasNode(node: string): boolean { return this.nodes.some((n) => n.name === node); }
  hasZone(zone: string): boolean { return this.nodes.some((n) => n.zone === zone); }
  isZoneFailed(zone: string): boolean { return this.failedZones.has(zone); }
  nodeReady(node: string): boolean { return !this.failedZones.has(this.zoneOf(node)); }

  setCordoned(node: string, cordoned: boolean): void {
    const n = this.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`no node "${node}"`);
    n.cordoned = cordoned;
  }

  setZoneFailed(zone: string, failed: boolean): void {
    if (!this.hasZone(zone)) throw new Error(`no zone "${zone}"`);
    if (failed) this.failedZones.add(zone);
    else this.failedZones.delete(zone);
  }

  private schedulable(): NodeState[] {
    return this.nodes.filter((n) => !n.cordoned && !this.failedZones.has(n.zone));
  }

  /**
   * The node for a new pod of `workload`, given the pods that exist: the zone with the fewest
   * of the workload's pods, then the node there with the fewest pods of any workload. Ties
   * go to the first in order, so placement is deterministic for a given history.
   */
  place(workload: string, existing: Placed[]): string {
    const candidates = this.schedulable();
    if (candidates.length === 0) throw new Error('no schedulable node: every node is cordoned or in a failed zone');
    const ofWorkload = (p: Placed) => p.workload === workload;
    const count = (pred: (p: Placed) => boolean) => existing.filter(pred).length;
    // Lexicographic scores, lowest wins: the spread constraint first, then overall balance.
    const better = (a: number[], b: number[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
      return false;
    };
    const zoneScore = (z: string) => [count((p) => ofWorkload(p) && this.zoneOf(p.node) === z), count((p) => this.zoneOf(p.node) === z)];
    const zones = [...new Set(candidates.map((n) => n.zone))];
    const zone = zones.reduce((best, z) => (better(zoneScore(z), zoneScore(best)) ? z : best));
    const nodeScore = (n: string) => [count((p) => ofWorkload(p) && p.node === n), count((p) => p.node === n)];
    return candidates.filter((n) => n.zone === zone).reduce((best, n) => (better(nodeScore(n.name), nodeScore(best.name)) ? n : best)).name;
  }

  nodeInfos(): NodeInfo[] {
    return this.nodes.map((n) => ({ name: n.name, zone: n.zone, cordoned: n.cordoned, ready: !this.failedZones.has(n.zone) }));
  }

  zoneInfos(): ZoneInfo[] {
    return this.zones.map((z) => ({ name: z, nodes: this.nodes.filter((n) => n.zone === z).map((n) => n.name), failed: this.failedZones.has(z) }));
  }
}
