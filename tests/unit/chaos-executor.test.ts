import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChaosPod, type ChaosRuntime, ChaosExecutor } from '../../cluster/chaos/executor.ts';
import { loadChaosFile } from '../../cluster/chaos/parse.ts';
import type { ExperimentRecord } from '../../cluster/chaos/records.ts';
import { ChaosConflict, UnsupportedOnLocal } from '../../cluster/chaos/selector.ts';
import type { ChaosResource } from '../../cluster/chaos/types.ts';
import type { FaultScope, NetworkFault } from '../../cluster/local/network/sidecar.ts';
import type { NodeInfo } from '../../cluster/target.ts';
import type { StressPlan } from '../../cluster/local/process/pod-stress.ts';

const CHAOS_DIR = new URL('../../chaos/', import.meta.url).pathname;
const example = (file: string, spec: Record<string, unknown> = {}): ChaosResource => {
  const r = loadChaosFile(join(CHAOS_DIR, file));
  return { ...r, spec: { ...r.spec, ...spec } } as ChaosResource;
};

const DB_LABELS = { 'app.kubernetes.io/name': 'percolate-db', 'app.kubernetes.io/component': 'database', 'percolate.io/tier': 'small' };
const WORKER_LABELS = { 'app.kubernetes.io/name': 'percolate-worker' };

/** A pod with a sidecar that remembers its faults by `link|flow`. */
class FakePod implements ChaosPod {
  phase = 'Running' as const;
  terminating = false;
  child = { running: true };
  readonly faults = new Map<string, NetworkFault>();
  readonly events: string[] = [];
  readonly template: ChaosPod['template'];
  readonly sidecar = {
    setFault: (scope: FaultScope, fault: NetworkFault | undefined) => {
      for (const flow of scope.flow === 'both' || !scope.flow ? ['to-pod', 'from-pod'] : [scope.flow]) {
        const key = `${scope.link}|${flow}`;
        if (fault) this.faults.set(key, fault); else this.faults.delete(key);
      }
    },
  };

  constructor(readonly name: string, readonly node: string, readonly zone: string, service: 'db-node' | 'worker', labels: Record<string, string>) {
    this.template = { workload: name.replace(/-[^-]+$/, ''), service, labels, outbound: service === 'worker' ? { nats: 1, lb: 2 } : { nats: 1 } };
  }

  signal(signal: NodeJS.Signals): void { this.events.push(signal); }
  async failContainer(): Promise<void> { this.events.push('fail'); this.child.running = false; }
  recoverContainer(): void { this.events.push('recover'); this.child.running = true; }
}

class FakeRuntime implements ChaosRuntime {
  readonly calls: string[] = [];
  readonly nodes: NodeInfo[] = ['a', 'b', 'c'].flatMap((z) => [1, 2].map((i) => ({ name: `node-${z}${i}`, zone: `zone-${z}`, cordoned: false, ready: true })));
  pods: FakePod[] = [
    new FakePod('percolate-db-small-0', 'node-a1', 'zone-a', 'db-node', DB_LABELS),
    new FakePod('percolate-db-small-1', 'node-b1', 'zone-b', 'db-node', DB_LABELS),
    new FakePod('percolate-db-small-2', 'node-c1', 'zone-c', 'db-node', DB_LABELS),
    new FakePod('percolate-worker-abc-x', 'node-a2', 'zone-a', 'worker', WORKER_LABELS),
  ];
  readonly topology = { nodeInfos: () => this.nodes };

