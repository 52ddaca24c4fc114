import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { Mutex } from 'async-mutex';
import { REPO_ROOT } from '../../lib/repo.ts';
import { type PodUserSupport, mountPodSecret, podUserSupport } from './components/pod-user.ts';
import { preserveLogs } from './process/failed-runs.ts';
import { join } from 'node:path';
import { DB_SERVICE, NAMESPACE, NATS, PROMETHEUS } from '../../lib/names.ts';
import type { PodPeer } from '../manifests/network-policy.ts';
import { type EgressDestination, outboundLinks, probeConnection } from './network/egress-policy.ts';
import type { RenderedManifests, WorkloadSpec } from '../manifests.ts';
import { findObject, renderOverlay } from '../manifests/render.ts';
import { containerPorts, podSpecOf, workloads } from '../manifests/workloads.ts';
import { type ProfileName, type RuntimeSettings, runtimeSettings, unreadyGraceMs } from '../../lib/time.ts';
import { activateIssuerKey, ensureSecretsFile, loadSecrets, publishIssuerKey, retireIssuerKey } from '../../reference-services/shared/secrets.ts';
import type { ClusterEndpoints, FlowProbe, IssuerKeys, NodeInfo, WorkloadInfo, ZoneInfo } from '../target.ts';
import { type Child, hostEnv } from './process/child.ts';
import { ChildRegistry } from './process/child-registry.ts';
import { type PodOps, WorkloadController } from './control/controller.ts';
import type { LbPool } from './network/lb-pool.ts';
import { LocalMesh } from './network/mesh.ts';
// Not the cluster/manifests.ts barrel: it also loads the schema validator (kubernetes-models), 600 ms of start-up the daemon does not need.
import { LocalNatsCluster } from './components/nats.ts';
import { type ComponentHealth, Supervisor } from './process/supervisor.ts';
import { Fatal, eventually } from '../../lib/poll.ts';
import { RUN_MARKER_ENV, logDir, logFile } from './process/paths.ts';
import { type LocalPodInfo, Pod, type PodTemplate } from './components/pod.ts';
import { processIdentity } from './process/proc-identity.ts';
import { LocalPrometheus, type ScrapeJob } from './components/prometheus.ts';
import { type LocalState, type ProcessRef, type RecordedProcess, writeState } from './process/state.ts';
import { Topology } from './components/topology.ts';
import type { LocalAutoscaling } from './control/autoscaling.ts';
import { ChaosExecutor } from '../chaos/executor.ts';
import { UnsupportedOnLocal } from '../chaos/selector.ts';
import { cgroupSupport, sweepCgroups } from './process/cgroups.ts';
import { PodStress, type StressPlan, stressCgroupName } from './process/pod-stress.ts';
import { containerLimits } from './process/container-limits.ts';

export interface RuntimeConfig {
  runDir: string;
  stateDir: string;
  profile: ProfileName;
  /**
   * Replicas at start by workload name, overriding the manifests (whose databases and workers
   * start at 0, KEDA's to raise). A workload a ScaledObject scales is held at its count: the
   * ScaledObject starts paused (`autoscaling.keda.sh/paused-replicas`) until resumed.
   */
  replicas: Record<string, number>;
  /** See LocalState.owner. */
  owner?: ProcessRef;
}

export interface ProgressEvent {
  step: string;
  ms: number;
  detail?: string;
}

/** A start-up failure that names the component and where its log is. */
export class ComponentError extends Fatal {
  constructor(readonly component: string, readonly log: string, message: string) {
    super(`${component} failed: ${message}`);
    this.name = 'ComponentError';
  }
}

export interface ComponentInfo {
  name: string;
  /** Supervised parts of the cluster (NATS servers, Prometheus, HAProxy): up, down or starting, and restarts. */
  state?: ComponentHealth['state'];
  restarts?: number;
  lastExit?: string;
  /** -1 while it has no running process. */
  pid: number;
  ports: number[];
  log: string;
  rssBytes: number;
}

/** Everything `status` shows. */
export interface LocalStatus {
  profile: ProfileName;
  phase: LocalState['phase'];
  runDir: string;
  startedAt: number;
  endpoints: ClusterEndpoints;
  workloads: WorkloadInfo[];
  pods: LocalPodInfo[];
  nodes: NodeInfo[];
  zones: ZoneInfo[];
  components: ComponentInfo[];
  /** RSS of the daemon and every process it runs: the whole local cluster's memory. */
  totalRssBytes: number;
}

const SCRAPE_JOB: Record<WorkloadSpec['service'], ScrapeJob> = { 'db-node': 'db-node', worker: 'worker', gateway: 'gateway' };

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The embedded cluster, run inside the daemon: nats-server, Prometheus and HAProxy as
 * real processes, the reference services as pods of StatefulSets and Deployments read
 * from the rendered manifests, placed on emulated nodes and zones, each behind its own
 * sidecar; the activator holding requests while the database pool is at zero.
 */
const NO_POOLS: ReadonlyMap<string, LbPool> = new Map();

