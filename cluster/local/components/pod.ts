import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { SERVED_BY_HEADER } from '../../../lib/names.ts';
import type { PodInfo, PodPhase } from '../../target.ts';

/** A pod as the local runtime reports it: also whether the load balancer routes to it yet. */
export interface LocalPodInfo extends PodInfo {
  /** Ready and enabled in HAProxy (pods without a load balancer: ready). */
  routable: boolean;
  /** The container's process (changes on restart); absent while it is not running. */
  pid?: number;
  /** Its log file. */
  log: string;
  /**
   * Where the load balancer sends its traffic now: the container's own port while the
   * sidecar has nothing to do, the sidecar's (`address`) while a fault or outage is on it.
   * Absent for pods behind no load balancer.
   */
  lbAddress?: string;
}
import type { Child } from '../process/child.ts';
import type { ChildRegistry } from '../process/child-registry.ts';
import { logFile } from '../process/paths.ts';
import { type OutboundDestination, Sidecar } from '../network/sidecar.ts';
import { type ServiceEnvOptions, type ServiceName, reportedPort, serviceEnv, spawnService } from './service.ts';
import { type PodUser, preparePodDir, processUser } from './pod-user.ts';
import type { CgroupLimits } from '../process/cgroups.ts';

/** Everything a pod of one workload shares: what the manifests' pod template says, made local. */
export interface PodTemplate {
  workload: string;
  service: ServiceName;
  labels: Record<string, string>;
  /** The container's environment from the manifests (identity and addresses are set per pod). */
  env: Record<string, string>;
  /** What the containers' environment takes from the run (`extra`: the sweep's marker every process carries). */
  runEnv: Pick<ServiceEnvOptions, 'natsServers' | 'secretsFile' | 'unreadyGraceMs' | 'extra'>;
  readinessPath: string;
  /** The readiness probe's period once the pod has been ready (kubelet's periodSeconds). */
  probePeriodMs: number;
  /** Until the first success: start-up is what callers wait for, so probe often. */
  startupProbePeriodMs: number;
  terminationGraceMs: number;
  /**
   * Outbound destinations of the sidecar by name, each with the NetworkPolicies' verdict:
   * `nats`, `lb` (the database tier's load balancer) for a pod that reaches the databases,
   * and `<workload>:<containerPort>` for every port of the cluster (egress-policy.ts).
   */
  outbound: Record<string, OutboundDestination>;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  /** The manifests' user, when the runtime can run the container as it (see podUserSupport). */
  runAs?: PodUser;
  /** The container's `resources.limits`: a stressed pod's cgroup gets them (pod-stress.ts). */
  limits?: CgroupLimits;
}

/** A process that restarts within this long of starting is crash-looping: back off. */
const CRASH_LOOP_WINDOW_MS = 10_000;

/**
 * One pod: its container (a reference service run as a process in its own group), its
 * sidecar, and a kubelet's part — readiness probes, and restarting the container in place
 * when it dies. Deletion belongs to the runtime, which first takes the pod out of the load
 * balancer; the pod only stops its process within the grace period.
 */
export class Pod extends EventEmitter<{ change: [Pod]; exit: [Pod]; route: [Pod] }> {
  readonly createdAt = Date.now();
  readonly sidecar: Sidecar;
  child: Child | undefined;
  port = 0;
  restarts = 0;
  ready = false;
  phase: PodPhase = 'Pending';
  terminating = false;
  /** The node cannot reach the pod (zone outage): never ready, whatever its probe says. */
  unreachable = false;
  /** pod-failure: the container is stopped and not restarted until `recoverContainer`. */
  failed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private everReady = false;
  private backoffMs: number;
  private startedAt = 0;
  inboundPort = 0;
  outboundPorts: Record<string, number> = {};

  constructor(
    readonly name: string,
    readonly template: PodTemplate,
    readonly node: string,
    readonly zone: string,
    readonly runDir: string,
    private readonly registry: ChildRegistry,
    readonly ordinal?: number,
  ) {
    super();
    this.sidecar = new Sidecar(name, 0);
    this.sidecar.inbound.onChange = () => this.announceRoute();
    this.backoffMs = template.restartBackoffMs;
  }

  get log(): string { return logFile(this.runDir, this.name); }
  get address(): string { return `127.0.0.1:${this.inboundPort}`; }