  constructor(readonly config: { runDir: string }) {}
  allPods(): FakePod[] { return this.pods; }
  findPod(name: string): FakePod | undefined { return this.pods.find((p) => p.name === name); }
  pod(name: string): FakePod { return this.findPod(name)!; }
  /** As a StatefulSet does: the pod comes back under its name, as a new object. */
  deletePodByName(name: string, grace?: number): void {
    this.calls.push(`delete ${name} grace=${grace}`);
    const old = this.pod(name);
    this.pods = this.pods.map((p) => (p === old ? new FakePod(old.name, old.node, old.zone, old.template.service as 'db-node', old.template.labels) : p));
  }
  cordonNode(node: string): void { this.calls.push(`cordon ${node}`); this.nodes.find((n) => n.name === node)!.cordoned = true; }
  async drainNode(node: string): Promise<void> { this.calls.push(`drain ${node}`); this.nodes.find((n) => n.name === node)!.cordoned = true; }
  uncordonNode(node: string): void { this.calls.push(`uncordon ${node}`); this.nodes.find((n) => n.name === node)!.cordoned = false; }
  /** Stress in force per pod: what the plan asked for, until stopped. */
  readonly stressed = new Map<string, StressPlan>();
  stressPod(name: string, plan: StressPlan): { cgroupName: string; stop(): Promise<void> } {
    this.calls.push(`stress ${name}`);
    this.stressed.set(name, plan);
    return { cgroupName: `percolate-test-${name}`, stop: async () => { this.calls.push(`unstress ${name}`); this.stressed.delete(name); } };
  }
  log(): void {}
}