export class LocalRuntime implements PodOps {
  readonly settings: RuntimeSettings;
  /** Runs the experiments of `chaos/` (control API /chaos). */
  readonly chaos: ChaosExecutor;
  readonly registry: ChildRegistry;
  readonly topology = new Topology();
  readonly controllers = new Map<string, WorkloadController>();
  private readonly templates = new Map<string, PodTemplate>();
  private readonly specs = new Map<string, WorkloadSpec>();
  /** Whether pods run as the manifests' users (T4.4 checks the live pods then), or why not. */
  private podUsers: PodUserSupport = { enforced: false, reason: 'the pods are not started yet' };
  /** Pods HAProxy routes to: ready, and told so through the runtime API. */
  private readonly routable = new Set<string>();
  private readonly lbChains = new Map<string, Promise<void>>();
  private readonly waiters = new Set<{ workload: string; resolve: (ok: boolean) => void }>();
  private readonly deletions = new Map<Pod, Promise<void>>();
  private manifests!: RenderedManifests;
  /** KEDA and the HPA over the rendered ScaledObjects: started by the daemon once the cluster is ready. */
  autoscaling: LocalAutoscaling | undefined;
  nats: LocalNatsCluster | undefined;
  /** Prometheus and HAProxy, restarted like a Deployment's pod when they die. */
  private readonly supervisors = new Map<string, Supervisor>();
  prometheus: LocalPrometheus | undefined;
  /** HAProxy, the activators and the pools: the data path in front of the pods. */
  mesh: LocalMesh | undefined;
  secretsFile: string;
  phase: LocalState['phase'] = 'starting';
  readonly startedAt = Date.now();
  control: { url: string; token: string; port: number } | undefined;
  private stopping: Promise<void> | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private downGraceCap = Number.POSITIVE_INFINITY;
  private readonly daemonLog: string;

  /**
   * What happens when a request finds the pool at zero (KEDA's activation). The default
   * scales 0 → 1; the autoscaler replaces it with `setDemandHandler`.
   */
  private demandHandler: (workload: string) => void = (workload) => {
    const c = this.controllers.get(workload);
    if (c && c.desired === 0) {
      this.log(`activation: demand for ${workload} at zero replicas, scaling to 1`);
      c.scale(1);
      this.saveState();
    }
  };

  constructor(readonly config: RuntimeConfig) {
    this.settings = runtimeSettings(config.profile);
    this.chaos = new ChaosExecutor(this);
    this.registry = new ChildRegistry(() => this.saveState());
    this.secretsFile = join(config.runDir, 'secrets.json');
    this.daemonLog = logFile(config.runDir, 'daemon');
  }

  setDemandHandler(handler: (workload: string) => void): void { this.demandHandler = handler; }

  /** The manifests this cluster runs (rendered once at start). */
  get rendered(): RenderedManifests { return this.manifests; }

  log(message: string, extra?: unknown): void {
    process.stdout.write(`${new Date().toISOString()} ${message}${extra === undefined ? '' : ` ${extra instanceof Error ? extra.stack : JSON.stringify(extra)}`}\n`);
  }

  private get markerEnv(): NodeJS.ProcessEnv {
    return { ...hostEnv(), [RUN_MARKER_ENV]: this.config.runDir };
  }

  /** HAProxy pools by workload: database tiers and gateways (workers take no traffic). */
  private get pools(): ReadonlyMap<string, LbPool> { return this.mesh?.pools ?? NO_POOLS; }

  private checkNotStopping(): void {
    if (this.stopping) throw new Fatal('start-up interrupted: the cluster is shutting down');
  }