  /**
   * Where the load balancer sends the pod's traffic. While the sidecar's inbound link has
   * nothing to do (no fault, no outage), straight to the container: a userland proxy that
   * only copies bytes cost the data path more than half its throughput, where Envoy costs
   * little. Through the sidecar as soon as it has work, and while the container has no
   * port (the sidecar then refuses, as a pod without a ready container does). Only a port
   * learnt from this container's own report (same pid) is ever routed to.
   */
  get lbAddress(): string {
    return this.port > 0 && this.sidecar.inbound.passive ? `127.0.0.1:${this.port}` : this.address;
  }

  /** Tells the runtime (`route`) that the load balancer address may have changed; its pool skips what did not. */
  private announceRoute(): void {
    if (this.inboundPort !== 0) this.emit('route', this);
  }

  /** Where the container reports the port it bound (it starts on port 0: a pod owns its port). */
  /** The pod's own directory (its volume, its mounted secret, its port file). */
  get dir(): string { return join(this.runDir, 'pods', this.name); }
  get portFile(): string { return join(this.dir, 'port.json'); }

  /**
   * Opens the sidecar: the pod has an address before its container runs. The sidecar has no
   * upstream until the container has bound its port and said so (connections are refused).
   */
  async openSidecar(): Promise<void> {
    this.sidecar.inbound.setTarget(0);
    const ports = await this.sidecar.start(this.template.outbound);
    this.inboundPort = ports.inbound;
    this.outboundPorts = ports.outbound;
  }

  /** Starts the container (after the sidecar, as Istio's holdApplicationUntilProxyStarts asks). */
  startContainer(): void {
    if (!this.terminating) this.spawnContainer();
  }

  /** Its traffic out goes through its sidecar: NATS and the database tier at the sidecar's outbound ports. */
  private env(): NodeJS.ProcessEnv {
    const t = this.template;
    const lb = this.outboundPorts.lb;
    return serviceEnv({
      manifest: t.env, pod: { name: this.name, node: this.node, zone: this.zone }, portFile: this.portFile,
      natsUrl: `nats://127.0.0.1:${this.outboundPorts.nats}`, ...(lb === undefined ? {} : { dbUrl: `http://127.0.0.1:${lb}` }),
      ...t.runEnv,
    });
  }

  private spawnContainer(): void {
    if (this.registry.closed) return;
    this.forgetPort();
    const dir = this.dir;
    mkdirSync(dir, { recursive: true });
    rmSync(this.portFile, { force: true });
    const user = this.template.runAs;
    const env = user ? { ...this.env(), ...preparePodDir(dir, user, this.template.runEnv.secretsFile) } : this.env();
    const child = spawnService(this.name, this.template.service, env, this.log, user);
    this.child = child;
    this.startedAt = Date.now();
    this.phase = 'Running';
    this.registry.track(child);
    this.emit('change', this);
    void child.exited.then(() => this.onContainerExit(child));
    this.scheduleProbe(0);
  }

  private onContainerExit(child: Child): void {
    if (this.child !== child) return;
    this.forgetPort();
    this.setReady(false);
    if (this.terminating) {
      this.phase = child.exitStatus?.code === 0 ? 'Succeeded' : 'Failed';
      this.emit('exit', this);
      return;
    }
    if (this.failed) {
      // Chaos Mesh's pod-failure swaps the image for `pause`: the kubelet restarts the
      // container, which then runs nothing — the pod stays Running and never gets ready.
      this.restarts += 1;
      this.emit('change', this);
      return;
    }
    // restartPolicy: Always — the kubelet restarts the container in the same pod.
    this.restarts += 1;
    const crashLooping = Date.now() - this.startedAt < CRASH_LOOP_WINDOW_MS;
    const delay = crashLooping ? this.backoffMs : this.template.restartBackoffMs;
    this.backoffMs = crashLooping ? Math.min(this.backoffMs * 2, this.template.restartBackoffMaxMs) : this.template.restartBackoffMs;
    this.emit('change', this);
    this.restartTimer = setTimeout(() => { if (!this.terminating) this.spawnContainer(); }, delay);
  }

