import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type Child, binary, spawnChild, whenHealthy } from '../process/child.ts';
import type { ChildRegistry } from '../process/child-registry.ts';
import { type HaproxyBackend, type HaproxyFrontend, renderHaproxyConfig } from './haproxy-config.ts';
import type { EdgeAuth } from './edge-auth.ts';
import { type ListeningSocket, isListening, listenAllForChild } from './net-util.ts';
import { eventually } from '../../../lib/poll.ts';
import { logFile } from '../process/paths.ts';

export interface HealthCheckSettings {
  intervalMs: number;
  fall: number;
  rise: number;
}

export interface ServerState {
  backend: string;
  name: string;
  id: number;
  address: string;
  port: number;
  /** 0 stopped (down), 1 starting, 2 running (up), 3 stopping. */
  opState: number;
  /** Bit field: 0 = ready; 1/2/4 maintenance (forced, inherited, from the runtime API), 8/16/32 drain. */
  adminState: number;
}

/** The HAProxy runtime API over the admin stats socket, one command per connection. */
export class HaproxyRuntimeApi {
  private queue: Promise<unknown> = Promise.resolve();
  constructor(readonly socketPath: string) {}

  /** Commands run one after another: an `enable` must never overtake the `add` it follows. */
  command(cmd: string): Promise<string> {
    const run = () => new Promise<string>((resolve, reject) => {
      const socket = connect(this.socketPath);
      let out = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => { out += d; });
      socket.on('end', () => resolve(out.trim()));
      socket.on('error', reject);
      socket.setTimeout(5_000, () => socket.destroy(new Error(`haproxy runtime API: no answer to "${cmd}" within 5 s`)));
      socket.write(`${cmd}\n`);
    });
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Runs a command whose only successful answers are `ok` (empty counts as success). */
  async expect(cmd: string, ok: RegExp[] = []): Promise<string> {
    const out = await this.command(cmd);
    if (out === '' || ok.some((re) => re.test(out))) return out;
    throw new Error(`haproxy runtime API: "${cmd}" answered "${out}"`);
  }

  async serverStates(backend?: string): Promise<ServerState[]> {
    const out = await this.command(backend ? `show servers state ${backend}` : 'show servers state');
    return out.split('\n').filter((l) => /^\d+ /.test(l)).map((line) => {
      const f = line.split(' ');
      return {
        backend: f[1]!, id: Number(f[2]), name: f[3]!, address: f[4]!, opState: Number(f[5]), adminState: Number(f[6]), port: Number(f[18]),
      };
    });
  }
}

/** How long HAProxy keeps a connection to a pod open while it is idle. */
const IDLE_SERVER_CONNECTION_MS = 5_000;

/** Kubernetes' default readinessProbe timeoutSeconds. */
const PROBE_TIMEOUT_MS = 1_000;

/** A server's place in a backend: its id (StatefulSet ordinal + 1), weight, and how many requests it takes at once. */
export interface ServerOptions {
  id?: number;
  weight?: number;
  /** More wait in HAProxy's queue (the DestinationRule's connectionPool: see mesh.ts). */
  maxconn?: number;
}

/**
 * HAProxy as the mesh's consistent-hash router. Pods enter as dynamic servers (in
 * maintenance, checks on), are enabled when ready, drained before they are stopped, and
 * deleted once gone — what an Envoy sidecar sees through EDS as endpoints change.
 */
export class LocalHaproxy {
  child!: Child;
  readonly api: HaproxyRuntimeApi;

  /**
   * The sockets HAProxy listens on, bound by us (stats first, then the frontends in order)
   * until a launch hands them over: the first start binds port 0, a restart the same ports
   * again, as a Service keeps its address.
   */
  private sockets: ListeningSocket[] | undefined;

  private constructor(readonly runDir: string, readonly statsPort: number, readonly frontends: HaproxyFrontend[], readonly checks: HealthCheckSettings) {
    this.api = new HaproxyRuntimeApi(join(runDir, 'haproxy.sock'));
  }

  get log(): string { return logFile(this.runDir, 'haproxy'); }
  get statsUrl(): string { return `http://127.0.0.1:${this.statsPort}`; }
  frontendUrl(frontend: string): string {
    const f = this.frontends.find((x) => x.name === frontend);
    if (!f) throw new Error(`no haproxy frontend ${frontend}`);
    return `http://127.0.0.1:${f.port}`;
  }

