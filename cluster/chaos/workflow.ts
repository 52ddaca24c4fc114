import type { ExperimentRecord } from './records.ts';
import {
  CHAOS_MESH_API_VERSION, type ChaosResource, type NetworkChaos, type PodChaos, type Workflow, type WorkflowTemplate,
} from './types.ts';
import { parseDuration } from './units.ts';

export interface WorkflowContext {
  /** Applies one chaos node's experiment under the given name. */
  apply(resource: ChaosResource, name: string): Promise<ExperimentRecord>;
  /** Runs a Task node's container to its end under the given name. */
  runTask(template: WorkflowTemplate, name: string): Promise<void>;
  recover(id: string): Promise<void>;
  isActive(id: string): boolean;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const done = () => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs a Chaos Mesh Workflow: Serial children one after another, Parallel children together,
 * Suspend waits its deadline, a Task runs to its end, a chaos node applies its experiment and keeps it in force for
 * its `deadline` (or, without one, its own `duration`; a one-shot action without either
 * finishes once applied; an experiment with neither lasts until the workflow is recovered).
 * A Serial or Parallel node with a deadline stops its children when it passes. Every chaos
 * node recovers its experiment before it finishes, also when the workflow is aborted.
 */
export async function runWorkflow(workflow: Workflow, ctx: WorkflowContext, signal: AbortSignal): Promise<void> {
  const templates = new Map(workflow.spec.templates.map((t) => [t.name, t]));
  const uses = new Map<string, number>();

  /** `<workflow>-<template>`, with `-2`, `-3`… when a template runs again. */
  const nodeName = (t: WorkflowTemplate): string => {
    const n = (uses.get(t.name) ?? 0) + 1;
    uses.set(t.name, n);
    return `${workflow.metadata.name}-${t.name}${n > 1 ? `-${n}` : ''}`;
  };

  const runNode = async (name: string, parent: AbortSignal): Promise<void> => {
    if (parent.aborted) return;
    const t = templates.get(name)!;
    const deadlineMs = t.deadline ? parseDuration(t.deadline) : undefined;
    const own = deadlineMs === undefined ? parent : AbortSignal.any([parent, AbortSignal.timeout(deadlineMs)]);
    switch (t.templateType) {
      case 'Serial':
        for (const child of t.children ?? []) {
          if (own.aborted) break;
          await runNode(child, own);
        }
        return;
      case 'Parallel':
        await Promise.all((t.children ?? []).map((child) => runNode(child, own)));
        return;
      case 'Suspend':
        await sleep(deadlineMs ?? 0, parent);
        return;
      case 'PodChaos':
      case 'NetworkChaos':
        await runChaosNode(t, deadlineMs, parent);
        return;
      case 'Task':
        await ctx.runTask(t, nodeName(t));
    }
  };

  const runChaosNode = async (t: WorkflowTemplate, deadlineMs: number | undefined, parent: AbortSignal): Promise<void> => {
    const name = nodeName(t);
    const metadata = { name, namespace: workflow.metadata.namespace };
    const resource: PodChaos | NetworkChaos = t.templateType === 'PodChaos'
      ? { apiVersion: CHAOS_MESH_API_VERSION, kind: 'PodChaos', metadata, spec: t.podChaos! }
      : { apiVersion: CHAOS_MESH_API_VERSION, kind: 'NetworkChaos', metadata, spec: t.networkChaos! };
    const record = await ctx.apply(resource, name);
    try {
      const ownDuration = resource.spec.duration ? parseDuration(resource.spec.duration) : undefined;
      const lifetime = deadlineMs ?? (record.phase === 'finished' ? 0 : ownDuration);
      if (lifetime === undefined) await new Promise<void>((resolve) => (parent.aborted ? resolve() : parent.addEventListener('abort', () => resolve(), { once: true })));
      else await sleep(lifetime, parent);
    } finally {
      if (ctx.isActive(record.id)) await ctx.recover(record.id);
    }
  };

  await runNode(workflow.spec.entry, signal);
}
