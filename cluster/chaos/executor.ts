import { totalmem } from 'node:os';
import { NAMESPACE } from '../../lib/names.ts';
import type { NodeInfo, PodPhase } from '../target.ts';
import type { FaultScope, Flow, NetworkFault } from '../local/network/sidecar.ts';
import {
  COMPONENT_CANDIDATES, type Endpoint, type LinkEnds, externalTargetComponent, faultOf, mergeFaults, placeNetworkFault,
} from './network-plan.ts';
import { type ExperimentRecord, RecordStore, type RecoveredBy } from './records.ts';
import { type Candidate, ChaosConflict, UnsupportedOnLocal, describeSelector, filterByMode, selectCandidates } from './selector.ts';
import type { ChaosResource, NetworkChaos, PodChaos, PodSelector, StressChaos, Workflow, WorkflowTemplate } from './types.ts';
import type { CgroupLimits } from '../local/process/cgroups.ts';
import type { StressPlan } from '../local/process/pod-stress.ts';
import { type NodeCommand, parseNodeCommand } from './kubectl-task.ts';
import { parseDuration, parseStressSize } from './units.ts';
import { runWorkflow } from './workflow.ts';
import { NODE_DRAIN_TIMEOUT_MS } from '../../lib/time.ts';

/** What the executor needs of a pod (the local runtime's Pod has all of it). */
export interface ChaosPod {
  readonly name: string;
  readonly node: string;
  readonly zone: string;
  readonly phase: PodPhase;
  readonly terminating: boolean;
  readonly template: { workload: string; service: string; labels: Record<string, string>; outbound: Record<string, unknown>; limits?: CgroupLimits };
  readonly sidecar: { setFault(scope: FaultScope, fault: NetworkFault | undefined): void };
  readonly child?: { running: boolean } | undefined;
  signal(signal: NodeJS.Signals): void;
  failContainer(graceMs?: number): Promise<void>;
  recoverContainer(): void;
}

/** What the executor needs of the runtime (LocalRuntime satisfies it). */
export interface ChaosRuntime {
  readonly config: { runDir: string };
  readonly topology: { nodeInfos(): NodeInfo[] };
  allPods(): ChaosPod[];
  findPod(name: string): ChaosPod | undefined;
  deletePodByName(name: string, gracePeriodSeconds?: number): void;
  cordonNode(node: string): void;
  drainNode(node: string, timeoutMs: number): Promise<void>;
  uncordonNode(node: string): void;
  /**
   * Starts stress workers in the pod's cgroup (limited as its manifest says); absent, or
   * throwing UnsupportedOnLocal, where the runtime cannot confine them to the pod.
   */
  stressPod?(name: string, plan: StressPlan): { cgroupName: string; stop(): Promise<void> };
  /** Resolves once the load balancer routes as the pods' sidecars now ask (faulty ones through the sidecar). */
  loadBalancerSettled?(pods: Iterable<string>): Promise<void>;
  log(message: string, extra?: unknown): void;
}

export interface ExecutorOptions {
  /** For the random picks of the selector modes (tests pass a seeded one). */
  random?: () => number;
  /** How often pods recreated under a faulted name get their faults again. */
  resyncIntervalMs?: number;
  /** Bound of a node drain. */
  drainTimeoutMs?: number;
}

/** Our pods live in the namespace the manifests put them in. */
export const PODS_NAMESPACE = NAMESPACE;

interface Active {
  record: ExperimentRecord;
  timer?: NodeJS.Timeout;
  /** Stops a workflow's runner. */
  abort?: AbortController;
  /** The workflow runner, settled once every node it started is recovered. */
  done?: Promise<void>;
}

const nodeLabels = (n: NodeInfo): Record<string, string> => ({ 'kubernetes.io/hostname': n.name, 'topology.kubernetes.io/zone': n.zone });

/**
 * The local target's chaos executor: runs the resources of `chaos/` against the runtime with
 * the meaning Chaos Mesh gives them on a cluster, records what each did (in memory and in the
 * run dir) and undoes exactly that when its duration ends or on request.
 *
 * Everything an experiment changes lives in this daemon (sidecar faults, stopped containers,
 * cordons) or in the processes it owns: if the daemon dies, the faults die with
 * it, and the next `up` sweeps the processes and the run dir with its records.
 */