  /** Starts everything; `progress` hears each step as it completes. */
  async start(progress: (e: ProgressEvent) => void): Promise<void> {
    mkdirSync(logDir(this.config.runDir), { recursive: true });
    const step = async <T>(name: string, component: string, log: string, run: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
      this.checkNotStopping();
      const t0 = performance.now();
      try {
        const value = await run();
        progress({ step: name, ms: Math.round(performance.now() - t0), ...(detail ? { detail: detail(value) } : {}) });
        return value;
      } catch (err) {
        if (err instanceof ComponentError) throw err;
        throw new ComponentError(component, log, err instanceof Error ? err.message : String(err));
      }
    };

    // Rendering runs while Prometheus starts; NATS needs its server count from the manifests.
    const rendered = step('manifests', 'manifests', this.daemonLog, async () => {
      this.manifests = await renderOverlay(this.config.profile);
      ensureSecretsFile(this.secretsFile);
      for (const spec of workloads(this.manifests)) this.specs.set(spec.name, spec);
      if (this.specs.size === 0) throw new Error('the rendered manifests contain no workload of ours');
    }, () => `${this.config.profile} overlay, ${this.specs.size} workloads`);
    const nats = rendered.then(() => step('nats (JetStream cluster)', 'nats-server', logFile(this.config.runDir, 'nats-0'), async () => {
      this.nats = await LocalNatsCluster.start(this.config.runDir, {
        replicas: this.natsReplicas(), env: this.markerEnv, registry: this.registry,
        backoffMs: this.settings.restartBackoffMs, backoffMaxMs: this.settings.restartBackoffMaxMs,
        log: (m) => this.log(m), onChange: () => this.saveState(),
      });
      return this.nats;
    }, (n) => `${n.nodes.length} servers, ${n.url}`));
    const prometheus = step('prometheus', 'prometheus', logFile(this.config.runDir, 'prometheus'), async () => {
      const prom = await LocalPrometheus.start(this.config.runDir, this.settings.scrapeIntervalSeconds, this.markerEnv, this.registry);
      this.supervise('prometheus', prom.child, () => prom.launch(this.markerEnv, this.registry));
      return (this.prometheus = prom);
    }, (p) => p.url);
    await Promise.all([rendered, nats, prometheus]);

    await step('haproxy + activator', 'haproxy', logFile(this.config.runDir, 'haproxy'), async () => {
      const mesh = await LocalMesh.start({
        runDir: this.config.runDir, manifests: this.manifests, specs: this.specs.values(), zones: this.topology.zones,
        settings: this.settings, env: this.markerEnv, registry: this.registry, secretsFile: this.secretsFile,
        activation: {
          hasRoutablePod: (w) => this.routablePods(w).length > 0,
          waitForRoutablePod: (w, ms) => this.waitForRoutable(w, ms),
          routablePodAddress: (w) => this.routablePods(w)[0]?.address,
          onDemand: (w) => this.demandHandler(w),
        },
        log: (message, err) => this.log(message, err),
      });
      this.mesh = mesh;
      this.supervise('haproxy', mesh.child, () => mesh.relaunch(), () => mesh.replay());
      for (const { job, name, target } of mesh.scrapeTargets()) this.prometheus!.setTarget(job, name, target);
      return mesh;
    }, (m) => m.dbFrontendUrl ?? [...m.pools.keys()].map((w) => m.frontendUrl(w))[0] ?? '');

    this.buildTemplates();
    await step('pods', 'pods', this.daemonLog, async () => {
      for (const spec of this.specs.values()) {
        const raw = findObject(this.manifests, spec.kind, spec.name);
        const replicas = this.config.replicas[spec.name] ?? spec.replicas;
        const controller = new WorkloadController(spec.name, spec.kind, replicas, raw.spec?.podManagementPolicy === 'Parallel' || spec.kind === 'Deployment',
          JSON.stringify(raw.spec?.template ?? {}), this, (err) => this.log(`controller ${spec.name}: pod creation failed`, err));
        this.controllers.set(spec.name, controller);
        controller.reconcile();
      }
      this.saveState();
      await this.waitAllReady(this.settings.podsReadyMs);
    }, () => [...this.controllers.values()].map((c) => `${c.name}=${c.readyReplicas}`).join(' '));
    this.phase = 'ready';
    this.saveState();
  }

  /** Servers of the NATS StatefulSet in the manifests (3: JetStream replicates every stream 3×). */
  private natsReplicas(): number {
    return Number(findObject(this.manifests, 'StatefulSet', 'nats').spec?.replicas ?? 1);
  }

  private supervise(name: string, first: Child, launch: () => Promise<Child>, onRestarted?: () => Promise<void>): void {
    const supervisor = new Supervisor(name, launch, {
      backoffMs: this.settings.restartBackoffMs, backoffMaxMs: this.settings.restartBackoffMaxMs,
      log: (m) => this.log(m), onChange: () => this.saveState(), ...(onRestarted ? { onRestarted } : {}),
    });
    supervisor.adopt(first);
    this.supervisors.set(name, supervisor);
  }

  /** Every part of the cluster that is not a pod, and how it is doing. */
  componentHealth(): ComponentHealth[] {
    return [...(this.nats?.health ?? []), ...[...this.supervisors.values()].map((s) => s.status)];
  }