  private scheduleProbe(delayMs: number): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => void this.probe(), delayMs);
  }

  /** The container is gone: nothing may be routed to the port it had (another process may take it). */
  private forgetPort(): void {
    this.port = 0;
    this.sidecar.inbound.setTarget(0);
    this.announceRoute();
  }

  /** Reads the port the running container reported, if it is this container's (same pid). */
  private learnPort(child: Child): boolean {
    const port = reportedPort(this.portFile, child, this.name);
    if (port === undefined) return false;
    this.port = port;
    child.ports.push(port);
    this.sidecar.inbound.setTarget(port);
    this.registry.changed();
    this.announceRoute();
    return true;
  }

  private async probe(): Promise<void> {
    this.probeTimer = undefined;
    const child = this.child;
    if (this.terminating || !child?.running) return;
    if (this.port === 0 && !this.learnPort(child)) {
      this.scheduleProbe(this.template.startupProbePeriodMs);
      return;
    }
    // Identity, not only health: a pod is ready only when its port answers with its own name.
    const ok = await httpOk(this.port, this.template.readinessPath, Math.min(1_000, this.template.probePeriodMs), this.name);
    if (this.terminating || this.child !== child || !child.running) return;
    if (ok) this.everReady = true;
    this.setReady(ok && !this.unreachable);
    this.scheduleProbe(this.everReady ? this.template.probePeriodMs : this.template.startupProbePeriodMs);
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.emit('change', this);
  }

  /** Zone outage on (true) or over: the pod's traffic is cut in the sidecar, its readiness follows. */
  setUnreachable(unreachable: boolean): void {
    this.unreachable = unreachable;
    if (unreachable) {
      // An override, so that network chaos set on the pod is still there when the zone comes back.
      this.sidecar.setOverride({ partition: 'refuse' });
      this.setReady(false);
    } else {
      this.sidecar.setOverride(undefined);
      this.scheduleProbe(0);
    }
  }

  /**
   * pod-failure: stops the container as a kubelet stops one whose image changed (SIGTERM,
   * SIGKILL after the grace period) and keeps it stopped; the pod, its name, node and
   * address stay. Resolves once the process has exited.
   */
  async failContainer(graceMs = this.template.terminationGraceMs): Promise<void> {
    if (this.terminating) throw new Error(`pod ${this.name} is terminating`);
    this.failed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.setReady(false);
    const child = this.child;
    if (child?.running) {
      child.signal('SIGCONT');
      await child.stop(graceMs);
    }
  }

  /** Ends a pod-failure: the container starts again in the same pod (restarts + 1). */
  recoverContainer(): void {
    if (!this.failed) return;
    this.failed = false;
    if (this.terminating || this.child?.running) return;
    this.restarts += 1;
    this.spawnContainer();
  }

  /** Sends a signal to the container; if it dies, the kubelet part restarts it in place. */
  signal(signal: NodeJS.Signals): void {
    if (!this.child?.running) throw new Error(`pod ${this.name} has no running container`);
    this.child.signal(signal);
  }

  /** Marks the pod terminating (synchronously, so a controller counting pods sees it at once). */
  beginTermination(): void {
    if (this.terminating) return;
    this.terminating = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.ready = false;
    this.emit('change', this);
  }

  /**
   * The container's part of a deletion: not ready, SIGTERM, SIGKILL after `graceMs`, then the
   * sidecar goes (it outlives the app's connections, as Istio's EXIT_ON_ZERO_ACTIVE_CONNECTIONS).
   */
  async stop(graceMs: number): Promise<void> {
    this.beginTermination();
    const child = this.child;
    if (child?.running) {
      // Resume a stopped (SIGSTOP) container, or SIGTERM would wait for the grace period.
      child.signal('SIGCONT');
      await child.stop(graceMs);
    } else {
      this.phase = 'Succeeded';
    }
    await this.sidecar.close();
  }

  info(routable = this.ready, lbAddress?: string): LocalPodInfo {
    const user = this.child?.running ? processUser(this.child.pid) : undefined;
    return {
      routable, ...(lbAddress === undefined ? {} : { lbAddress }),
      name: this.name, workload: this.template.workload, labels: this.template.labels, address: this.address,
      zone: this.zone, node: this.node, ready: this.ready, phase: this.phase, terminating: this.terminating,
      restarts: this.restarts, createdAt: this.createdAt, log: this.log,
      ...(this.child?.running ? { pid: this.child.pid } : {}),
      ...(user ? { user } : {}),
    };
  }
}

/**
 * One HTTP GET without keep-alive, as a kubelet probe makes it: true on 2xx/3xx from the
 * expected pod (`x-served-by`), so a port some other process took over is never ready.
 */
function httpOk(port: number, path: string, timeoutMs: number, expectedPod: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400 && res.headers[SERVED_BY_HEADER] === expectedPod);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
