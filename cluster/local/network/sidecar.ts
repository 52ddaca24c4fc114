import { once } from 'node:events';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { CorrelatedUniform } from './correlated-random.ts';

/**
 * The pod's sidecar: the place Envoy holds in the mesh. Every byte into the pod (from
 * tests, and from the load balancer whenever the inbound link has a fault: see
 * Pod.lbAddress) and out of it (to NATS, to the load balancer) crosses one of its TCP
 * proxies, so network chaos needs no privileges and no netem: delay, jitter, loss,
 * bandwidth and partitions are made here, per link and per direction.
 */

/** Bytes travelling towards the pod's process, or leaving it. */
export type Flow = 'to-pod' | 'from-pod';

export interface NetworkFault {
  /** Added to every chunk of the flow. */
  delayMs?: number;
  /** Uniform in ±jitterMs around delayMs (never below zero); order is kept, as in TCP. */
  jitterMs?: number;
  /** 0–1: how strongly each jitter draw follows the previous one (Chaos Mesh's delay.correlation; correlated-random.ts). */
  correlation?: number;
  /**
   * Probability that a chunk is lost. TCP hides loss as latency: the chunk arrives after a
   * retransmission timeout (`retransmitMs`, default 200 ms, Linux's minimum RTO).
   */
  loss?: number;
  /** 0–1: how strongly each loss draw follows the previous one: losses come in bursts (Chaos Mesh's loss.correlation). */
  lossCorrelation?: number;
  retransmitMs?: number;
  /** Shared by all connections of the link, as `tc tbf` shapes an interface. */
  bandwidthBytesPerSecond?: number;
  /**
   * `refuse`: connections are reset, new and existing (a rejecting firewall, a dead host
   * that answers RST). `blackhole`: nothing passes and nothing is refused — connections
   * stall until the partition ends (then the held bytes flow, as TCP retransmits them) or
   * until someone's timeout gives up.
   */
  partition?: 'refuse' | 'blackhole';
}

const NUMERIC_FAULT_FIELDS = ['delayMs', 'jitterMs', 'retransmitMs', 'bandwidthBytesPerSecond'] as const;

/** Checks a fault that came from outside (the control API, an experiment file); throws with the reason. */
export function parseFault(value: unknown): NetworkFault {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('fault must be an object');
  const raw = value as Record<string, unknown>;
  const known = new Set<string>([...NUMERIC_FAULT_FIELDS, 'loss', 'correlation', 'lossCorrelation', 'partition']);
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`unknown fault field(s) ${unknown.join(', ')}: expected ${[...known].join(', ')}`);
  const fault: NetworkFault = {};
  for (const key of NUMERIC_FAULT_FIELDS) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${key} must be a non-negative number`);
    if (key === 'bandwidthBytesPerSecond' && v === 0) throw new Error('bandwidthBytesPerSecond must be above 0 (use partition to stop traffic)');
    fault[key] = v;
  }
  for (const key of ['loss', 'correlation', 'lossCorrelation'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${key} must be a ${key === 'loss' ? 'probability' : 'number'} from 0 to 1`);
    fault[key] = v;
  }
  if (raw.partition !== undefined) {
    if (raw.partition !== 'refuse' && raw.partition !== 'blackhole') throw new Error('partition must be "refuse" or "blackhole"');
    fault.partition = raw.partition;
  }
  return fault;
}

/** Which links and flows a fault applies to. */
export interface FaultScope {
  /** `inbound`, `outbound` (every outbound link), one outbound link by name, or `all` (default). */
  link?: string;
  /** Default both. */
  flow?: Flow | 'both';
}

const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;

interface Queued { chunk: Buffer; due: number }

/** One direction of one connection: forwards chunks, applying the link's current fault. */
class Pump {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  private ended = false;
  private held = false;

  constructor(private readonly src: Socket, private readonly dst: Socket, private readonly link: ProxyLink, private readonly flow: Flow) {
    src.on('data', (chunk: Buffer) => this.onData(chunk));
    src.on('end', () => { this.ended = true; this.maybeEnd(); });
  }

  private onData(chunk: Buffer): void {
    const fault = this.link.faultFor(this.flow);
    if (!fault && this.queue.length === 0) {
      // The lean path: no fault, nothing queued.
      if (!this.dst.write(chunk)) {
        this.src.pause();
        this.dst.once('drain', () => this.src.resume());
      }
      return;
    }
    const now = Date.now();
    let due = now;
    if (fault) {
      due += this.link.sampleDelay(this.flow, fault);
      if (this.link.sampleLost(this.flow, fault)) due += fault.retransmitMs ?? 200;
      if (fault.bandwidthBytesPerSecond) due = Math.max(due, this.link.reserveBandwidth(this.flow, chunk.length, fault.bandwidthBytesPerSecond, now));
    }
    due = Math.max(due, this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > HIGH_WATER) this.src.pause();
    this.schedule();
  }

