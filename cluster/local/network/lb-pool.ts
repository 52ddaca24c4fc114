import { Mutex } from 'async-mutex';
import type { LocalityDistribution } from '../../manifests/mesh.ts';
import type { LocalHaproxy, ServerOptions } from './haproxy.ts';
import type { StaticServer } from './haproxy-config.ts';
import { podShares, weightsFor } from './locality.ts';

/** A client zone's view of a tier: its own HAProxy backend, weighted by the distribute rule for that zone. */
export interface ZonalBackend {
  zone: string;
  backend: string;
  /** Undefined when no rule names the zone: every pod gets an equal share. */
  rule: LocalityDistribution | undefined;
}

interface Member { zone: string; ready: boolean; address: string; id?: number }

/**
 * One workload's pods in HAProxy. The workload's own backend is what a client outside
 * the mesh reaches (every pod at the same `weight`). A database tier also has one backend
 * per client zone — the place of a sidecar in that zone — whose server weights realise
 * the DestinationRule's locality distribute over the pods that are ready now; they are
 * recomputed whenever a pod becomes ready or stops being ready. A server that fails its
 * health checks leaves every ring at once, so a zone outage fails over before the
 * runtime has reweighed anything.
 */
export class LbPool {
  private readonly members = new Map<string, Member>();
  /** Last weight sent per `backend/server`, so a reweigh only sends what changed. */
  private readonly sent = new Map<string, number>();
  private readonly reweighing = new Mutex();

  constructor(
    private readonly haproxy: LocalHaproxy,
    readonly backend: string,
    private readonly zonal: readonly ZonalBackend[] = [],
    /** Weight of every server in the zone-agnostic backend; HAProxy's default when undefined. */
    private readonly weight?: number,
    private readonly log: (message: string, err?: unknown) => void = () => {},
    /** Requests a pod takes at once from each backend; unlimited when undefined. */
    private readonly maxconn?: number,
  ) {}

  private server(id: number | undefined, weight: number | undefined): ServerOptions {
    return { ...(id === undefined ? {} : { id }), ...(weight === undefined ? {} : { weight }), ...(this.maxconn === undefined ? {} : { maxconn: this.maxconn }) };
  }

  get backends(): string[] { return [this.backend, ...this.zonal.map((z) => z.backend)]; }

  /** A new pod, in maintenance with health checks on; in the zonal rings at the place it will take once ready. */
  async add(name: string, address: string, zone: string, id?: number): Promise<void> {
    this.members.set(name, { zone, ready: false, address, ...(id === undefined ? {} : { id }) });
    await this.haproxy.addServer(this.backend, name, address, this.server(id, this.weight));
    for (const z of this.zonal) {
      const weight = this.placeIn(z, name);
      await this.haproxy.addServer(z.backend, name, address, this.server(id, weight));
    }
  }

  /** Where the pod's server points (what HAProxy was told, or is told again by `replay` after a restart). */
  addressOf(name: string): string | undefined { return this.members.get(name)?.address; }

  /**
   * The pod's traffic goes to another address (its container, or its sidecar): every ring
   * at once. Recorded first, so that a HAProxy that is down now gets it from `replay`.
   */
  async setAddress(name: string, address: string): Promise<void> {
    const m = this.members.get(name);
    if (!m || m.address === address) return;
    m.address = address;
    for (const b of this.backends) await this.haproxy.setServerAddress(b, name, address);
  }

  /** Ready: the zonal rings make room for it first, then it takes traffic everywhere. */
  async ready(name: string): Promise<void> {
    const m = this.members.get(name);
    if (m) m.ready = true;
    await this.reweigh();
    for (const b of this.backends) await this.haproxy.serverReady(b, name);
  }

  async notReady(name: string): Promise<void> {
    const m = this.members.get(name);
    if (m) m.ready = false;
    for (const b of this.backends) await this.haproxy.serverNotReady(b, name);
    await this.reweigh();
  }

  /** Terminating: no new requests, those in flight finish. */
  async drain(name: string): Promise<void> {
    const m = this.members.get(name);
    if (m) m.ready = false;
    for (const b of this.backends) await this.haproxy.drainServer(b, name);
    await this.reweigh();
  }

  async remove(name: string): Promise<void> {
    this.members.delete(name);
    for (const b of this.backends) {
      this.sent.delete(`${b}/${name}`);
      await this.haproxy.removeServer(b, name);
    }
  }

  /**
   * HAProxy was restarted and knows only its static config: every pod goes back in, at its
   * weights, ready ones enabled — as Envoy's endpoints come back from EDS after a restart.
   */
  async replay(): Promise<void> {
    this.sent.clear();
    for (const [name, m] of [...this.members]) {
      await this.haproxy.addServer(this.backend, name, m.address, this.server(m.id, this.weight));
      for (const z of this.zonal) {
        const weight = this.placeIn(z, name);
        await this.haproxy.addServer(z.backend, name, m.address, this.server(m.id, weight));
      }
      if (m.ready) for (const b of this.backends) await this.haproxy.serverReady(b, name);
    }
  }

  /**
   * Its servers as they are now, by backend, at the weights `replay` would give them: what
   * a reload writes into HAProxy's configuration, so that the new process routes as the old
   * one did from its first request.
   */
  staticServers(): Array<[string, StaticServer[]]> {
    const members = [...this.members];
    const main: StaticServer[] = members.map(([name, m]) => ({ name, address: m.address, options: this.server(m.id, this.weight), enabled: m.ready }));
    this.sent.clear();
    return [[this.backend, main], ...this.zonal.map((z): [string, StaticServer[]] => [z.backend, members.map(([name, m]) => {
      return { name, address: m.address, options: this.server(m.id, this.placeIn(z, name)), enabled: m.ready };
    })])];
  }

  /**
   * A reload that failed after `staticServers` recorded its weights as sent: the worker still
   * serving has the weights of before, and a reweigh under way skipped servers for those
   * records. Every weight goes again.
   */
  async resendWeights(): Promise<void> {
    this.sent.clear();
    await this.reweigh();
  }

  /** A pod's weight in a zonal ring as it (re)enters it, recorded as sent. */
  private placeIn(z: ZonalBackend, name: string): number {
    const weight = this.weights(z, name).get(name) ?? 1;
    this.sent.set(`${z.backend}/${name}`, weight);
    return weight;
  }

  /** Weights of one zonal backend: the ready pods, plus `joining` as if it were ready. */
  private weights(z: ZonalBackend, joining?: string): Map<string, number> {
    const pods = [...this.members].filter(([n, m]) => m.ready || n === joining).map(([n, m]) => ({ name: n, zone: m.zone }));
    return weightsFor(podShares(z.rule, pods));
  }

  /** One reweigh at a time, each computed from the state when it runs. */
  private reweigh(): Promise<void> {
    if (this.zonal.length === 0) return Promise.resolve();
    const run = async () => {
      for (const z of this.zonal) {
        for (const [name, weight] of this.weights(z)) {
          const key = `${z.backend}/${name}`;
          if (this.sent.get(key) === weight || !this.members.has(name)) continue;
          // A pod removed meanwhile has no server to reweigh; its removal says so itself.
          await this.haproxy.setWeight(z.backend, name, weight).then(
            () => { this.sent.set(key, weight); },
            (err: unknown) => this.log(`haproxy: weight of ${key} not set`, err),
          );
        }
      }
    };
    return this.reweighing.runExclusive(run);
  }
}
