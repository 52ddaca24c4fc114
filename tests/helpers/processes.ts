import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { type ServiceName, manifestWorkload, reportedPort, serviceEnv, spawnService } from '../../cluster/local/components/service.ts';
import { type Child, describeExit } from '../../cluster/local/process/child.ts';
import { SERVED_BY_HEADER } from '../../lib/names.ts';
import type { ProfileName } from '../../reference-services/shared/profile.ts';
import { ensureSecretsFile, loadSecrets, type Secrets } from '../../reference-services/shared/secrets.ts';
import { Fatal, eventually } from '../../lib/poll.ts';

export type { ServiceName };

/** A scratch directory for one test file, removed by `cleanup()`. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `percolate-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** "worker-a exited with code 1:\n<its last output>": why a process a test waited for is not there. */
function gone(name: string, child: Child): Error {
  return new Fatal(`${name} ${describeExit(child.exitStatus)}:\n${child.tail()}`);
}

/**
 * One reference service run as a process, the way a pod runs it: it binds port 0 and
 * reports the port it got in its PORT_FILE (its environment comes from `serviceEnv`).
 */
export class ServiceProcess {
  process!: Child;
  /** 0 until the first start has bound one; restarts keep it, as a pod keeps its address. */
  port = 0;
  constructor(readonly service: ServiceName, readonly name: string, private readonly env: NodeJS.ProcessEnv, readonly log: string) {
    if (!env.PORT_FILE) throw new Error(`${name}: its environment has no PORT_FILE to report its port in`);
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  private get portFile(): string { return this.env.PORT_FILE!; }

  /** Starts the process; resolves once it has bound its port (and, by default, is ready). */
  async restart(opts: { waitReady?: boolean } = {}): Promise<void> {
    rmSync(this.portFile, { force: true });
    // The first start binds port 0 and reports what it got: no port is chosen here and bound there.
    const child = spawnService(this.name, this.service, { ...this.env, PORT: String(this.port) }, this.log);
    this.process = child;
    this.port = (await eventually(`${this.name} listening`, () => {
      if (!child.running) throw gone(this.name, child);
      return reportedPort(this.portFile, child, this.name);
    }, (port) => port !== undefined, { timeoutMs: 20_000, intervalMs: 20 }))!;
    if (opts.waitReady !== false) await this.waitReady();
  }

  /** Ready, and answering as itself: a port some other process holds is not this service. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    await eventually(`${this.name} ready`, async () => {
      if (!this.process.running) throw gone(this.name, this.process);
      const res = await fetch(`${this.url}/ready`);
      const servedBy = res.headers.get(SERVED_BY_HEADER);
      if (servedBy !== this.name) throw new Error(`${this.url} answers as ${servedBy ?? 'something else'}, not ${this.name}`);
      return res.status;
    }, (status) => status === 200, { timeoutMs, intervalMs: 50 });
  }

  /** `signal` to its process group, SIGKILL if it has not exited within 10 s. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> { await this.process?.stop(10_000, signal); }
}

export interface TestServicesOptions {
  /** NATS servers: 1 (the default), or 3 for a test that needs JetStream's replication. */
  natsServers?: number;
  /** The overlay whose manifests say what the services get. */
  profile?: ProfileName;
}

/**
 * What a test's (or the bench's) services share: NATS, the secrets and a scratch directory
 * with every process's log. Each service gets the environment its pods get from the
 * manifests, with this place's addresses; `stop()` ends every process and removes it all.
 */
export class TestServices {
  private readonly started = new Set<ServiceProcess>();
  private constructor(
    readonly dir: string, readonly nats: LocalNatsCluster, readonly secretsFile: string, readonly secrets: Secrets,
    private readonly profile: ProfileName, private readonly cleanupDir: () => void,
  ) {}

  static async start(prefix: string, options: TestServicesOptions = {}): Promise<TestServices> {
    const { dir, cleanup } = scratchDir(prefix);
    let nats: LocalNatsCluster;
    try {
      nats = await LocalNatsCluster.start(dir, { replicas: options.natsServers ?? 1 });
    } catch (err) {
      cleanup();
      throw err;
    }
    const secretsFile = ensureSecretsFile(join(dir, 'secrets.json'));
    return new TestServices(dir, nats, secretsFile, loadSecrets({ PERCOLATE_SECRETS_FILE: secretsFile }), options.profile ?? 'fast', cleanup);
  }

  /**
   * The environment of `service` run as `name` here: its pods' from the manifests, no load
   * balancer in front (no unready grace), `overrides` last.
   */
  async env(service: ServiceName, name: string, overrides: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
    const workload = await manifestWorkload(service, this.profile);
    return serviceEnv({
      manifest: workload.env, pod: { name }, natsUrl: this.nats.url, natsServers: this.nats.nodes.length,
      secretsFile: this.secretsFile, portFile: join(this.dir, `${name}.port.json`), unreadyGraceMs: 0, extra: overrides,
    });
  }

  /** Starts `service` as `name`; stopped by `stop()` even if it never gets ready. */
  async startService(service: ServiceName, name: string, overrides: NodeJS.ProcessEnv = {}, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
    const svc = new ServiceProcess(service, name, await this.env(service, name, overrides), join(this.dir, `${name}.log`));
    this.started.add(svc);
    await svc.restart(opts);
    return svc;
  }

  /** Every service (`signal`, SIGKILL by default), then NATS; the directory goes unless `keepDir`. */
  async stop(options: { signal?: NodeJS.Signals; keepDir?: boolean } = {}): Promise<void> {
    await Promise.all([...this.started].map((s) => s.stop(options.signal ?? 'SIGKILL')));
    await this.nats.stop();
    if (!options.keepDir) this.cleanupDir();
  }
}