  /** Called when the link's fault changes: a lifted blackhole releases what it held. */
  refresh(): void {
    if (this.held && this.link.faultFor(this.flow)?.partition !== 'blackhole') {
      this.held = false;
      const now = Date.now();
      for (const q of this.queue) q.due = Math.min(q.due, now);
      this.src.resume();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.link.faultFor(this.flow)?.partition === 'blackhole') {
      // Stall: stop reading so the sender's window fills, as with a peer that stopped acking.
      this.held = true;
      this.src.pause();
      return;
    }
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.due - Date.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.dst.write(chunk);
    }
    if (this.queuedBytes < LOW_WATER && !this.held) this.src.resume();
    this.maybeEnd();
    this.schedule();
  }

  private maybeEnd(): void {
    if (this.ended && this.queue.length === 0 && !this.dst.destroyed) this.dst.end();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
  }
}

interface Connection { client: Socket; upstream: Socket; pumps: Pump[] }

/**
 * One listener of the sidecar and where it forwards to. For the inbound link the client
 * is outside and the upstream is the pod; for an outbound link the client is the pod.
 */
export class ProxyLink {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly faults: Partial<Record<Flow, NetworkFault>> = {};
  /** Wins over the faults of both flows while set (a zone outage), without erasing them. */
  private override: NetworkFault | undefined;
  /** netem keeps its correlation state per interface and direction: here per link and flow. */
  private readonly jitterDraws: Partial<Record<Flow, CorrelatedUniform>> = {};
  private readonly lossDraws: Partial<Record<Flow, CorrelatedUniform>> = {};
  private readonly bandwidthFree: Record<Flow, number> = { 'to-pod': 0, 'from-pod': 0 };
  port = 0;

  /** Where connections go: one address (port 0: nowhere yet)… */
  private target: { host: string; port: number };
  /** …or a Service's endpoints as they are at each new connection, taken in turn. */
  private resolveTargets: (() => number[]) | undefined;
  private nextTarget = 0;
  /**
   * Set when the pod's NetworkPolicies forbid the flow (why, in the policy's words): every
   * connection is reset at once, as a CNI that rejects would, rather than dropped, so that
   * a refused flow shows without a timeout.
   */
  private deniedBy: string | undefined;
  /** Connections reset because the policy forbids them. */
  refusedByPolicy = 0;
  /** Told whenever the link's faults or verdict change (the pod re-routes its load balancer traffic). */
  onChange: (() => void) | undefined;

  constructor(readonly name: string, target: { host: string; port: number }, private readonly inbound: boolean) {
    this.target = target;
  }

  async listen(): Promise<number> {
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.accept(client));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  setTarget(port: number, host = '127.0.0.1'): void { this.target = { host, port }; }

  /** Endpoints looked up at each new connection (a Service whose pods come and go). */
  setTargetResolver(resolve: () => number[]): void { this.resolveTargets = resolve; }

  /** Forbids the flow (`reason`) or allows it (undefined); a forbidden link resets its connections. */
  deny(reason: string | undefined): void {
    this.deniedBy = reason;
    if (reason) for (const c of this.connections) this.reset(c);
    this.onChange?.();
  }

  get denied(): string | undefined { return this.deniedBy; }

  private pickTarget(): { host: string; port: number } | undefined {
    if (!this.resolveTargets) return this.target.port === 0 ? undefined : this.target;
    const live = this.resolveTargets().filter((port) => port !== 0);
    if (live.length === 0) return undefined;
    this.nextTarget = (this.nextTarget + 1) % live.length;
    return { host: '127.0.0.1', port: live[this.nextTarget]! };
  }

  faultFor(flow: Flow): NetworkFault | undefined { return this.override ?? this.faults[flow]; }

  /** Nothing to do but copy bytes: no fault on either flow, no outage, not forbidden. */
  get passive(): boolean {
    return !this.deniedBy && !this.override && !this.faults['to-pod'] && !this.faults['from-pod'];
  }

  get refusing(): boolean { return this.faultFor('to-pod')?.partition === 'refuse' || this.faultFor('from-pod')?.partition === 'refuse'; }

  setFault(flow: Flow, fault: NetworkFault | undefined): void {
    if (fault && Object.keys(fault).length) this.faults[flow] = { ...fault };
    else delete this.faults[flow];
    this.faultsChanged();
  }

  setOverride(fault: NetworkFault | undefined): void {
    this.override = fault && Object.keys(fault).length ? { ...fault } : undefined;
    this.faultsChanged();
  }

  private faultsChanged(): void {
    if (this.refusing) for (const c of this.connections) this.reset(c);
    for (const c of this.connections) for (const p of c.pumps) p.refresh();
    this.onChange?.();
  }

  private draw(store: Partial<Record<Flow, CorrelatedUniform>>, flow: Flow, rho: number): number {
    let d = store[flow];
    if (!d || d.rho !== rho) store[flow] = d = new CorrelatedUniform(rho);
    return d.next();
  }

  /** The delay of the next chunk of `flow`: delayMs ± jitterMs, never below zero. */
  sampleDelay(flow: Flow, fault: NetworkFault): number {
    const jitter = fault.jitterMs ? (this.draw(this.jitterDraws, flow, fault.correlation ?? 0) * 2 - 1) * fault.jitterMs : 0;
    return Math.max(0, (fault.delayMs ?? 0) + jitter);
  }

