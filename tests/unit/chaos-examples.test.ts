import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPONENT_CANDIDATES } from '../../cluster/chaos/network-plan.ts';
import { loadChaosFile } from '../../cluster/chaos/parse.ts';
import { type Candidate, selectCandidates } from '../../cluster/chaos/selector.ts';
import { CHAOS_MESH_API_VERSION, type ChaosResource, type PodSelector } from '../../cluster/chaos/types.ts';
import { parseNodeCommand } from '../../cluster/chaos/kubectl-task.ts';
import { DEFAULT_ZONES } from '../../cluster/local/components/topology.ts';
import { loadVersions } from '../../cluster/k3s/plan.ts';
import { parseDuration } from '../../cluster/chaos/units.ts';
import { renderOverlay } from '../../cluster/manifests/render.ts';
import { imageBaseName } from '../../cluster/manifests/workloads.ts';

const CHAOS_DIR = new URL('../../chaos/', import.meta.url).pathname;
const files = readdirSync(CHAOS_DIR).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
const resources = new Map<string, ChaosResource>();
for (const f of files) {
  try { resources.set(f, loadChaosFile(join(CHAOS_DIR, f))); } catch { /* reported by its own test */ }
}

/** What every selector may pick on a cluster: the pod templates of the rendered manifests, and Istio's ingress gateway. */
let candidates: Candidate[] = [];
let containers: { workload: string; container: string; image: string }[] = [];
beforeAll(async () => {
  const m = await renderOverlay('fast');
  const workloads = m.objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
  candidates = [
    ...workloads.map((o) => ({ name: `${o.metadata.name}-0`, namespace: o.metadata.namespace ?? 'default', labels: o.spec.template.metadata.labels, phase: 'Running' as const })),
    COMPONENT_CANDIDATES.find((c) => c.component === 'load-balancer')!,
  ];
  containers = workloads.flatMap((o) => (o.spec.template.spec.containers as { name: string; image: string }[]).map((c) => ({ workload: o.metadata.name, container: c.name, image: c.image })));
});

const ONE_SHOT = new Set(['pod-kill', 'container-kill']);

describe('the experiments in chaos/', () => {
  it('exist, with a README that names each of them', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    const readme = readFileSync(join(CHAOS_DIR, 'README.md'), 'utf8');
    for (const f of files) expect(readme, `chaos/README.md mentions ${f}`).toContain(f);
  });

  for (const file of files) {
    describe(file, () => {
      it('is one resource of Chaos Mesh\'s API that passes our schema', () => {
        const r = loadChaosFile(join(CHAOS_DIR, file));
        expect(r.apiVersion).toBe(CHAOS_MESH_API_VERSION);
      });

      it('is named <fault>-<action>.yaml after its action, with metadata.name the same, in namespace percolate (Task workflows: percolate-chaos)', () => {
        const r = resources.get(file)!;
        const action = r.kind === 'Workflow' ? 'workflow' : r.kind === 'NetworkChaos' ? `network-${r.spec.action}` : r.kind === 'StressChaos' ? 'stress' : r.spec.action;
        const name = basename(file, '.yaml');
        expect(name === action || name.endsWith(`-${action}`), `${file} should end with "-${action}.yaml" (or be "${action}.yaml")`).toBe(true);
        expect(r.metadata.name).toBe(name);
        // A Task's pod runs as its namespace's default service account: the one granted
        // node-drainer (chaos/README.md) is not the application's.
        const runsTasks = r.kind === 'Workflow' && r.spec.templates.some((t) => t.templateType === 'Task');
        expect(r.metadata.namespace).toBe(runsTasks ? 'percolate-chaos' : 'percolate');
      });

      const r0 = resources.get(file);
      const tasks = r0?.kind === 'Workflow' ? r0.spec.templates.filter((t) => t.templateType === 'Task') : [];
      if (tasks.length) it('runs Tasks the local target can run too, with the kubectl pinned in versions.yaml and a bounded drain', () => {
        const pin = loadVersions().kubectl;
        for (const t of tasks) {
          expect(t.task!.container.image, `${t.name}: the kubectl image`).toBe(`${pin.image}:${pin.tag}`);
          const cmd = parseNodeCommand(t.task!, t.name);
          if (cmd.verb === 'drain') expect(cmd.timeoutMs, `${t.name}: kubectl drain --timeout`).toBeGreaterThan(0);
          for (const value of Object.values(cmd.nodeSelector ?? {})) expect(DEFAULT_ZONES as readonly string[]).toContain(value);
        }
      });

      it('ends by itself: a bounded duration (one-shot kills excepted)', () => {
        const r = resources.get(file)!;
        const bounded = (spec: { action: string; duration?: string }, deadline?: string) =>
          ONE_SHOT.has(spec.action) || (deadline ?? spec.duration) !== undefined;
        if (r.kind === 'Workflow') {
          const entry = r.spec.templates.find((t) => t.name === r.spec.entry)!;
          const everyChaosBounded = r.spec.templates.every((t) => !(t.podChaos ?? t.networkChaos) || bounded((t.podChaos ?? t.networkChaos)!, t.deadline));
          expect(entry.deadline !== undefined || everyChaosBounded).toBe(true);
          expect(everyChaosBounded, 'every chaos node of the workflow ends').toBe(true);
        } else {
          expect(bounded(r.spec as { action: string; duration?: string })).toBe(true);
        }
        const d = (r.spec as { duration?: string }).duration;
        if (d) expect(parseDuration(d)).toBeLessThanOrEqual(10 * 60_000);
      });

      it('selects pods that the manifests define (its labels are real)', () => {
        const r = resources.get(file)!;
        const selectors: PodSelector[] = [];
        if (r.kind === 'PodChaos' || r.kind === 'NetworkChaos') selectors.push(r.spec, ...(r.kind === 'NetworkChaos' && r.spec.target ? [r.spec.target] : []));
        if (r.kind === 'Workflow') for (const t of r.spec.templates) { const s = t.podChaos ?? t.networkChaos; if (s) selectors.push(s); }
        for (const s of selectors) {
          // Nodes are the cluster's, not the manifests': their labels are checked on their own.
          const { nodeSelectors, ...podSide } = s.selector;
          expect(selectCandidates(podSide, candidates, r.metadata.namespace, () => ({})).length, JSON.stringify(s.selector)).toBeGreaterThan(0);
          for (const [key, value] of Object.entries(nodeSelectors ?? {})) {
            expect(key, 'a node label every target sets').toBe('topology.kubernetes.io/zone');
            expect(DEFAULT_ZONES as readonly string[]).toContain(value);
          }
        }
        if (r.kind === 'PodChaos' && r.spec.containerNames) {
          for (const c of r.spec.containerNames) expect(containers.map((x) => x.container)).toContain(c);
        }
      });
    });
  }
});

describe('what the executor assumes of the manifests', () => {
  it('NATS is selected by its StatefulSet\'s pod labels', () => {
    const nats = candidates.find((c) => c.name === 'nats-0');
    expect(nats?.labels).toEqual(COMPONENT_CANDIDATES.find((c) => c.component === 'nats')!.labels);
    expect(nats?.namespace).toBe('percolate');
  });

  it('each of our pods has one container, named after its service (container-kill finds it by that name)', () => {
    const ours = containers.filter((c) => ['db-node', 'worker', 'gateway'].includes(imageBaseName(c.image)));
    expect(ours.length).toBeGreaterThanOrEqual(3);
    for (const c of ours) {
      expect(c.container, c.workload).toBe(imageBaseName(c.image));
      expect(containers.filter((x) => x.workload === c.workload)).toHaveLength(1);
    }
  });
});