  private buildTemplates(): void {
    const runEnv: PodTemplate['runEnv'] = {
      natsServers: this.nats!.nodes.length, secretsFile: this.secretsFile,
      // Locally the load balancer learns of a terminating pod at once (drained through its
      // runtime API) and checks /ready every `inter`: two checks of grace are enough.
      unreadyGraceMs: unreadyGraceMs(this.settings),
      extra: { [RUN_MARKER_ENV]: this.config.runDir },
    };
    const dbFrontendUrl = this.mesh?.dbFrontendUrl;
    // The pods' directories are entered by their users: the run dir is searchable, not listable.
    const podsDir = join(this.config.runDir, 'pods');
    mkdirSync(podsDir, { recursive: true });
    for (const d of [this.config.runDir, podsDir]) chmodSync(d, 0o711);
    const users = [...this.specs.values()].map((s) => s.runAs);
    this.podUsers = podUserSupport(users.find((u) => u), { code: REPO_ROOT, pods: podsDir });
    if (!this.podUsers.enforced) this.log(`pods run as the runtime's user: ${this.podUsers.reason}`);
    const destinations = this.egressDestinations();
    const natsClient = destinations.find((d) => d.workload === NATS && d.name.endsWith(`:${this.natsClientPort()}`))!;
    const dbTiers = destinations.filter((d) => this.specs.get(d.workload)?.service === 'db-node');
    for (const spec of this.specs.values()) {
      const raw = findObject(this.manifests, spec.kind, spec.name);
      const container = (podSpecOf(raw)?.containers ?? []).find((c: { readinessProbe?: unknown }) => c.readinessProbe);
      const periodSeconds = Number(container?.readinessProbe?.periodSeconds ?? 10);
      const limits = containerLimits(container?.resources?.limits, `${spec.kind}/${spec.name}`);
      // The pod's own links: NATS's client port, and for a worker the database Service (every tier behind the load balancer).
      const own: EgressDestination[] = [{ ...natsClient, name: 'nats' }];
      if (spec.service === 'worker' && dbFrontendUrl) {
        const lbPort = Number(new URL(dbFrontendUrl).port);
        own.push({ name: 'lb', workload: DB_SERVICE, to: dbTiers.flatMap((t) => t.to), port: dbTiers[0]!.port, resolve: () => [lbPort] });
      }
      const outbound = outboundLinks(this.manifests, { namespace: NAMESPACE, labels: spec.labels }, [...own, ...destinations]);
      for (const [name, link] of Object.entries(outbound)) if (link.deniedBy && own.some((o) => o.name === name)) this.log(`${spec.name}: its own link ${name} is refused: ${link.deniedBy}`);
      this.templates.set(spec.name, {
        workload: spec.name, service: spec.service, labels: spec.labels, env: spec.env, readinessPath: spec.readinessPath,
        probePeriodMs: Math.min(periodSeconds * 1000, this.settings.maxProbePeriodMs),
        startupProbePeriodMs: this.settings.startupProbePeriodMs,
        terminationGraceMs: spec.terminationGracePeriodSeconds * 1000,
        outbound, runEnv,
        restartBackoffMs: this.settings.restartBackoffMs, restartBackoffMaxMs: this.settings.restartBackoffMaxMs,
        ...(this.podUsers.enforced && spec.runAs ? { runAs: spec.runAs } : {}),
        ...(limits ? { limits } : {}),
      });
    }
  }

  /**
   * Every port of the cluster a pod could connect to, as `<workload>:<containerPort>`, with
   * where it is locally: our pods serve every port on their sidecar's inbound port; NATS
   * has one local port per server and purpose; Prometheus one.
   */
  private egressDestinations(): EgressDestination[] {
    const peer = (kind: string, name: string): PodPeer => ({ namespace: NAMESPACE, labels: { ...(findObject(this.manifests, kind, name).spec?.template?.metadata?.labels ?? {}) } });
    const readyPods = (workload: string) => () => (this.controllers.get(workload)?.active ?? []).filter((p) => p.ready).map((p) => p.inboundPort);
    const upNats = (portOf: (n: { port: number; monitorPort: number; clusterPort: number }) => number) => () =>
      (this.nats?.nodes ?? []).filter((n) => n.supervisor.status.state === 'up').map(portOf);
    // NATS's ports by their names in the manifests.
    const natsPorts: Record<string, () => number[]> = { client: upNats((n) => n.port), monitoring: upNats((n) => n.monitorPort), cluster: upNats((n) => n.clusterPort) };
    const out: EgressDestination[] = [];
    const add = (kind: string, workload: string, resolve: (portName?: string) => () => number[]) => {
      for (const { port, name } of containerPorts(this.manifests, kind, workload)) out.push({ name: `${workload}:${port}`, workload, to: [peer(kind, workload)], port, resolve: resolve(name) });
    };
    for (const spec of this.specs.values()) add(spec.kind, spec.name, () => readyPods(spec.name));
    add('StatefulSet', NATS, (portName) => natsPorts[portName ?? ''] ?? (() => []));
    add('Deployment', PROMETHEUS, () => () => (this.prometheus ? [Number(new URL(this.prometheus.url).port)] : []));
    return out;
  }

  /** NATS's client port as the manifests declare it (the one the policies name). */
  private natsClientPort(): number {
    const client = containerPorts(this.manifests, 'StatefulSet', NATS).find((p) => p.name === 'client');
    if (!client) throw new Error(`the manifests' ${NATS} StatefulSet declares no container port named "client"`);
    return client.port;
  }

  private async waitAllReady(timeoutMs: number): Promise<void> {
    await eventually('every workload at its replicas, all ready', () => {
      this.checkNotStopping();
      for (const pod of this.allPods()) {
        // A pod that keeps crashing during start-up will not get better: name it.
        if (pod.restarts >= 2 && !pod.ready) throw new ComponentError(pod.name, pod.log, `container exited ${pod.restarts} times during start-up`);
      }
      // What is still missing, by workload: what a timeout reports as last seen.
      return [...this.controllers.values()].flatMap((c) => {
        const unroutable = this.pools.has(c.name) ? c.active.filter((p) => !this.routable.has(p.name)).length : 0;
        return c.active.length === c.desired && c.readyReplicas === c.desired && unroutable === 0
          ? [] : [`${c.name} ${c.readyReplicas}/${c.desired} ready${unroutable ? `, ${unroutable} not routable` : ''}`];
      });
    }, (missing) => missing.length === 0, { timeoutMs, intervalMs: 25 }).catch((err: Error) => {
      if (err instanceof Fatal) throw err;
      const notReady = this.allPods().find((p) => !p.ready);
      if (notReady) throw new ComponentError(notReady.name, notReady.log, err.message);
      throw err;
    });
  }

