import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Child, binary, hostEnv, spawnChild, whenHealthy } from '../process/child.ts';
import { ChildRegistry } from '../process/child-registry.ts';
import { freePort } from '../network/net-util.ts';
import { eventually } from '../../../lib/poll.ts';
import { logFile } from '../process/paths.ts';
import { type ComponentHealth, Supervisor } from '../process/supervisor.ts';

/** One server of the NATS StatefulSet: `nats-<ordinal>`, its ports, its JetStream store. */
export interface NatsNode {
  name: string;
  /** Client port: 0 until its first start has bound one (port -1) and logged it; restarts listen on it again. */
  port: number;
  /** Monitoring port, likewise. */
  monitorPort: number;
  /**
   * Route port (0 for a single server, which has no cluster). Chosen before the start, as
   * every server's routes must name the others' (see `start` for when it was taken meanwhile).
   */
  clusterPort: number;
  storeDir: string;
  configFile: string;
  supervisor: Supervisor;
}

export interface NatsClusterOptions {
  /** Servers, as the manifests' NATS StatefulSet has replicas (a test may want one). */
  replicas: number;
  env: NodeJS.ProcessEnv;
  /** Where the servers are tracked as they start (the runtime's, so its state file and shutdown know them). */
  registry: ChildRegistry;
  backoffMs: number;
  backoffMaxMs: number;
  log: (message: string) => void;
  /** A server went down or came back (the runtime retargets the pods' NATS links and saves state). */
  onChange: () => void;
  /** Picks a route port before the servers start (a test hands out one that is taken). */
  routePort: () => Promise<number>;
}

/** A single server of its own, restarted quickly if it dies: what a test or the bench starts. */
const DEFAULT_OPTIONS = (): NatsClusterOptions => ({
  replicas: 1, env: hostEnv(), registry: new ChildRegistry(), backoffMs: 100, backoffMaxMs: 5_000, log: () => {}, onChange: () => {}, routePort: freePort,
});

