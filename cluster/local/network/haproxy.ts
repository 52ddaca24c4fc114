import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Mutex } from 'async-mutex';
import { type Child, binary, spawnChild, whenHealthy } from '../process/child.ts';
import type { ChildRegistry } from '../process/child-registry.ts';
import {
  HARD_STOP_AFTER_MS, type HaproxyBackend, type HaproxyConfigInput, type HaproxyFrontend, type HealthCheckSettings, type ServerOptions,
  renderHaproxyConfig, serverParams,
} from './haproxy-config.ts';
import type { EdgeAuth } from './edge-auth.ts';
import { type ListeningSocket, isListening, listenAllForChild } from './net-util.ts';
import { Fatal, eventually } from '../../../lib/poll.ts';
import { logFile } from '../process/paths.ts';
import { isRunning, signalGroup } from '../process/proc-identity.ts';

export type { HealthCheckSettings, ServerOptions } from './haproxy-config.ts';

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
  private readonly queue = new Mutex();
  constructor(readonly socketPath: string) {}

  /** Commands run one after another: an `enable` must never overtake the `add` it follows. */
  command(cmd: string): Promise<string> {
    return this.exclusive((send) => send(cmd));
  }

  /**
   * Runs `work` when the commands queued before it are done, and holds every later one
   * until it is (a reload: no command may reach the process being replaced).
   */
  exclusive<T>(work: (send: (cmd: string) => Promise<string>) => Promise<T>): Promise<T> {
    return this.queue.runExclusive(() => work((cmd) => this.send(cmd)));
  }

  private send(cmd: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = connect(this.socketPath);
      let out = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => { out += d; });
      socket.on('end', () => resolve(out.trim()));
      socket.on('error', reject);
      socket.setTimeout(5_000, () => socket.destroy(new Error(`haproxy runtime API: no answer to "${cmd}" within 5 s`)));
      socket.write(`${cmd}\n`);
    });
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

/** Kubernetes' default readinessProbe timeoutSeconds. */
const PROBE_TIMEOUT_MS = 1_000;

const execFileAsync = promisify(execFile);