  // ---- pods -------------------------------------------------------------------------

  allPods(): Pod[] { return [...this.controllers.values()].flatMap((c) => [...c.pods.values()]); }

  findPod(name: string): Pod | undefined {
    for (const c of this.controllers.values()) {
      const pod = c.pods.get(name);
      if (pod) return pod;
    }
    return undefined;
  }

  private routablePods(workload: string): Pod[] {
    return [...(this.controllers.get(workload)?.pods.values() ?? [])].filter((p) => this.routable.has(p.name) && p.ready && !p.terminating);
  }

  private waitForRoutable(workload: string, timeoutMs: number): Promise<boolean> {
    if (this.routablePods(workload).length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { workload, resolve: (ok: boolean) => { clearTimeout(timer); this.waiters.delete(waiter); resolve(ok); } };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async createPod(controller: WorkloadController, name: string, ordinal?: number): Promise<Pod> {
    this.checkNotStopping();
    const template = this.templates.get(controller.name)!;
    const node = this.topology.place(controller.name, this.allPods().filter((p) => !p.terminating).map((p) => ({ workload: p.template.workload, node: p.node })));
    const pod = new Pod(name, template, node, this.topology.zoneOf(node), this.config.runDir, this.registry, ordinal);
    // Known to the controller (and so to the scheduler) before the first await: pods created
    // concurrently must see each other to spread.
    controller.pods.set(name, pod);
    pod.on('change', () => { this.syncLoadBalancer(pod); controller.podChanged(); this.saveState(); });
    pod.on('route', () => this.syncRoute(pod));
    const backend = this.pools.get(controller.name);
    try {
      await pod.openSidecar();
      if (backend) await backend.add(name, pod.lbAddress, pod.zone, ordinal === undefined ? undefined : ordinal + 1);
    } catch (err) {
      controller.pods.delete(name);
      await pod.sidecar.close().catch(() => undefined);
      throw err;
    }
    this.prometheus?.setTarget(SCRAPE_JOB[template.service], name, {
      address: pod.address,
      labels: {
        namespace: NAMESPACE, pod: name, node: pod.node, zone: pod.zone, workload: controller.name,
        ...Object.fromEntries(Object.entries(template.labels).map(([k, v]) => [k.replace(/[^a-zA-Z0-9_]/g, '_'), v])),
      },
    });
    pod.startContainer();
    this.log(`pod ${name} created on ${node} (${pod.zone}), address ${pod.address}`);
    return pod;
  }

  /** Keeps HAProxy's view of the pod in step with its readiness, one change at a time. */
  private syncLoadBalancer(pod: Pod): void {
    const backend = this.pools.get(pod.template.workload);
    const prev = this.lbChains.get(pod.name) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (pod.terminating) { this.routable.delete(pod.name); return; }
      const want = pod.ready;
      if (!backend) {
        if (want) this.routable.add(pod.name); else this.routable.delete(pod.name);
        return;
      }
      if (want && !this.routable.has(pod.name)) {
        await backend.ready(pod.name);
        this.routable.add(pod.name);
      } else if (!want && this.routable.has(pod.name)) {
        this.routable.delete(pod.name);
        await backend.notReady(pod.name);
      }
    }).catch((err) => this.log(`haproxy update for ${pod.name} failed`, err)).finally(() => this.wakeWaiters(pod.template.workload));
    this.lbChains.set(pod.name, next);
  }

  /** Points HAProxy at the pod's container or its sidecar (Pod.lbAddress), in order with its readiness changes. */
  private syncRoute(pod: Pod): void {
    const backend = this.pools.get(pod.template.workload);
    if (!backend) return;
    const prev = this.lbChains.get(pod.name) ?? Promise.resolve();
    const next = prev.then(() => backend.setAddress(pod.name, pod.lbAddress))
      .catch((err) => this.log(`haproxy address of ${pod.name} not set`, err));
    this.lbChains.set(pod.name, next);
  }

  /**
   * Resolves once HAProxy has every change queued so far for these pods: a fault call
   * answers only when the load balancer sends new requests through the faulty sidecar.
   */
  async loadBalancerSettled(pods: Iterable<string>): Promise<void> {
    await Promise.all([...pods].map((name) => this.lbChains.get(name)));
  }

  private wakeWaiters(workload: string): void {
    if (!this.routablePods(workload).length) return;
    for (const w of [...this.waiters]) if (w.workload === workload) w.resolve(true);
  }

  /** Graceful deletion, once per pod: out of the load balancer, SIGTERM, grace, SIGKILL, gone. */
  deletePod(pod: Pod, graceMs?: number): Promise<void> {
    let deletion = this.deletions.get(pod);
    if (!deletion) {
      deletion = this.runDeletion(pod, graceMs).finally(() => this.deletions.delete(pod));
      this.deletions.set(pod, deletion);
    }
    return deletion;
  }

