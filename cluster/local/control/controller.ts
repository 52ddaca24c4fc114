import { createHash, randomInt } from 'node:crypto';
import type { WorkloadInfo } from '../../target.ts';
import type { Pod } from '../components/pod.ts';

/** What a controller asks of the runtime: make a pod, delete a pod. */
export interface PodOps {
  createPod(controller: WorkloadController, name: string, ordinal?: number): Promise<Pod>;
  /** Graceful deletion; resolves when the pod is gone. */
  deletePod(pod: Pod, graceMs?: number): Promise<void>;
}

// Kubernetes' safe alphabet for generated names: no vowels, no look-alikes.
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const randomSuffix = (n: number) => Array.from({ length: n }, () => NAME_ALPHABET[randomInt(NAME_ALPHABET.length)]).join('');

/**
 * A StatefulSet or Deployment controller: keeps the number of pods at the desired
 * replicas with the naming and ordering rules of each kind.
 * - StatefulSet: pods `<name>-<ordinal>`; scale up fills the lowest missing ordinals,
 *   scale down removes the highest; a deleted pod comes back under the same name once
 *   the old one is gone. `OrderedReady` goes one pod at a time, each ready before the
 *   next; `Parallel` (what the manifests ask for) does all at once.
 * - Deployment: pods `<name>-<template hash>-<5 random>`; a replacement is created as
 *   soon as a pod starts terminating; scale down removes not-ready pods first, then the
 *   newest.
 */
export class WorkloadController {
  readonly pods = new Map<string, Pod>();
  private running = false;
  private again = false;
  private readonly templateHash: string;

  constructor(
    readonly name: string,
    readonly kind: 'StatefulSet' | 'Deployment',
    public desired: number,
    readonly parallel: boolean,
    templateFingerprint: string,
    private readonly ops: PodOps,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    const digest = createHash('sha256').update(templateFingerprint).digest();
    this.templateHash = Array.from(digest.subarray(0, 10), (b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
  }

  /** Pods that count towards the replicas: not terminating. */
  get active(): Pod[] { return [...this.pods.values()].filter((p) => !p.terminating); }
  get readyReplicas(): number { return this.active.filter((p) => p.ready).length; }

  scale(replicas: number): void {
    this.desired = replicas;
    this.reconcile();
  }

  /** Runs the control loop until it has nothing left to do; calls made meanwhile coalesce. */
  reconcile(): void {
    if (this.running) { this.again = true; return; }
    this.running = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await (this.kind === 'StatefulSet' ? this.reconcileStatefulSet() : this.reconcileDeployment());
        } while (this.again);
      } catch (err) {
        // A pod that could not be created (no schedulable node, no port): try again later.
        this.onError(err);
        setTimeout(() => this.reconcile(), 1_000).unref();
      } finally {
        this.running = false;
      }
    })();
  }

  /** A pod finished deleting: forget it and let the loop react (a StatefulSet recreates its name). */
  podGone(pod: Pod): void {
    if (this.pods.get(pod.name) === pod) this.pods.delete(pod.name);
    this.reconcile();
  }

  private ordinalName(i: number): string { return `${this.name}-${i}`; }

  private async reconcileStatefulSet(): Promise<void> {
    const surplus = [...this.pods.values()]
      .filter((p) => !p.terminating && (p.ordinal ?? 0) >= this.desired)
      .sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0));
    if (surplus.length) {
      const anyTerminating = [...this.pods.values()].some((p) => p.terminating);
      const victims = this.parallel ? surplus : anyTerminating ? [] : surplus.slice(0, 1);
      for (const pod of victims) void this.ops.deletePod(pod);
    }
    const creating: Promise<void>[] = [];
    for (let i = 0; i < this.desired; i++) {
      const name = this.ordinalName(i);
      const existing = this.pods.get(name);
      if (existing) {
        if (!this.parallel && (!existing.ready || existing.terminating)) return; // OrderedReady: wait
        continue;
      }
      if (!this.parallel) {
        this.pods.set(name, await this.ops.createPod(this, name, i));
        return; // the next ordinal waits for this one to be ready
      }
      creating.push(this.ops.createPod(this, name, i).then((pod) => { this.pods.set(name, pod); }));
    }
    await Promise.all(creating);
  }

  private async reconcileDeployment(): Promise<void> {
    const active = this.active;
    if (active.length > this.desired) {
      const victims = active
        .sort((a, b) => Number(a.ready) - Number(b.ready) || b.createdAt - a.createdAt)
        .slice(0, active.length - this.desired);
      for (const pod of victims) void this.ops.deletePod(pod);
    }
    const names = new Set<string>();
    for (let n = active.length; n < this.desired; n++) {
      let name: string;
      do name = `${this.name}-${this.templateHash}-${randomSuffix(5)}`; while (this.pods.has(name) || names.has(name));
      names.add(name);
    }
    // A ReplicaSet creates its missing pods together.
    await Promise.all([...names].map(async (name) => this.pods.set(name, await this.ops.createPod(this, name))));
  }

  /** Called when a pod's readiness changes: OrderedReady may now take its next step. */
  podChanged(): void {
    if (!this.parallel && this.kind === 'StatefulSet') this.reconcile();
  }

  info(): WorkloadInfo {
    return { name: this.name, kind: this.kind, replicas: this.desired, readyReplicas: this.readyReplicas, pods: [...this.pods.keys()] };
  }
}