  /** Whether the next chunk of `flow` is lost (and so retransmitted). */
  sampleLost(flow: Flow, fault: NetworkFault): boolean {
    return !!fault.loss && this.draw(this.lossDraws, flow, fault.lossCorrelation ?? 0) < fault.loss;
  }

  /** Token-bucket pacing shared by the link's connections; returns when `bytes` may leave. */
  reserveBandwidth(flow: Flow, bytes: number, rate: number, now: number): number {
    const start = Math.max(now, this.bandwidthFree[flow]);
    this.bandwidthFree[flow] = start + (bytes / rate) * 1000;
    return this.bandwidthFree[flow];
  }

  get activeConnections(): number { return this.connections.size; }

  private accept(client: Socket): void {
    if (this.deniedBy) {
      this.refusedByPolicy += 1;
      client.resetAndDestroy();
      return;
    }
    // No target: the pod's container has not reported a port yet (or has died), or no endpoint is ready.
    const target = this.refusing ? undefined : this.pickTarget();
    if (!target) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const conn: Connection = { client, upstream, pumps: [] };
    const [clientFlow, upstreamFlow]: [Flow, Flow] = this.inbound ? ['to-pod', 'from-pod'] : ['from-pod', 'to-pod'];
    conn.pumps.push(new Pump(client, upstream, this, clientFlow), new Pump(upstream, client, this, upstreamFlow));
    this.connections.add(conn);
    const finish = () => {
      if (!this.connections.delete(conn)) return;
      for (const p of conn.pumps) p.dispose();
    };
    // An upstream that refuses is passed on as a reset, so the client sees what it would see without us.
    upstream.on('error', () => { client.resetAndDestroy(); upstream.destroy(); finish(); });
    client.on('error', () => { upstream.resetAndDestroy(); client.destroy(); finish(); });
    client.on('close', () => { if (!upstream.destroyed && !upstream.writableEnded) upstream.destroy(); finish(); });
    upstream.on('close', () => { if (!client.destroyed && !client.writableEnded) client.destroy(); finish(); });
  }

  private reset(conn: Connection): void {
    conn.client.resetAndDestroy();
    conn.upstream.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const c of this.connections) { c.client.destroy(); c.upstream.destroy(); }
    this.connections.clear();
    if (!this.server) return;
    const closed = once(this.server, 'close');
    this.server.close();
    await closed;
  }
}

/**
 * Where an outbound link leads: a Service whose endpoints are looked up per connection,
 * with the NetworkPolicy verdict for the flow (`deniedBy`: why it is refused).
 */
export interface OutboundDestination { resolve: () => number[]; deniedBy?: string }

/** The sidecar of one pod: an inbound link to the pod's port, and one outbound link per destination. */
export class Sidecar {
  readonly inbound: ProxyLink;
  readonly outbound = new Map<string, ProxyLink>();

  constructor(readonly pod: string, podPort: number) {
    this.inbound = new ProxyLink('inbound', { host: '127.0.0.1', port: podPort }, true);
  }

  /** Opens the inbound listener and one outbound listener per destination; returns their ports. */
  async start(destinations: Record<string, OutboundDestination>): Promise<{ inbound: number; outbound: Record<string, number> }> {
    for (const [name, d] of Object.entries(destinations)) {
      const link = new ProxyLink(`outbound:${name}`, { host: '127.0.0.1', port: 0 }, false);
      link.setTargetResolver(d.resolve);
      link.deny(d.deniedBy);
      this.outbound.set(name, link);
    }
    // A pod has a link per port of the cluster: opened together, not one after another, on its way to ready.
    await Promise.all(this.links.map((l) => l.listen()));
    const outbound = Object.fromEntries([...this.outbound].map(([name, l]) => [name, l.port]));
    return { inbound: this.inbound.port, outbound };
  }

  get links(): ProxyLink[] { return [this.inbound, ...this.outbound.values()]; }

  private select(link = 'all'): ProxyLink[] {
    if (link === 'all') return this.links;
    if (link === 'inbound') return [this.inbound];
    if (link === 'outbound') return [...this.outbound.values()];
    const one = this.outbound.get(link.replace(/^outbound:/, ''));
    if (!one) throw new Error(`sidecar of ${this.pod} has no link "${link}" (inbound, outbound, ${[...this.outbound.keys()].join(', ')})`);
    return [one];
  }

  /** Applies (replaces) a fault on the chosen links and flows; an empty fault clears them. */
  setFault(scope: FaultScope, fault: NetworkFault | undefined): void {
    const flows: Flow[] = scope.flow === undefined || scope.flow === 'both' ? ['to-pod', 'from-pod'] : [scope.flow];
    for (const l of this.select(scope.link)) for (const f of flows) l.setFault(f, fault);
  }

  clearFaults(): void { this.setFault({}, undefined); }

  /** A fault over every link and flow that leaves the faults set with `setFault` in place for when it is lifted. */
  setOverride(fault: NetworkFault | undefined): void {
    for (const l of this.links) l.setOverride(fault);
  }

  async close(): Promise<void> { await Promise.all(this.links.map((l) => l.close())); }
}