  static async start(runDir: string, frontends: (Omit<HaproxyFrontend, 'port'>)[], backends: HaproxyBackend[], checks: HealthCheckSettings, serverTimeoutMs: number, env: NodeJS.ProcessEnv, registry: ChildRegistry, edge?: EdgeAuth): Promise<LocalHaproxy> {
    const sockets = await listenAllForChild(new Array<number>(frontends.length + 1).fill(0));
    // The child's descriptors: its stdio is 0–2, our sockets follow in order.
    const withPorts: HaproxyFrontend[] = frontends.map((f, i) => ({ ...f, port: sockets[i + 1]!.port, fd: 4 + i }));
    const haproxy = new LocalHaproxy(runDir, sockets[0]!.port, withPorts, checks);
    haproxy.sockets = sockets;
    try {
      mkdirSync(runDir, { recursive: true });
      writeFileSync(haproxy.configFile, renderHaproxyConfig({
        socketPath: haproxy.api.socketPath, statsPort: haproxy.statsPort, statsFd: 3, frontends: withPorts, backends,
        // A check waits as long as a kubelet's readiness probe does by default (timeoutSeconds 1):
        // a healthy pod answering /ready slowly on a loaded machine is not taken out of its ring.
        serverTimeoutMs, checkTimeoutMs: Math.max(checks.intervalMs, PROBE_TIMEOUT_MS), edge,
      }));
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    haproxy.child = await haproxy.launch(env, registry);
    return haproxy;
  }

  private get configFile(): string { return join(this.runDir, 'haproxy.cfg'); }

  /**
   * Starts HAProxy on its config (first start and restarts alike); resolves once every
   * frontend accepts. A restarted HAProxy has only its static config: the pods, added
   * through the runtime API, are replayed by the runtime.
   */
  async launch(env: NodeJS.ProcessEnv, registry: ChildRegistry): Promise<Child> {
    const ports = [this.statsPort, ...this.frontends.map((b) => b.port)];
    const sockets = this.sockets ?? await listenAllForChild(ports).catch((err: unknown) => {
      throw new Error(`haproxy cannot listen again on the ports it had: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    this.sockets = undefined;
    let child: Child;
    try {
      child = registry.track(spawnChild('haproxy', binary('haproxy'), ['-f', this.configFile, '-db'], env, this.log, ports, undefined, sockets.map((s) => s.fd)));
    } finally {
      // HAProxy holds its own copies now; ours would only keep a dead HAProxy's ports bound.
      for (const s of sockets) s.close();
    }
    await whenHealthy(child, 'haproxy accepting', 10_000, async () => {
        await this.api.command('show info');
        return (await Promise.all(this.frontends.map((b) => isListening(b.port)))).every(Boolean);
    });
    this.child = child;
    return child;
  }

  /** A new pod: registered in maintenance with health checks running, not yet taking traffic. */
  async addServer(backend: string, name: string, address: string, server: ServerOptions = {}): Promise<void> {
    const { intervalMs, fall, rise } = this.checks;
    const { id, weight, maxconn } = server;
    const options = `${id ? ` id ${id}` : ''}${weight === undefined ? '' : ` weight ${weight}`}${maxconn === undefined ? '' : ` maxconn ${maxconn}`}`;
    // A server added at runtime keeps no idle connection unless told to (HAProxy 2.6): every
    // request would open a new one to the pod, which cost the pod more than the request did
    // (a third of its throughput). The idle ones are let go well before the services' own
    // keep-alive timeout (65 s), so HAProxy never sends on a connection the pod is closing.
    const pool = ` pool-max-conn -1 pool-purge-delay ${IDLE_SERVER_CONNECTION_MS}`;
    const add = () => this.api.expect(`add server ${backend}/${name} ${address} check inter ${intervalMs} fall ${fall} rise ${rise}${options}${pool}`, [/New server registered/]);
    try {
      await add();
    } catch (err) {
      // A StatefulSet pod back under its old name, whose old server a failed removal left behind.
      if (!/already exists/i.test(String(err))) throw err;
      await this.removeServer(backend, name);
      await add();
    }
    await this.api.expect(`enable health ${backend}/${name}`);
  }

  /** The pod passed its readiness probe: take traffic now rather than after the next check. */
  async serverReady(backend: string, name: string): Promise<void> {
    await this.api.expect(`enable server ${backend}/${name}`);
    await this.api.expect(`set server ${backend}/${name} health up`);
  }

  /** The pod is not ready (crashed, probe failing, node gone): out of the ring until it is. */
  async serverNotReady(backend: string, name: string): Promise<void> {
    await this.api.expect(`disable server ${backend}/${name}`);
  }

  /** A new place on the ring (consistent hashing takes weight changes while the server is up). */
  async setWeight(backend: string, name: string, weight: number): Promise<void> {
    await this.api.expect(`set server ${backend}/${name} weight ${weight}`);
  }

  /**
   * Points a server at another address. HAProxy 2.6 stops reusing the idle connections
   * it held to the old one, so every new request goes to the new address; requests in
   * flight finish where they are.
   */
  async setServerAddress(backend: string, name: string, address: string): Promise<void> {
    const m = /^([\d.]+):(\d+)$/.exec(address);
    if (!m) throw new Error(`haproxy: server address must be ip:port, got "${address}"`);
    await this.api.expect(`set server ${backend}/${name} addr ${m[1]} port ${m[2]}`, [/changed|no need to change/]);
  }

  /** The pod is terminating: no new requests, those in flight finish. */
  async drainServer(backend: string, name: string): Promise<void> {
    await this.api.expect(`set server ${backend}/${name} state drain`);
  }

  async removeServer(backend: string, name: string): Promise<void> {
    await this.api.expect(`disable server ${backend}/${name}`);
    await this.api.command(`shutdown sessions server ${backend}/${name}`);
    // Idle pooled connections are released asynchronously: retry briefly.
    await eventually(`haproxy del server ${backend}/${name}`, () => this.api.command(`del server ${backend}/${name}`),
      (out) => /Server deleted|No such server/.test(out), { timeoutMs: 3_000, intervalMs: 50 });
  }

  async stop(graceMs = 3_000): Promise<void> { await this.child?.stop(graceMs); }
}