/** nats-server's config for one server of the cluster, as the manifests' nats.conf gives it, with local addresses. */
function natsConfig(node: NatsNode, peers: NatsNode[]): string {
  const lines = [
    `server_name: ${node.name}`,
    // -1: a port of the server's own choosing, read back from its log (no gap for another
    // process to take it); a restart asks for the one it had.
    `listen: 127.0.0.1:${node.port || -1}`,
    `http: 127.0.0.1:${node.monitorPort || -1}`,
    `jetstream { store_dir: ${JSON.stringify(node.storeDir)} }`,
  ];
  if (peers.length > 1) {
    lines.push(
      'cluster {',
      '  name: percolate',
      `  listen: 127.0.0.1:${node.clusterPort}`,
      `  routes: [${peers.filter((p) => p !== node).map((p) => `nats-route://127.0.0.1:${p.clusterPort}`).join(', ')}]`,
      // Clients reach NATS through their sidecar, as a Service: never by a server's own address.
      '  no_advertise: true',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A server could not bind a port chosen for it: something else took it meanwhile. */
export class NatsPortTakenError extends Error {
  override readonly name = 'NatsPortTakenError';
}

/** Attempts at starting a cluster whose route ports were taken between choosing and binding them. */
const START_ATTEMPTS = 3;

/** `[INF] Listening for client connections on 127.0.0.1:<port>` and `Starting http monitor on 127.0.0.1:<port>`. */
function loggedNatsPorts(output: string): { port?: number; monitorPort?: number } {
  const client = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(output);
  const monitor = /Starting http monitor on 127\.0\.0\.1:(\d+)/.exec(output);
  return { port: client ? Number(client[1]) : undefined, monitorPort: monitor ? Number(monitor[1]) : undefined };
}

/**
 * NATS as the manifests run it: a StatefulSet of nats-servers with JetStream, clustered
 * (routes between all servers, streams replicated as the services ask: R3 on three
 * servers), each supervised — a server that dies is down in `status` and is restarted on
 * its ports and store, where it catches up from its peers.
 */
export class LocalNatsCluster {
  private constructor(readonly nodes: NatsNode[], private readonly options: NatsClusterOptions) {}

  /** Servers and their JetStream stores go below `runDir/nats/`, their logs in `runDir/logs/`. */
  static async start(runDir: string, overrides: Partial<NatsClusterOptions> = {}): Promise<LocalNatsCluster> {
    const options = { ...DEFAULT_OPTIONS(), ...overrides };
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await LocalNatsCluster.startOnce(runDir, options, attempt > 1);
      } catch (err) {
        // A route port chosen free was bound by another process before its server started:
        // every server names the others' route ports, so the cluster starts over on new ones.
        if (!(err instanceof NatsPortTakenError) || attempt >= START_ATTEMPTS) throw err;
        options.log(`NATS: ${err.message}; starting again on other ports (attempt ${attempt + 1} of ${START_ATTEMPTS})`);
      }
    }
  }

  private static async startOnce(runDir: string, options: NatsClusterOptions, startingOver: boolean): Promise<LocalNatsCluster> {
    const nodes: NatsNode[] = [];
    const clustered = options.replicas > 1;
    for (let i = 0; i < options.replicas; i += 1) {
      const name = `nats-${i}`;
      const dir = join(runDir, 'nats', name);
      // A start over drops what the failed attempt's servers wrote (each run has a new run dir: nothing else is there).
      if (startingOver) rmSync(join(dir, 'jetstream'), { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      nodes.push({
        name, port: 0, monitorPort: 0, clusterPort: clustered ? await options.routePort() : 0,
        storeDir: join(dir, 'jetstream'), configFile: join(dir, 'nats.conf'), supervisor: undefined as never,
      });
    }
    const cluster = new LocalNatsCluster(nodes, options);
    for (const node of nodes) {
      node.supervisor = new Supervisor(node.name, () => cluster.launch(node, runDir), {
        backoffMs: options.backoffMs, backoffMaxMs: options.backoffMaxMs, log: options.log, onChange: options.onChange,
      });
    }
    try {
      // Together: a clustered server waits for its peers before JetStream is ready. Every
      // start settles before a failure is reported, so none is left starting unseen.
      const failures = (await Promise.allSettled(nodes.map((n) => n.supervisor.start())))
        .flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (failures.length) throw failures.find((e) => e instanceof NatsPortTakenError) ?? failures[0];
      if (clustered) await cluster.waitForMetaLeader(30_000);
    } catch (err) {
      // The servers that did come up must not outlive a start that failed.
      await cluster.stop(1_000);
      throw err;
    }
    return cluster;
  }

  /** Client URLs of every server (what a client outside the mesh, a test, connects to). */
  get url(): string { return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(','); }
  get monitoringUrl(): string { return this.monitoringUrlOf(this.nodes[0]!); }
  monitoringUrlOf(node: NatsNode): string { return `http://127.0.0.1:${node.monitorPort}`; }
  /** Client ports of the servers that are up: the endpoints of the NATS Service. */
  get readyPorts(): number[] { return this.nodes.filter((n) => n.supervisor.status.state === 'up').map((n) => n.port); }
  get allPorts(): number[] { return this.nodes.map((n) => n.port); }
  get health(): ComponentHealth[] { return this.nodes.map((n) => n.supervisor.status); }
  get children(): Child[] { return this.nodes.flatMap((n) => (n.supervisor.child ? [n.supervisor.child] : [])); }

  node(name: string): NatsNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no NATS server "${name}" (have: ${this.nodes.map((n) => n.name).join(', ')})`);
    return node;
  }

  private async launch(node: NatsNode, runDir: string): Promise<Child> {
    writeFileSync(node.configFile, natsConfig(node, this.nodes));
    const child = this.options.registry.track(spawnChild(node.name, binary('nats-server'), ['-c', node.configFile], this.options.env,
      logFile(runDir, node.name), [node.port, node.monitorPort, node.clusterPort].filter(Boolean)));
    try {
      return await whenHealthy(child, `${node.name} up`, 20_000, async () => {
        if (!node.port || !node.monitorPort) {
          const logged = loggedNatsPorts(child.output);
          if (!logged.port || !logged.monitorPort) return false;
          node.port = logged.port;
          node.monitorPort = logged.monitorPort;
          child.ports.push(node.port, node.monitorPort);
        }
        // Identity first: the port must be this server's, not something that took it meanwhile.
        const varz = await (await fetch(`${this.monitoringUrlOf(node)}/varz`, { signal: AbortSignal.timeout(1_000) })).json() as { server_name?: string };
        if (varz.server_name !== node.name) throw new Error(`port ${node.monitorPort} answers as ${varz.server_name}, not ${node.name}`);
        // The whole health check, not `js-enabled-only`: a server that restarts is up once its
        // JetStream is current with the meta leader and its streams, not when it first answers.
        // Clients are routed to it from then on; earlier, their JetStream requests would fail.
        const full = await fetch(`${this.monitoringUrlOf(node)}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (full.ok) return true;
        // Except an idle consumer: nats-server 2.9.10 leaves a consumer replica that sees no
        // traffic (a tier's workers at zero) "not current" on a restarted server until the
        // consumer is used (upstream restarts it during the check from 2.9.17 on), so the
        // whole check would fail for good. Its leader is on another server; the server
        // itself must still be current with the meta leader.
        const reason = ((await full.json().catch(() => ({}))) as { error?: string }).error ?? '';
        if (!/^JetStream consumer .* is not current$/.test(reason)) return false;
        return (await fetch(`${this.monitoringUrlOf(node)}/healthz?js-server-only=true`, { signal: AbortSignal.timeout(1_000) })).ok;
      });
    } catch (err) {
      if (/address already in use/i.test(child.output)) {
        throw new NatsPortTakenError(`${node.name} could not bind a port of its config (${[node.port, node.monitorPort, node.clusterPort].filter(Boolean).join(', ')}): address already in use`, { cause: err });
      }
      throw err;
    }
  }

  /** JetStream in a cluster takes requests once the servers have elected a meta leader. */
  private async waitForMetaLeader(timeoutMs: number): Promise<void> {
    await eventually('NATS cluster: a JetStream meta leader, seen by every server', async () => {
      const leaders: Record<string, string | null> = {};
      for (const node of this.nodes) {
        const jsz = await (await fetch(`${this.monitoringUrlOf(node)}/jsz`, { signal: AbortSignal.timeout(1_000) })).json() as { meta_cluster?: { leader?: string } };
        leaders[node.name] = jsz.meta_cluster?.leader ?? null;
      }
      return leaders;
    }, (leaders) => Object.values(leaders).every(Boolean), { timeoutMs, intervalMs: 50 });
  }

  /**
   * Stream → the server leading it, as a server that is up reports it (`/jsz` with stream
   * details); empty when none answers. A test that means to force an election stops the leader.
   */
  async streamLeaders(): Promise<Record<string, string>> {
    for (const node of this.nodes.filter((n) => n.supervisor.status.state === 'up')) {
      try {
        const res = await fetch(`${this.monitoringUrlOf(node)}/jsz?accounts=true&streams=true`, { signal: AbortSignal.timeout(1_000) });
        const jsz = await res.json() as { account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }> };
        const leaders: Record<string, string> = {};
        for (const account of jsz.account_details ?? []) {
          for (const stream of account.stream_detail ?? []) if (stream.cluster?.leader) leaders[stream.name] = stream.cluster.leader;
        }
        return leaders;
      } catch {
        // The next server that is up answers instead.
      }
    }
    return {};
  }

  /** Stops one server and keeps it down (a NATS outage a test makes); `startNode` ends it. */
  async stopNode(name: string, graceMs = 2_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> { await this.node(name).supervisor.pause(graceMs, signal); }
  async startNode(name: string): Promise<void> { await this.node(name).supervisor.resume(); }

  async stop(graceMs = 5_000): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.supervisor.stop(graceMs)));
  }
}