/** A reload not done within this is reported as failed: a new worker's start, then the old one's last answers. */
const RELOAD_TIMEOUT_MS = 5_000 + HARD_STOP_AFTER_MS;

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
  private config!: HaproxyConfigInput;

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
    haproxy.config = {
      socketPath: haproxy.api.socketPath, statsPort: haproxy.statsPort, statsFd: 3, frontends: withPorts, backends,
      // A check waits as long as a kubelet's readiness probe does by default (timeoutSeconds 1):
      // a healthy pod answering /ready slowly on a loaded machine is not taken out of its ring.
      serverTimeoutMs, checkTimeoutMs: Math.max(checks.intervalMs, PROBE_TIMEOUT_MS), checks, ...(edge ? { edge } : {}),
    };
    try {
      mkdirSync(runDir, { recursive: true });
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    haproxy.child = await haproxy.launch(env, registry);
    return haproxy;
  }

  private get configFile(): string { return join(this.runDir, 'haproxy.cfg'); }

  /** The configuration without pods (a start) or with them (a reload), written whole or not at all. */
  private writeConfig(config: HaproxyConfigInput): string {
    const tmp = `${this.configFile}.next`;
    writeFileSync(tmp, renderHaproxyConfig(config));
    return tmp;
  }

  /**
   * Starts HAProxy on its config (first start and restarts alike); resolves once every
   * frontend accepts. A restarted HAProxy has only its static config: the pods, added
   * through the runtime API, are replayed by the runtime. It runs as a master process
   * that keeps the listening sockets and its pid across reloads, and a worker that serves.
   */
  async launch(env: NodeJS.ProcessEnv, registry: ChildRegistry): Promise<Child> {
    const ports = [this.statsPort, ...this.frontends.map((b) => b.port)];
    // A worker outlives its master for a moment (a kill -9 of the master): it goes with it, as
    // a container's processes do, and its ports are free once it is gone.
    if (this.child && !this.child.running) {
      signalGroup(this.child.pid, 'SIGKILL');
      await this.child.groupGone();
    }
    const sockets = this.sockets ?? await listenAllForChild(ports).catch((err: unknown) => {
      throw new Error(`haproxy cannot listen again on the ports it had: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    this.sockets = undefined;
    let child: Child;
    try {
      // Pods of the last reload are not written in: the runtime replays those still there.
      renameSync(this.writeConfig(this.config), this.configFile);
      child = registry.track(spawnChild('haproxy', binary('haproxy'), ['-W', '-f', this.configFile, '-db'], env, this.log, ports, undefined, sockets.map((s) => s.fd)));
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

  /** The worker process serving now (its runtime API answers on the stats socket). */
  private async workerPid(send: (cmd: string) => Promise<string>): Promise<number | undefined> {
    const pid = /^Pid: (\d+)$/m.exec(await send('show info').catch(() => ''))?.[1];
    return pid === undefined ? undefined : Number(pid);
  }

  /**
   * A new configuration without a restart (new issuer keys at the edge), as `haproxy -sf`
   * or a kubelet-mounted ConfigMap with a reload would do it: the master starts a new
   * worker on the same listening sockets, and the old one finishes the requests it has.
   * The pods' servers are written into the new configuration as they are now (`servers`),
   * since servers added through the runtime API do not survive a reload; no runtime
   * command runs meanwhile, so none reaches the old worker after they were read. The new
   * configuration is checked first: a bad one changes nothing. Resolves once the old
   * worker has exited: from then on every request is answered under the new configuration.
   */
  async reload(servers: () => HaproxyConfigInput['servers'], edge?: EdgeAuth): Promise<void> {
    await this.api.exclusive(async (send) => {
      const config = { ...this.config, ...(edge ? { edge } : {}) };
      const pods = servers();
      const next = this.writeConfig({ ...config, servers: pods });
      // Checked with addresses for the sockets the master holds: `haproxy -c` has no fd 3.
      const check = `${next}.check`;
      writeFileSync(check, renderHaproxyConfig({ ...config, servers: pods, statsFd: undefined, frontends: config.frontends.map((f) => ({ ...f, fd: undefined })) }));
      try {
        await execFileAsync(binary('haproxy'), ['-c', '-f', check], { timeout: RELOAD_TIMEOUT_MS });
      } catch (err) {
        rmSync(next, { force: true });
        const output = (err as { stderr?: string }).stderr?.trim();
        throw new Error(`haproxy: the new configuration does not load, nothing was changed: ${output || (err instanceof Error ? err.message : String(err))}`, { cause: err });
      } finally {
        rmSync(check, { force: true });
      }
      const before = await this.workerPid(send);
      renameSync(next, this.configFile);
      this.config = config;
      if (!this.child.running) throw new Error('haproxy is down: nothing was reloaded (its supervisor starts it again with the new configuration)');
      // The master only: it starts the new worker, then tells the old one to finish.
      process.kill(this.child.pid, 'SIGUSR2');
      const deadline = Date.now() + RELOAD_TIMEOUT_MS;
      const up = () => { if (!this.child.running) throw new Fatal('haproxy exited during a reload (see its log)'); };
      await eventually(`haproxy reload: a new worker serving in place of ${before}`, async () => { up(); return this.workerPid(send); },
        (now) => now !== undefined && now !== before, { timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 25 });
      // The old worker answers each kept-alive client once more (then closes), until
      // `hard-stop-after`: a retired key would still pass there. Done means it is gone.
      if (before !== undefined) {
        await eventually(`haproxy reload: the old worker ${before} gone`, () => { up(); return isRunning(before); },
          (running) => !running, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 25 });
      }
    });
  }

  /** A new pod: registered in maintenance with health checks running, not yet taking traffic. */
  async addServer(backend: string, name: string, address: string, server: ServerOptions = {}): Promise<void> {
    const add = () => this.api.expect(`add server ${backend}/${name} ${address} ${serverParams(this.checks, server)}`, [/New server registered/]);
    try {
      await add();
    } catch (err) {
      // A StatefulSet pod back under its old name, whose old server a failed removal left
      // behind, or one a reload wrote into the configuration meanwhile.
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