export class ChaosExecutor {
  private readonly store: RecordStore;
  private readonly active = new Map<string, Active>();
  private readonly history = new Map<string, ExperimentRecord>();
  /** Faults by `pod|link|flow`, then by experiment: the sidecar gets their merge. */
  private readonly netFaults = new Map<string, Map<string, NetworkFault>>();
  /** Which pod object last got a pod's faults: a recreated pod (same name) gets them again. */
  private readonly appliedTo = new Map<string, ChaosPod>();
  /** Reference counts, so that two experiments on one pod, node or zone undo in either order. */
  private readonly holds = new Map<string, number>();
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Stress in force by `<experiment>|<pod>`. */
  private readonly stresses = new Map<string, { stop(): Promise<void> }>();
  private closed = false;
  private readonly random: () => number;
  private readonly resyncIntervalMs: number;
  private readonly drainTimeoutMs: number;

  constructor(private readonly runtime: ChaosRuntime, options: ExecutorOptions = {}) {
    this.random = options.random ?? Math.random;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 250;
    this.drainTimeoutMs = options.drainTimeoutMs ?? NODE_DRAIN_TIMEOUT_MS;
    this.store = new RecordStore(runtime.config.runDir);
    // Records a previous daemon of this run dir left in force: their faults lived in that
    // daemon and died with it. (A run dir is not reused today; this keeps the records honest.)
    for (const r of this.store.load()) {
      if (r.phase === 'injected' || r.phase === 'running') {
        Object.assign(r, { phase: 'recovered', recoveredAt: Date.now(), recoveredBy: 'restart' as RecoveredBy });
        this.save(r);
      }
      this.history.set(r.id, r);
    }
  }

  /** Every experiment applied in this run, newest first. */
  list(): ExperimentRecord[] {
    return [...this.history.values()].sort((a, b) => b.appliedAt - a.appliedAt);
  }