describe('chaos executor (against a fake runtime)', () => {
  let runDir: string;
  let runtime: FakeRuntime;
  let executor: ChaosExecutor;
  const dbPods = () => runtime.pods.filter((p) => p.template.service === 'db-node');

  beforeEach(() => {
    runDir = mkdtempSync(join(tmpdir(), 'chaos-exec-'));
    runtime = new FakeRuntime({ runDir });
    executor = new ChaosExecutor(runtime, { resyncIntervalMs: 10 });
  });
  afterEach(() => {
    executor.close();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('pod-kill (db-pod-kill.yaml): deletes one database pod at once; one-shot, recorded in the run dir', async () => {
    const record = await executor.apply(example('db-pod-kill.yaml'), { source: 'chaos/db-pod-kill.yaml' });
    expect(record.phase).toBe('finished');
    expect(record.selected).toHaveLength(1);
    expect(record.selected[0]).toMatch(/^percolate-db-small-\d$/);
    expect(runtime.calls).toEqual([`delete ${record.selected[0]} grace=0`]);
    const onDisk = JSON.parse(readFileSync(join(runDir, 'chaos', 'percolate.db-pod-kill.json'), 'utf8')) as ExperimentRecord;
    expect(onDisk).toMatchObject({ id: 'percolate/db-pod-kill', kind: 'PodChaos', action: 'pod-kill', phase: 'finished', source: 'chaos/db-pod-kill.yaml', steps: [{ type: 'pod-kill', pod: record.selected[0] }] });
  });

  it('pod-failure: the container stops, and starts again when the duration ends', async () => {
    const record = await executor.apply(example('db-pod-failure.yaml', { duration: '150ms', mode: 'all' }));
    expect(record.phase).toBe('injected');
    expect(dbPods().map((p) => p.events)).toEqual([['fail'], ['fail'], ['fail']]);
    await vi.waitFor(() => expect(executor.list()[0]!.phase).toBe('recovered'), { timeout: 2_000, interval: 20 });
    expect(dbPods().map((p) => p.events)).toEqual([['fail', 'recover'], ['fail', 'recover'], ['fail', 'recover']]);
    expect(executor.list()[0]).toMatchObject({ recoveredBy: 'duration' });
    expect(executor.list()[0]!.recoveredAt! - record.appliedAt).toBeGreaterThanOrEqual(145);
  });

  it('container-kill: SIGKILL to the named container; no pod has a container of another name', async () => {
    const record = await executor.apply(example('db-container-kill.yaml', { mode: 'fixed', value: '2' }));
    expect(record.phase).toBe('finished');
    expect(dbPods().filter((p) => p.events.includes('SIGKILL')).map((p) => p.name)).toEqual(record.selected);
    expect(record.selected).toHaveLength(2);
    await expect(executor.apply(example('db-container-kill.yaml', { containerNames: ['nats'] }))).rejects.toThrow(/no pod has a container named nats/);
  });

  it('network delay (db-network-delay.yaml): every packet the pod sends, until recovered on request', async () => {
    const record = await executor.apply(example('db-network-delay.yaml'));
    const pod = runtime.pod(record.selected[0]!);
    expect(Object.fromEntries(pod.faults)).toEqual({
      'inbound|from-pod': { delayMs: 100, jitterMs: 10, correlation: 0.25 },
      'nats|from-pod': { delayMs: 100, jitterMs: 10, correlation: 0.25 },
    });
    expect(record.endsAt! - record.appliedAt).toBe(60_000);
    const [recovered] = await executor.recover('db-network-delay');
    expect(recovered).toMatchObject({ phase: 'recovered', recoveredBy: 'request' });
    expect(pod.faults.size).toBe(0);
    // Recovering it again is not an error; an unknown name is.
    expect((await executor.recover('percolate/db-network-delay'))[0]!.phase).toBe('recovered');
    await expect(executor.recover('nope')).rejects.toThrow(/no experiment "nope"/);
  });

  it('partition db ↔ NATS (db-nats-network-partition.yaml): both flows of every database pod\'s nats link, nothing else', async () => {
    await executor.apply(example('db-nats-network-partition.yaml'));
    for (const p of dbPods()) expect(Object.fromEntries(p.faults)).toEqual({ 'nats|from-pod': { partition: 'blackhole' }, 'nats|to-pod': { partition: 'blackhole' } });
    expect(runtime.pod('percolate-worker-abc-x').faults.size).toBe(0);
  });

  it('externalTargets naming NATS: the workers\' nats link; an unknown external target is refused', async () => {
    await executor.apply(example('worker-nats-network-delay.yaml'));
    expect(Object.fromEntries(runtime.pod('percolate-worker-abc-x').faults)).toEqual({ 'nats|from-pod': { delayMs: 200 } });
    await expect(executor.apply(example('worker-nats-network-delay.yaml', { externalTargets: ['db.example.com'] }), { id: 'other' })).rejects.toThrow(UnsupportedOnLocal);
  });

  it('experiments on the same link add up and come off one by one', async () => {
    const pin = { mode: 'all', selector: { pods: { percolate: ['percolate-db-small-0'] } } };
    await executor.apply(example('db-network-delay.yaml', { ...pin, delay: { latency: '100ms' } }));
    await executor.apply({ ...example('db-network-delay.yaml', { ...pin, delay: { latency: '50ms' } }), metadata: { name: 'second', namespace: 'percolate' } });
    const pod = runtime.pod('percolate-db-small-0');
    expect(pod.faults.get('nats|from-pod')).toEqual({ delayMs: 150 });
    await executor.recover('db-network-delay');
    expect(pod.faults.get('nats|from-pod')).toEqual({ delayMs: 50 });
    await executor.recover();
    expect(pod.faults.size).toBe(0);
  });

  it('a pod recreated under a faulted name (pod-kill during a delay) gets the fault again', async () => {
    await executor.apply(example('db-network-delay.yaml', { mode: 'all', selector: { pods: { percolate: ['percolate-db-small-1'] } } }));
    runtime.deletePodByName('percolate-db-small-1', 0);
    const fresh = runtime.pod('percolate-db-small-1');
    expect(fresh.faults.size).toBe(0);
    await vi.waitFor(() => expect(fresh.faults.get('inbound|from-pod')).toMatchObject({ delayMs: 100 }), { timeout: 1_000, interval: 10 });
  });

  it('refuses a second apply of one in force, a selection of nothing, and PodChaos on a component', async () => {
    await executor.apply(example('db-network-delay.yaml'));
    await expect(executor.apply(example('db-network-delay.yaml'))).rejects.toThrow(/already in force/);
    await expect(executor.apply(example('db-pod-kill.yaml', { selector: { namespaces: ['percolate'], labelSelectors: { 'app.kubernetes.io/name': 'nope' } } })))
      .rejects.toThrow(new ChaosConflict('no pod matches namespaces percolate; labels app.kubernetes.io/name=nope'));
    await expect(executor.apply(example('db-pod-kill.yaml', { selector: { namespaces: ['percolate'], labelSelectors: { 'app.kubernetes.io/name': 'nats' } } })))
      .rejects.toThrow(/nats-0 is a component of the local runtime, not a pod/);
    await executor.recover();
    expect((await executor.apply(example('db-network-delay.yaml'))).phase).toBe('injected');
  });

  it('zone outage (zone-a-pod-failure.yaml): every pod on a zone-a node fails, and only those, until the duration ends', async () => {
    const record = await executor.apply(example('zone-a-pod-failure.yaml', { duration: '150ms' }));
    expect(record.selected.sort()).toEqual(['percolate-db-small-0', 'percolate-worker-abc-x']);
    expect(runtime.pods.filter((p) => p.events.includes('fail')).map((p) => p.zone)).toEqual(['zone-a', 'zone-a']);
    await vi.waitFor(() => expect(executor.list()[0]!.phase).toBe('recovered'), { timeout: 2_000, interval: 20 });
    expect(runtime.pods.filter((p) => p.zone === 'zone-a').map((p) => p.events)).toEqual([['fail', 'recover'], ['fail', 'recover']]);
  });

  /** node-drain-workflow.yaml with its hold shortened to `hold`. */
  const drainWorkflow = (hold: string): ChaosResource => {
    const wf = loadChaosFile(join(CHAOS_DIR, 'node-drain-workflow.yaml'));
    if (wf.kind !== 'Workflow') throw new Error('not a workflow');
    return { ...wf, spec: { ...wf.spec, templates: wf.spec.templates.map((t) => (t.name === 'hold' ? { ...t, deadline: hold } : t)) } };
  };

  it('node drain (node-drain-workflow.yaml): kubectl drain of zone-b\'s nodes cordons both, evicts node by node, uncordons after the hold', async () => {
    await executor.apply(drainWorkflow('150ms'));
    await vi.waitFor(() => expect(executor.list().find((r) => r.name === 'node-drain-workflow')!.phase).toBe('finished'), { timeout: 2_000, interval: 10 });
    expect(runtime.calls).toEqual(['cordon node-b1', 'cordon node-b2', 'drain node-b1', 'drain node-b2', 'uncordon node-b2', 'uncordon node-b1']);
    expect(executor.list().find((r) => r.name === 'node-drain-workflow-drain')).toMatchObject({ action: 'kubectl drain', selected: ['node-b1', 'node-b2'], phase: 'recovered', recoveredBy: 'workflow' });
    expect(runtime.nodes.every((n) => !n.cordoned)).toBe(true);
  });

  it('a drain workflow recovered during its hold leaves no node cordoned', async () => {
    await executor.apply(drainWorkflow('1m'));
    await vi.waitFor(() => expect(runtime.calls).toContain('drain node-b2'), { timeout: 1_000, interval: 10 });
    await executor.recover('node-drain-workflow');
    expect(runtime.calls.slice(-2)).toEqual(['uncordon node-b2', 'uncordon node-b1']);
    expect(runtime.nodes.every((n) => !n.cordoned)).toBe(true);
  });

  it('refuses a workflow with a Task the local target cannot run, before anything starts', async () => {
    const wf = drainWorkflow('1m');
    if (wf.kind !== 'Workflow') throw new Error('not a workflow');
    const withTask = (args: string[]) => ({ ...wf, spec: { ...wf.spec, templates: wf.spec.templates.map((t) => (t.name === 'uncordon' ? { ...t, task: { container: { ...t.task!.container, args } } } : t)) } });
    await expect(executor.apply(withTask(['delete', 'node', 'node-b1']))).rejects.toThrow(new UnsupportedOnLocal('node-drain-workflow task uncordon: kubectl delete is not a node command the local target runs (drain, cordon, uncordon)'));
    await expect(executor.apply(withTask(['drain', 'node-b1', '--force']))).rejects.toThrow(/--force is not run by the local target/);
    await expect(executor.apply(withTask(['drain', '--disable-eviction', 'node-b1']))).rejects.toThrow(/--disable-eviction is not run/);
    await expect(executor.apply(withTask(['uncordon']))).rejects.toThrow(/names no node/);
    await expect(executor.apply(withTask(['uncordon', 'node-b1', '-l', 'a=b']))).rejects.toThrow(/names or a selector, not both/);
    await expect(executor.apply(withTask(['drain', '-l', 'zone notin (a)']))).rejects.toThrow(/is not key=value/);
    expect(runtime.calls).toEqual([]);
    expect(executor.list().map((r) => r.phase)).toEqual([]);
  });

  it('StressChaos (db-cpu-memory-stress.yaml): stress workers on one small-tier pod with the file\'s stressors, ended when the duration ends', async () => {
    const record = await executor.apply(example('db-cpu-memory-stress.yaml', { duration: '150ms' }));
    expect(record).toMatchObject({ kind: 'StressChaos', phase: 'injected' });
    expect(record.selected).toHaveLength(1);
    expect(runtime.stressed.get(record.selected[0]!)).toEqual({ cpu: { workers: 4, load: 100 }, memory: { workers: 1, bytes: 128 * 1024 * 1024, oomScoreAdj: 1000 } });
    expect(record.steps).toEqual([{ type: 'stress', pod: record.selected[0], cgroup: `percolate-test-${record.selected[0]}`, cpu: { workers: 4, load: 100 }, memory: { workers: 1, bytes: 128 * 1024 * 1024, oomScoreAdj: 1000 } }]);
    await vi.waitFor(() => expect(executor.list()[0]!.phase).toBe('recovered'), { timeout: 2_000, interval: 20 });
    expect(runtime.stressed.size).toBe(0);
    expect(runtime.calls).toEqual([`stress ${record.selected[0]}`, `unstress ${record.selected[0]}`]);
  });

  it('StressChaos: a size in percent is of the pod\'s memory limit; raw stress-ng arguments and a runtime without cgroups are refused with the reason', async () => {
    for (const p of dbPods()) Object.assign(p.template, { limits: { cpuMillis: 500, memoryBytes: 512 * 1024 * 1024 } });
    const record = await executor.apply(example('db-cpu-memory-stress.yaml', { mode: 'all', stressors: { memory: { workers: 2, size: '25%' } } }));
    expect([...runtime.stressed.values()]).toEqual(dbPods().map(() => ({ memory: { workers: 2, bytes: 128 * 1024 * 1024 } })));
    await executor.recover(record.id);
    expect(runtime.stressed.size).toBe(0);
    await expect(executor.apply(example('db-cpu-memory-stress.yaml', { stressngStressors: '--cpu 2' }))).rejects.toThrow(UnsupportedOnLocal);
    const refusing = new FakeRuntime({ runDir });
    refusing.stressPod = () => { throw new UnsupportedOnLocal('StressChaos needs the pod\'s own cgroup: no cgroup hierarchy with cpu and memory controllers'); };
    const other = new ChaosExecutor(refusing);
    try {
      await expect(other.apply(example('db-cpu-memory-stress.yaml'))).rejects.toThrow(/needs the pod's own cgroup/);
    } finally {
      other.close();
    }
  });

  it('runs a Workflow: serial nodes in order for their deadlines, parallel ones together, everything recovered', async () => {
    const wf = loadChaosFile(join(CHAOS_DIR, 'db-chaos-workflow.yaml'));
    if (wf.kind !== 'Workflow') throw new Error('not a workflow');
    const short = { ...wf, spec: { ...wf.spec, templates: wf.spec.templates.map((t) => (t.deadline ? { ...t, deadline: t.name === 'the-entry' ? '10s' : '150ms' } : t)) } };
    const t0 = Date.now();
    const record = await executor.apply(short);
    expect(record.phase).toBe('running');
    await vi.waitFor(() => expect(executor.list().find((r) => r.id === 'percolate/db-chaos-workflow')!.phase).toBe('finished'), { timeout: 5_000, interval: 20 });
    const children = executor.list().filter((r) => r.parent === 'percolate/db-chaos-workflow').sort((a, b) => a.appliedAt - b.appliedAt);
    expect(children[0]!.name).toBe('db-chaos-workflow-slow-db');
    expect(children.map((c) => `${c.name} ${c.phase}`).sort()).toEqual([
      'db-chaos-workflow-kill-one finished', 'db-chaos-workflow-lossy-db recovered', 'db-chaos-workflow-slow-db recovered',
    ]);
    const [slow, ...rest] = children;
    // slow-db for its 150 ms deadline, then 150 ms of calm, then the parallel pair together.
    expect(slow!.recoveredAt! - slow!.appliedAt).toBeGreaterThanOrEqual(145);
    for (const c of rest) expect(c.appliedAt - slow!.recoveredAt!).toBeGreaterThanOrEqual(145);
    expect(Math.abs(rest[0]!.appliedAt - rest[1]!.appliedAt)).toBeLessThan(50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(440);
    expect(runtime.pods.every((p) => p.faults.size === 0)).toBe(true);
  });

  it('recovering a running workflow stops it and undoes the node in force', async () => {
    const wf = loadChaosFile(join(CHAOS_DIR, 'db-chaos-workflow.yaml'));
    await executor.apply(wf);
    await vi.waitFor(() => expect(runtime.pods.some((p) => p.faults.size > 0)).toBe(true), { timeout: 1_000, interval: 10 });
    const recovered = await executor.recover('db-chaos-workflow');
    expect(recovered[0]).toMatchObject({ phase: 'recovered', recoveredBy: 'request' });
    expect(runtime.pods.every((p) => p.faults.size === 0)).toBe(true);
    expect(executor.list().filter((r) => r.parent).map((r) => r.phase)).toEqual(['recovered']);
    expect(runtime.calls).toEqual([]); // the pod-kill after the calm never came
  });

  it('writes nothing once closed (the daemon removes the run dir while a stopped workflow unwinds)', async () => {
    await executor.apply(loadChaosFile(join(CHAOS_DIR, 'db-chaos-workflow.yaml')));
    await vi.waitFor(() => expect(runtime.pods.some((p) => p.faults.size > 0)).toBe(true), { timeout: 1_000, interval: 10 });
    executor.close();
    rmSync(runDir, { recursive: true, force: true });
    // The aborted workflow recovers its node asynchronously: give it the turns it needs.
    await vi.waitFor(() => expect(runtime.pods.every((p) => p.faults.size === 0)).toBe(true), { timeout: 1_000, interval: 10 });
    await new Promise((r) => setImmediate(r));
    expect(existsSync(runDir), 'the run dir came back').toBe(false);
  });

  it('marks what a previous daemon of the run dir left in force as recovered: its faults died with it', () => {
    mkdirSync(join(runDir, 'chaos'), { recursive: true });
    const stale = { id: 'percolate/old', name: 'old', namespace: 'percolate', kind: 'NetworkChaos', phase: 'injected', appliedAt: 1, selected: [], steps: [], errors: [] };
    writeFileSync(join(runDir, 'chaos', 'percolate.old.json'), JSON.stringify(stale));
    const next = new ChaosExecutor(runtime);
    expect(next.list()[0]).toMatchObject({ id: 'percolate/old', phase: 'recovered', recoveredBy: 'restart' });
    expect(JSON.parse(readFileSync(join(runDir, 'chaos', 'percolate.old.json'), 'utf8')).phase).toBe('recovered');
    expect(readdirSync(join(runDir, 'chaos'))).toEqual(['percolate.old.json']);
    next.close();
  });
});