  private async runDeletion(pod: Pod, graceMs?: number): Promise<void> {
    pod.beginTermination();
    this.routable.delete(pod.name);
    // A ReplicaSet replaces a terminating pod at once; a StatefulSet waits for the name to be free.
    if (!this.stopping) this.controllers.get(pod.template.workload)?.reconcile();
    const backend = this.pools.get(pod.template.workload);
    const chain = this.lbChains.get(pod.name) ?? Promise.resolve();
    if (backend) await chain.then(() => backend.drain(pod.name)).catch((err) => this.log(`haproxy drain of ${pod.name} failed`, err));
    await pod.stop(Math.min(graceMs ?? pod.template.terminationGraceMs, this.downGraceCap));
    if (backend) await backend.remove(pod.name).catch((err) => this.log(`haproxy removal of ${pod.name} failed`, err));
    this.prometheus?.removeTarget(SCRAPE_JOB[pod.template.service], pod.name);
    this.lbChains.delete(pod.name);
    this.log(`pod ${pod.name} deleted (${pod.phase})`);
    this.controllers.get(pod.template.workload)?.podGone(pod);
    this.saveState();
  }

  // ---- operations (the control API calls these) -------------------------------------

  controller(workload: string): WorkloadController {
    const c = this.controllers.get(workload);
    if (!c) throw new NotFound(`no workload "${workload}" (have: ${[...this.controllers.keys()].join(', ')})`);
    return c;
  }

  /**
   * T4.5's live half: a connection from the pod to `<workload>:<port>` through the pod's
   * sidecar, where the NetworkPolicies are enforced. Refused means the policy refused it
   * (the sidecar counted it), not merely that nothing answered.
   */
  async probeFlow(podName: string, workload: string, port: number): Promise<FlowProbe> {
    const pod = this.pod(podName);
    const to = `${workload}:${port}`;
    const link = pod.sidecar.outbound.get(to);
    const localPort = pod.outboundPorts[to];
    if (!link || localPort === undefined) throw new NotFound(`the cluster has no port ${to} (its ports: ${[...pod.sidecar.outbound.keys()].filter((k) => k.includes(':')).join(', ')})`);
    const refusedBefore = link.refusedByPolicy;
    const outcome = await probeConnection(localPort, FLOW_PROBE_TIMEOUT_MS);
    if (link.refusedByPolicy > refusedBefore) return { from: podName, to, outcome: 'refused', detail: `refused by the sidecar: ${link.denied ?? 'policy'}` };
    if (outcome === 'answered') return { from: podName, to, outcome: 'allowed', detail: 'connected, and answered' };
    return { from: podName, to, outcome: 'unanswered', detail: `not refused by policy, but ${outcome === 'silent' ? `no answer within ${FLOW_PROBE_TIMEOUT_MS} ms` : `the connection was ${outcome} (nothing ready behind ${to}?)`}` };
  }

  pod(name: string): Pod {
    const p = this.findPod(name);
    if (!p) throw new NotFound(`no pod "${name}"`);
    return p;
  }

  scale(workload: string, replicas: number): void {
    this.controller(workload).scale(replicas);
    this.saveState();
  }

  killPod(name: string, signal: NodeJS.Signals): void {
    this.pod(name).signal(signal);
  }

  /**
   * StressChaos on one pod: the pod's container and the stress workers in a cgroup with the
   * container's limits. Refused (UnsupportedOnLocal, with the reason) where this process
   * cannot make cgroups: unconfined workers would stress every pod of the machine.
   */
  stressPod(name: string, plan: StressPlan): PodStress {
    const pod = this.pod(name);
    const support = cgroupSupport();
    if (!support.ok) throw new UnsupportedOnLocal(`StressChaos needs the pod's own cgroup, so that the stress takes the pod's CPU and memory and not every pod's on this machine: ${support.reason}`);
    const stress = PodStress.start({ pod, limits: pod.template.limits ?? {}, plan, runDir: this.config.runDir, env: this.markerEnv, registry: this.registry });
    this.log(`chaos: stressing ${name} in cgroup ${stress.cgroup.name} (limits ${JSON.stringify(pod.template.limits ?? {})}): ${JSON.stringify(plan)}`);
    return stress;
  }

  deletePodByName(name: string, gracePeriodSeconds?: number): void {
    void this.deletePod(this.pod(name), gracePeriodSeconds === undefined ? undefined : gracePeriodSeconds * 1000);
  }

  cordonNode(node: string): void {
    if (!this.topology.hasNode(node)) throw new NotFound(`no node "${node}"`);
    this.topology.setCordoned(node, true);
  }