  async apply(resource: ChaosResource, options: { source?: string; parent?: string; id?: string } = {}): Promise<ExperimentRecord> {
    if (this.closed) throw new ChaosConflict('the cluster is shutting down');
    const name = options.id ?? resource.metadata.name;
    const id = `${resource.metadata.namespace}/${name}`;
    if (this.active.has(id)) throw new ChaosConflict(`experiment ${id} is already in force: recover it first (or wait for its duration to end)`);
    const spec = resource.spec as { action?: string; duration?: string };
    const record: ExperimentRecord = {
      id, name, namespace: resource.metadata.namespace, kind: resource.kind,
      ...(spec.action ? { action: spec.action } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...(options.parent ? { parent: options.parent } : {}),
      phase: 'injected', appliedAt: Date.now(), selected: [], steps: [], errors: [], resource,
    };
    const entry: Active = { record };
    try {
      switch (resource.kind) {
        case 'PodChaos': this.applyPodChaos(resource, record); break;
        case 'NetworkChaos': this.applyNetworkChaos(resource, record); break;
        case 'StressChaos': this.applyStressChaos(resource, record); break;
        case 'Workflow': this.startWorkflow(resource, entry); break;
      }
    } catch (err) {
      // Undo whatever part was applied, then report the experiment as not applied.
      await this.undo(record).catch(() => undefined);
      throw err;
    }
    await this.networkSettled(record);
    const oneShot = record.steps.length > 0 && record.steps.every((s) => s.type === 'pod-kill' || s.type === 'container-kill');
    if (oneShot) record.phase = 'finished';
    if (record.phase === 'injected' && spec.duration && resource.kind !== 'Workflow') {
      record.durationMs = parseDuration(spec.duration);
      record.endsAt = record.appliedAt + record.durationMs;
      entry.timer = setTimeout(() => void this.recover(id, 'duration').catch((err) => this.runtime.log(`chaos: recovering ${id} failed`, err)), record.durationMs);
    }
    if (record.phase === 'injected' || record.phase === 'running') this.active.set(id, entry);
    this.history.set(id, record);
    this.save(record);
    this.runtime.log(`chaos: applied ${resource.kind} ${id} (${record.action ?? 'workflow'}) to ${record.selected.join(', ') || 'nothing'}${record.endsAt ? ` until ${new Date(record.endsAt).toISOString()}` : ''}`);
    return record;
  }

  /**
   * Undoes one experiment (by `name` or `namespace/name`) or every one in force, and
   * returns their records. Recovering one that is over already is not an error.
   */
  async recover(name?: string, by: RecoveredBy = 'request'): Promise<ExperimentRecord[]> {
    let ids: string[];
    if (name === undefined) ids = [...this.active.keys()];
    else {
      const id = this.resolveId(name);
      if (!id) throw new NotFoundExperiment(`no experiment "${name}" (known: ${[...this.history.keys()].join(', ') || 'none'})`);
      ids = this.active.has(id) ? [id] : [];
      if (!ids.length) return [this.history.get(id)!];
    }
    // Children of a workflow go with it; recover parents first so they stop starting new ones.
    ids.sort((a, b) => Number(!!this.active.get(a)?.record.parent) - Number(!!this.active.get(b)?.record.parent));
    const out: ExperimentRecord[] = [];
    for (const id of ids) {
      const entry = this.active.get(id);
      if (!entry) continue;
      this.active.delete(id);
      if (entry.timer) clearTimeout(entry.timer);
      if (entry.abort) {
        entry.abort.abort();
        await entry.done;
      }
      await this.undo(entry.record);
      await this.networkSettled(entry.record);
      Object.assign(entry.record, { phase: 'recovered', recoveredAt: Date.now(), recoveredBy: by });
      this.save(entry.record);
      this.runtime.log(`chaos: recovered ${id} (${by})`);
      out.push(entry.record);
    }
    return out;
  }

  /** A network experiment is in force (or gone) only once the load balancer routes accordingly. */
  private async networkSettled(record: ExperimentRecord): Promise<void> {
    const pods = record.steps.flatMap((s) => s.type === 'network' ? [s.pod] : []);
    if (pods.length) await this.runtime.loadBalancerSettled?.(pods);
  }

  /** Records on disk, until the executor is closed: then the run dir is on its way out and must stay gone. */
  private save(record: ExperimentRecord): void {
    if (!this.closed) this.store.save(record);
  }

  /** Stops timers (the daemon is going down with everything the experiments touched). */
  close(): void {
    this.closed = true;
    for (const e of this.active.values()) { if (e.timer) clearTimeout(e.timer); e.abort?.abort(); }
    // Stress workers are the runtime's children and go down with it; their cgroups are left to the sweep.
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  private resolveId(name: string): string | undefined {
    if (this.history.has(name)) return name;
    const matches = [...this.history.keys()].filter((id) => id.endsWith(`/${name}`));
    return matches.length === 1 ? matches[0] : matches.find((id) => this.active.has(id));
  }

  // ---- selection --------------------------------------------------------------------

  private podCandidates(): (Candidate & { pod: ChaosPod })[] {
    return this.runtime.allPods().filter((p) => !p.terminating).map((pod) => ({
      pod, name: pod.name, namespace: PODS_NAMESPACE, labels: pod.template.labels, node: pod.node, phase: pod.phase,
    }));
  }

  /** Pods with a container of one of these names: each of our pods has one, named after its service in the manifests. */
  private podsWithContainer(names: string[]): (Candidate & { pod: ChaosPod })[] {
    const found = this.podCandidates().filter((c) => names.includes(c.pod.template.service));
    if (!found.length) throw new ChaosConflict(`no pod has a container named ${names.join(' or ')} (ours: db-node, worker, gateway)`);
    return found;
  }

  private nodeLabelsOf = (node: string) => {
    const n = this.runtime.topology.nodeInfos().find((x) => x.name === node);
    return n ? nodeLabels(n) : undefined;
  };

  /** The selector's matches, then the mode's pick; a selection of nothing is a conflict, as Chaos Mesh fails it. */
  private select<C extends Candidate>(sel: PodSelector, candidates: C[], namespace: string, what: string): C[] {
    const matched = selectCandidates(sel.selector, candidates, namespace, this.nodeLabelsOf) as C[];
    if (!matched.length) {
      const components = selectCandidates(sel.selector, [...COMPONENT_CANDIDATES], namespace, this.nodeLabelsOf);
      const hint = components.length && what === 'pod' ? ` (${components.map((c) => c.name).join(', ')} is a component of the local runtime, not a pod: PodChaos cannot act on it here)` : '';
      throw new ChaosConflict(`no ${what} matches ${describeSelector(sel.selector, namespace)}${hint}`);
    }
    return filterByMode(matched, sel.mode, sel.value, this.random);
  }

  // ---- PodChaos ---------------------------------------------------------------------

  private applyPodChaos(r: PodChaos, record: ExperimentRecord): void {
    const { spec } = r;
    const candidates = spec.action === 'container-kill' ? this.podsWithContainer(spec.containerNames!) : this.podCandidates();
    const picked = this.select(spec, candidates, r.metadata.namespace, 'pod');
    record.selected = picked.map((c) => c.name);
    for (const { pod } of picked) {
      switch (spec.action) {
        case 'pod-kill':
          this.runtime.deletePodByName(pod.name, spec.gracePeriod ?? 0);
          record.steps.push({ type: 'pod-kill', pod: pod.name, gracePeriodSeconds: spec.gracePeriod ?? 0 });
          break;
        case 'container-kill':
          if (!pod.child?.running) { record.errors.push(`${pod.name}: no running container to kill (restarting)`); break; }
          pod.signal('SIGKILL');
          record.steps.push({ type: 'container-kill', pod: pod.name, container: pod.template.service });
          break;
        case 'pod-failure':
          this.hold(`pod:${pod.name}`);
          record.steps.push({ type: 'pod-failure', pod: pod.name });
          pod.failContainer().catch((err) => {
            record.errors.push(`${pod.name}: stopping the container failed: ${(err as Error).message}`);
            this.save(record);
          });
          break;
      }
    }
    if (!record.steps.length) throw new ChaosConflict(`nothing to do: ${record.errors.join('; ')}`);
  }

  // ---- StressChaos ------------------------------------------------------------------

  /**
   * stress-ng's workers on each selected pod, confined to the pod's cgroup with its
   * manifest's limits: they take the pod's own CPU and memory, as on a cluster, not the
   * other pods'. A memory size in percent is of the pod's memory limit (what stress-ng sees
   * in a limited container), or of the machine's memory for a pod without one.
   */
  private applyStressChaos(r: StressChaos, record: ExperimentRecord): void {
    const { spec } = r;
    if (spec.stressngStressors) throw new UnsupportedOnLocal('stressngStressors passes raw arguments to stress-ng, which the local target does not run: give stressors.cpu / stressors.memory instead');
    if (!this.runtime.stressPod) throw new UnsupportedOnLocal('this runtime cannot start stress workers in a pod');
    const candidates = spec.containerNames?.length ? this.podsWithContainer(spec.containerNames) : this.podCandidates();
    const picked = this.select(spec, candidates, r.metadata.namespace, 'pod');
    record.selected = picked.map((c) => c.name);
    for (const { pod } of picked) {
      const { cpu, memory } = spec.stressors ?? {};
      const plan: StressPlan = {};
      if (cpu) plan.cpu = { workers: cpu.workers, load: cpu.load ?? 100 };
      if (memory) {
        const size = parseStressSize(memory.size ?? '100%');
        const bytes = 'bytes' in size ? size.bytes : Math.floor(((pod.template.limits?.memoryBytes ?? totalmem()) * size.percent) / 100);
        plan.memory = { workers: memory.workers, bytes, ...(memory.oomScoreAdj === undefined ? {} : { oomScoreAdj: memory.oomScoreAdj }) };
      }
      const stress = this.runtime.stressPod(pod.name, plan);
      this.stresses.set(`${record.id}|${pod.name}`, stress);
      record.steps.push({ type: 'stress', pod: pod.name, cgroup: stress.cgroupName, ...plan });
    }
  }

  // ---- NetworkChaos -----------------------------------------------------------------

  private linksOf = (podName: string): LinkEnds[] => {
    const pod = this.runtime.findPod(podName);
    if (!pod) return [];
    const dbPods = this.runtime.allPods().filter((p) => p.template.service === 'db-node' && !p.terminating).map((p) => p.name);
    return [
      { link: 'inbound', components: ['load-balancer'], pods: [] },
      ...Object.keys(pod.template.outbound).map((link): LinkEnds => (link === 'nats'
        ? { link, components: ['nats'], pods: [] }
        : link === 'lb' ? { link, components: ['load-balancer'], pods: dbPods } : { link, components: [], pods: this.podsBehind(link) })),
    ];
  };

  /** The pods behind a `<workload>:<port>` link of a sidecar (egress-policy.ts). */
  private podsBehind(link: string): string[] {
    const workload = link.slice(0, link.lastIndexOf(':'));
    return this.runtime.allPods().filter((p) => p.template.workload === workload && !p.terminating).map((p) => p.name);
  }

  private endpoints(sel: PodSelector, namespace: string, what: string): Endpoint[] {
    const candidates: (Candidate & { endpoint: Endpoint })[] = [
      ...this.podCandidates().map((c) => ({ ...c, endpoint: { kind: 'pod', name: c.name } as Endpoint })),
      ...COMPONENT_CANDIDATES.map((c) => ({ ...c, endpoint: { kind: 'component', name: c.component } as Endpoint })),
    ];
    return this.select(sel, candidates, namespace, what).map((c) => c.endpoint);
  }

  private applyNetworkChaos(r: NetworkChaos, record: ExperimentRecord): void {
    const { spec } = r;
    const fault = faultOf(spec);
    const selected = this.endpoints(spec, r.metadata.namespace, 'pod');
    let target: Endpoint[] | undefined;
    if (spec.target) target = this.endpoints(spec.target, r.metadata.namespace, 'target pod');
    for (const ext of spec.externalTargets ?? []) {
      const component = externalTargetComponent(ext);
      if (!component) throw new UnsupportedOnLocal(`externalTargets: "${ext}" is not a peer the local target knows (NATS: "nats", "nats.percolate.svc.cluster.local", optionally with :4222)`);
      (target ??= []).push({ kind: 'component', name: component });
    }
    const pods = this.runtime.allPods().filter((p) => !p.terminating).map((p) => p.name);
    const placements = placeNetworkFault(selected, target, spec.direction ?? 'to', pods, this.linksOf);
    if (!placements.length) {
      throw new UnsupportedOnLocal(`no traffic flows between ${selected.map((e) => e.name).join(', ')} and ${target ? target.map((e) => e.name).join(', ') : 'anything'} in the local topology (pods talk to NATS and the load balancer; workers reach the database pods through the load balancer)`);
    }
    record.selected = selected.map((e) => e.name);
    for (const p of placements) {
      record.steps.push({ type: 'network', pod: p.pod, link: p.link, flow: p.flow, fault });
      this.setNetFault(p.pod, p.link, p.flow, record.id, fault);
    }
    this.startResync();
  }

  private key = (pod: string, link: string, flow: Flow) => `${pod}|${link}|${flow}`;

  private setNetFault(pod: string, link: string, flow: Flow, experiment: string, fault: NetworkFault | undefined): void {
    const key = this.key(pod, link, flow);
    let byExperiment = this.netFaults.get(key);
    if (fault) {
      if (!byExperiment) this.netFaults.set(key, (byExperiment = new Map()));
      byExperiment.set(experiment, fault);
    } else {
      byExperiment?.delete(experiment);
      if (byExperiment?.size === 0) this.netFaults.delete(key);
    }
    const target = this.runtime.findPod(pod);
    if (!target) return;
    target.sidecar.setFault({ link, flow }, mergeFaults([...(this.netFaults.get(key)?.values() ?? [])]));
    this.appliedTo.set(pod, target);
  }

  /** A pod recreated under a faulted name (pod-kill during a delay) gets the faults again, as Chaos Mesh keys them by pod name. */
  private startResync(): void {
    this.resyncTimer ??= setInterval(() => this.resync(), this.resyncIntervalMs);
    this.resyncTimer.unref();
  }

  private resync(): void {
    if (this.netFaults.size === 0) {
      clearInterval(this.resyncTimer);
      this.resyncTimer = undefined;
      this.appliedTo.clear();
      return;
    }
    const renewed = new Map<string, ChaosPod>();
    for (const key of this.netFaults.keys()) {
      const pod = key.split('|')[0]!;
      const current = this.runtime.findPod(pod);
      if (current && !current.terminating && this.appliedTo.get(pod) !== current) renewed.set(pod, current);
    }
    for (const [key, faults] of this.netFaults) {
      const [pod, link, flow] = key.split('|') as [string, string, Flow];
      const current = renewed.get(pod);
      if (!current) continue;
      try {
        current.sidecar.setFault({ link, flow }, mergeFaults([...faults.values()]));
      } catch {
        // Its sidecar is still opening: try again on the next tick.
        renewed.delete(pod);
      }
    }
    for (const [pod, current] of renewed) {
      this.appliedTo.set(pod, current);
      this.runtime.log(`chaos: network faults re-applied to the recreated pod ${pod}`);
    }
  }

  // ---- Workflow Tasks: kubectl node commands -----------------------------------------

  /** The nodes a node command names or selects; none is a conflict, as kubectl fails it. */
  private commandNodes(cmd: NodeCommand, where: string): string[] {
    const all = this.runtime.topology.nodeInfos();
    if (cmd.nodes) {
      const unknown = cmd.nodes.filter((n) => !all.some((x) => x.name === n));
      if (unknown.length) throw new ChaosConflict(`${where}: no node ${unknown.join(', ')} (nodes: ${all.map((n) => n.name).join(', ')})`);
      return cmd.nodes;
    }
    const picked = all.filter((n) => Object.entries(cmd.nodeSelector!).every(([k, v]) => nodeLabels(n)[k] === v));
    if (!picked.length) throw new ChaosConflict(`${where}: no node has the labels ${JSON.stringify(cmd.nodeSelector)}`);
    return picked.map((n) => n.name);
  }

  /**
   * Runs a Task node to its end, as its container would run: `drain` returns once every
   * pod is evicted and recreated elsewhere, `uncordon` at once. A drain's cordon is recorded
   * as an experiment of its own under the workflow, in force until an `uncordon` Task of
   * the workflow lifts it — or, unlike on a cluster, until the workflow ends, so that
   * nothing outlives it here.
   */
  private async runTask(t: WorkflowTemplate, name: string, workflow: Workflow, parent: string): Promise<void> {
    const where = `${workflow.metadata.name} task ${t.name}`;
    const cmd = parseNodeCommand(t.task!, where);
    const nodes = this.commandNodes(cmd, where);
    if (cmd.verb === 'uncordon') {
      const drains = [...this.active.values()].filter((e) => e.record.parent === parent && e.record.steps.some((st) => st.type === 'node-drain' && nodes.includes(st.node)));
      for (const e of drains) await this.recover(e.record.id, 'workflow');
      // Cordons of others (a person, another tool) are lifted as kubectl would; other experiments' are theirs to lift.
      const cordoned = new Set(this.runtime.topology.nodeInfos().filter((n) => n.cordoned).map((n) => n.name));
      for (const node of nodes.filter((n) => cordoned.has(n) && !this.holds.has(`node:${n}`))) this.runtime.uncordonNode(node);
      return;
    }
    const id = `${workflow.metadata.namespace}/${name}`;
    if (this.active.has(id)) throw new ChaosConflict(`experiment ${id} is already in force`);
    const record: ExperimentRecord = {
      id, name, namespace: workflow.metadata.namespace, kind: 'Workflow', action: `kubectl ${cmd.verb}`, parent,
      phase: 'injected', appliedAt: Date.now(), selected: nodes, steps: [], errors: [], resource: workflow,
    };
    this.active.set(id, { record });
    this.history.set(id, record);
    for (const node of nodes) {
      this.hold(`node:${node}`);
      record.steps.push({ type: 'node-drain', node });
    }
    this.save(record);
    this.runtime.log(`chaos: ${where}: kubectl ${cmd.verb} ${nodes.join(', ')}`);
    // kubectl drain cordons every node first, then evicts node by node.
    for (const node of nodes) this.runtime.cordonNode(node);
    if (cmd.verb === 'cordon') return;
    for (const node of nodes) {
      try {
        await this.runtime.drainNode(node, cmd.timeoutMs ?? this.drainTimeoutMs);
      } catch (err) {
        record.errors.push(`drain of ${node}: ${(err as Error).message}`);
        this.save(record);
        throw err;
      }
    }
  }

  // ---- Workflow ---------------------------------------------------------------------

  private startWorkflow(r: ChaosResource & { kind: 'Workflow' }, entry: Active): void {
    entry.record.phase = 'running';
    entry.abort = new AbortController();
    const id = entry.record.id;
    // A Task the local target cannot run refuses the whole workflow before anything starts.
    for (const t of r.spec.templates) if (t.templateType === 'Task') parseNodeCommand(t.task!, `${r.metadata.name} task ${t.name}`);
    entry.done = runWorkflow(r, {
      apply: (child, name) => this.apply(child, { parent: id, id: name }).then((rec) => { entry.record.selected.push(rec.id); this.save(entry.record); return rec; }),
      runTask: (t, name) => this.runTask(t, name, r, id),
      recover: async (childId) => { await this.recover(childId, 'workflow'); },
      isActive: (childId) => this.active.has(childId),
    }, entry.abort.signal).finally(async () => {
      // Cordons of drain Tasks no uncordon Task lifted end with the workflow.
      for (const child of [...this.active.values()].filter((e) => e.record.parent === id)) await this.recover(child.record.id, 'workflow');
    }).then(() => {
      if (this.active.get(id) !== entry || entry.abort!.signal.aborted) return;
      // Ran to its end: every node has finished and recovered its faults.
      this.active.delete(id);
      Object.assign(entry.record, { phase: 'finished', recoveredAt: Date.now() });
      this.save(entry.record);
      this.runtime.log(`chaos: workflow ${id} finished`);
    }, (err: unknown) => {
      entry.record.errors.push((err as Error).message);
      this.runtime.log(`chaos: workflow ${id} failed`, err);
      void this.recover(id, 'workflow').catch(() => undefined);
    });
  }

  // ---- undo -------------------------------------------------------------------------

  private hold(key: string): number {
    const n = (this.holds.get(key) ?? 0) + 1;
    this.holds.set(key, n);
    return n;
  }

  private release(key: string): boolean {
    const n = (this.holds.get(key) ?? 0) - 1;
    if (n <= 0) this.holds.delete(key); else this.holds.set(key, n);
    return n <= 0;
  }

  private async undo(record: ExperimentRecord): Promise<void> {
    for (const step of [...record.steps].reverse()) {
      try {
        switch (step.type) {
          case 'network': this.setNetFault(step.pod, step.link, step.flow, record.id, undefined); break;
          case 'pod-failure': if (this.release(`pod:${step.pod}`)) this.runtime.findPod(step.pod)?.recoverContainer(); break;
          case 'node-drain': if (this.release(`node:${step.node}`)) this.runtime.uncordonNode(step.node); break;
          case 'stress': {
            const key = `${record.id}|${step.pod}`;
            const stress = this.stresses.get(key);
            this.stresses.delete(key);
            await stress?.stop();
            break;
          }
          case 'pod-kill': case 'container-kill': break;
        }
      } catch (err) {
        record.errors.push(`undoing ${step.type}: ${(err as Error).message}`);
      }
    }
  }
}

export class NotFoundExperiment extends Error {}