  async drainNode(node: string, timeoutMs: number): Promise<void> {
    this.cordonNode(node);
    const deadline = Date.now() + timeoutMs;
    for (const pod of this.allPods().filter((p) => p.node === node && !p.terminating)) {
      const controller = this.controller(pod.template.workload);
      await this.deletePod(pod);
      await eventually(`${controller.name} back to ${controller.desired} ready pods after evicting ${pod.name}`,
        () => ({ active: controller.active.length, ready: controller.readyReplicas }),
        ({ active, ready }) => active >= controller.desired && ready >= controller.desired, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 25 });
    }
  }

  uncordonNode(node: string): void {
    if (!this.topology.hasNode(node)) throw new NotFound(`no node "${node}"`);
    this.topology.setCordoned(node, false);
  }

  async failZone(zone: string): Promise<void> {
    if (!this.topology.hasZone(zone)) throw new NotFound(`no zone "${zone}"`);
    this.topology.setZoneFailed(zone, true);
    const pods = this.allPods().filter((p) => p.zone === zone);
    for (const pod of pods) pod.setUnreachable(true);
    await this.loadBalancerSettled(pods.map((p) => p.name));
  }

  async restoreZone(zone: string): Promise<void> {
    if (!this.topology.hasZone(zone)) throw new NotFound(`no zone "${zone}"`);
    this.topology.setZoneFailed(zone, false);
    const pods = this.allPods().filter((p) => p.zone === zone);
    for (const pod of pods) pod.setUnreachable(false);
    await this.loadBalancerSettled(pods.map((p) => p.name));
  }

  /** The issuer's keys in the cluster's secrets: every kid the JWKS holds, and the one that signs. */
  issuerKeys(): IssuerKeys {
    const secrets = loadSecrets({ PERCOLATE_SECRETS_FILE: this.secretsFile });
    return { current: secrets.currentIssuerKid, kids: secrets.issuerKeys.map((k) => k.kid) };
  }

  /**
   * Rotates the token issuer's key, in the order an identity provider publishes a JWKS: the
   * new key is first added to the secret that the pods mount and to the edge (HAProxy
   * reloads with it), and only then signs. A verifier never meets a kid it cannot know, and
   * the keys before it still verify until retired.
   */
  rotateIssuerKey(): Promise<IssuerKeys> {
    return this.issuerChange.runExclusive(async () => {
      const fresh = publishIssuerKey(this.secretsFile);
      await this.distributeSecrets();
      activateIssuerKey(this.secretsFile, fresh.kid);
      // The services sign with it once they read the file again (ISSUER_KEYS_REFRESH_MS).
      this.mountSecrets();
      return this.issuerKeys();
    });
  }

  /** Removes a key from the JWKS: tokens it signed are refused at the edge at once, and by every service within ISSUER_KEYS_REFRESH_MS. */
  retireIssuerKey(kid: string): Promise<IssuerKeys> {
    return this.issuerChange.runExclusive(async () => {
      retireIssuerKey(this.secretsFile, kid);
      await this.distributeSecrets();
      return this.issuerKeys();
    });
  }

  /** One rotation or retirement at a time: each reads the secrets file the last one wrote. */
  private readonly issuerChange = new Mutex();

  /** The secret as each pod mounts it (pods run as their own users read a copy of their own). */
  private mountSecrets(): void {
    for (const pod of this.allPods()) {
      const user = pod.template.runAs;
      // A pod whose container has not started yet copies the secret when it does.
      if (user && existsSync(pod.dir)) mountPodSecret(pod.dir, user, this.secretsFile);
    }
  }

  private async distributeSecrets(): Promise<void> {
    this.mountSecrets();
    await this.mesh?.reloadEdgeKeys();
  }

  podLogs(name: string, maxBytes = 1 << 20): string {
    const pod = this.findPod(name);
    const file = pod?.log ?? (/^[a-z0-9-]+$/.test(name) ? logFile(this.config.runDir, name) : undefined);
    if (!file) throw new NotFound(`no pod "${name}"`);
    try {
      const text = readFileSync(file, 'utf8');
      return text.length > maxBytes ? text.slice(-maxBytes) : text;
    } catch {
      throw new NotFound(`no log for "${name}"`);
    }
  }

  endpoints(): ClusterEndpoints {
    const mesh = this.mesh;
    const h = mesh?.haproxy;
    const gateway = [...this.specs.values()].find((s) => s.service === 'gateway')?.name;
    return {
      loadBalancerUrl: mesh?.dbFrontendUrl ?? '',
      zonalLoadBalancerUrls: mesh?.zonalFrontendUrls(this.topology.zones) ?? {},
      gatewayUrl: h && gateway ? h.frontendUrl(gateway) : '',
      natsUrl: this.nats?.url ?? '',
      natsMonitoringUrl: this.nats?.monitoringUrl ?? '',
      prometheusUrl: this.prometheus?.url ?? '',
      extra: {
        ...(h ? { haproxyStats: `${h.statsUrl}/stats`, haproxyMetrics: `${h.statsUrl}/metrics` } : {}),
        ...Object.fromEntries([...(mesh?.activators ?? [])].map(([w, a]) => [`activator:${w}`, a.url])),
        ...Object.fromEntries((this.nats?.nodes ?? []).map((n) => [`natsMonitoring:${n.name}`, this.nats!.monitoringUrlOf(n)])),
        ...(this.control ? { control: this.control.url } : {}),
      },
    };
  }

  status(): LocalStatus {
    const health = new Map(this.componentHealth().map((h) => [h.name, h]));
    const running = new Map(this.registry.all.map((c) => [c.name, c]));
    const components: ComponentInfo[] = [
      { name: 'daemon', pid: process.pid, ports: this.daemonPorts(), log: this.daemonLog, rssBytes: process.memoryUsage().rss },
      // A supervised part is listed while it is down too: `status` must show what is missing.
      ...[...health.values()].map((h) => {
        const c = running.get(h.name);
        return {
          name: h.name, state: h.state, restarts: h.restarts, ...(h.lastExit ? { lastExit: h.lastExit } : {}),
          pid: c?.pid ?? -1, ports: c?.ports ?? [], log: c?.log ?? logFile(this.config.runDir, h.name), rssBytes: c ? rssOf(c.pid) : 0,
        };
      }),
      ...this.registry.all.filter((c) => !health.has(c.name)).map((c) => ({ name: c.name, pid: c.pid, ports: c.ports, log: c.log, rssBytes: rssOf(c.pid) })),
    ];
    return {
      profile: this.config.profile, phase: this.phase, runDir: this.config.runDir, startedAt: this.startedAt,
      endpoints: this.endpoints(),
      workloads: [...this.controllers.values()].map((c) => c.info()),
      pods: this.allPods().map((p) => {
        const pool = this.pools.get(p.template.workload);
        return p.info(pool ? this.routable.has(p.name) && p.ready : p.ready, pool?.addressOf(p.name));
      }),
      nodes: this.topology.nodeInfos(),
      zones: this.topology.zoneInfos(),
      components,
      totalRssBytes: components.reduce((sum, c) => sum + c.rssBytes, 0),
    };
  }

  private daemonPorts(): number[] {
    return [
      ...(this.control ? [this.control.port] : []),
      ...[...(this.mesh?.activators.values() ?? [])].map((a) => a.port),
      ...this.allPods().flatMap((p) => p.sidecar.links.map((l) => l.port)),
    ].filter((p) => p > 0);
  }

  // ---- state and shutdown ----------------------------------------------------------

  stateSnapshot(): LocalState {
    return {
      version: 1, phase: this.phase,
      daemon: { pid: process.pid, identity: processIdentity(process.pid) ?? '', log: this.daemonLog },
      runDir: this.config.runDir, profile: this.config.profile, startedAt: this.startedAt,
      ...(this.control ? { control: { url: this.control.url, token: this.control.token } } : {}),
      secretsFile: this.secretsFile,
      endpoints: this.endpoints(),
      processes: this.registry.records() satisfies RecordedProcess[],
      ports: this.daemonPorts(),
      ...(this.config.owner ? { owner: this.config.owner } : {}),
      podUsers: this.podUsers,
    };
  }

  /** Writes the state file soon (changes come in bursts); `now` for the moments that matter. */
  saveState(now = false): void {
    if (this.stopping && this.phase !== 'stopping') return;
    const write = () => {
      this.saveTimer = undefined;
      try { writeState(this.config.stateDir, this.stateSnapshot()); } catch (err) { this.log('cannot write the state file', err); }
    };
    if (now) { if (this.saveTimer) clearTimeout(this.saveTimer); write(); return; }
    this.saveTimer ??= setTimeout(write, 10);
  }

  /**
   * Stops everything this runtime started: pods first (they drain while NATS is still up),
   * then HAProxy, Prometheus and NATS, then whatever process is left. Removes the run dir;
   * with `keepLogs`, copies its logs to the state dir first and returns where they went.
   */
  shutdown(options: { keepLogs?: boolean } = {}): Promise<string | undefined> {
    let kept: string | undefined;
    this.stopping ??= (async () => {
      this.phase = 'stopping';
      this.chaos.close();
      this.saveState(true);
      this.downGraceCap = this.settings.downGraceCapMs;
      for (const w of [...this.waiters]) w.resolve(false);
      for (const c of this.controllers.values()) c.desired = 0;
      const pods = this.allPods();
      // Deletions already under way keep their grace period: cut it to the cap.
      for (const p of pods) if (p.terminating) setTimeout(() => p.child?.signal('SIGKILL'), this.downGraceCap).unref();
      await Promise.all([
        this.mesh?.closeActivators(),
        ...pods.map((p) => this.deletePod(p, this.downGraceCap).catch(() => undefined)),
      ]);
      // No container may start from here on (a crash-restart timer, a pod still being created).
      this.registry.close();
      await Promise.all([...[...this.supervisors.values()].map((s) => s.stop(3_000)), this.prometheus?.stop(), this.nats?.stop()].map((p) => p?.catch(() => undefined)));
      await this.registry.stopAll(1_000);
      // Stressed pods' cgroups: every process in them is gone now.
      sweepCgroups(({ name }) => name.startsWith(stressCgroupName(this.config.runDir, '')));
      await Promise.all(pods.map((p) => p.sidecar.close().catch(() => undefined)));
      if (options.keepLogs) kept = preserveLogs(this.config.runDir, this.config.stateDir);
      if (this.saveTimer) clearTimeout(this.saveTimer);
      rmSync(this.config.runDir, { recursive: true, force: true });
    })();
    return this.stopping.then(() => kept);
  }
}

export class NotFound extends Error {}

/** How long a flow probe waits for the other side to answer. */
const FLOW_PROBE_TIMEOUT_MS = 3_000;
