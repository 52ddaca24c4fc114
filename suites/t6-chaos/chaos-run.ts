import type { TestInfo } from '@playwright/test';
import type { ClusterTarget } from '../../cluster/target.ts';
import type { Tenants } from '../fixtures/tenants.ts';
import { TenantClient } from '../../lib/http.ts';
import { type Disruption, type Verdict, RegisterWorkload, disruption, judge } from '../lib/checker/index.ts';
import { describeFailures } from '../lib/checker/availability.ts';
import { reportAvailability, reportVerdict } from '../lib/checker/report.ts';
import type { Deadlines } from '../../lib/time.ts';
import type { SeriesEvent } from '../lib/measure.ts';
import { eventually } from '../../lib/poll.ts';
import type { PlanTargets } from '../lib/targets.ts';
import { DEFAULT_PUBLISH_TIMEOUT_MS } from '../../reference-services/shared/nats.ts';

/** A client's bound on one write: the db-node's publish bound and time to answer, so a refused write is seen as its 503. */
const REQUEST_TIMEOUT_MS = DEFAULT_PUBLISH_TIMEOUT_MS + 3_000;

/**
 * What every T6 spec does around its fault: clients writing registers through the load
 * balancer (every attempt in the checker's ledger) before, during and after the fault;
 * the fault; the wait for the system to heal; then the checker's verdict, read back from
 * every replica, in the report.
 */
export class ChaosRun {
  readonly workload: RegisterWorkload;
  readonly events: SeriesEvent[] = [];
  faultAt = Number.NaN;

  private constructor(readonly clients: TenantClient[], runTag: string, readonly lanes: number, readonly requestTimeoutMs: number) {
    this.workload = new RegisterWorkload({ clients, lanes, runTag, requestTimeoutMs });
  }

  /** `count` tenants of the small tier, each reaching the cluster through `baseUrl` (the load balancer). */
  static async create(opts: { tenants: Tenants; baseUrl: string; count: number; runTag: string; lanes?: number; requestTimeoutMs?: number }): Promise<ChaosRun> {
    const list = opts.tenants.ofTier('small', opts.count);
    const clients = await Promise.all(list.map(async (t) => new TenantClient(opts.baseUrl, t.id, await opts.tenants.token(t.id))));
    return new ChaosRun(clients, opts.runTag.replace(/[^A-Za-z0-9_-]/g, ''), opts.lanes ?? 8, opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS);
  }

  acknowledged(since = 0): number {
    return this.workload.ledger.ops.filter((o) => o.outcome === 'ok' && o.end >= since).length;
  }

  /** Starts the clients and waits (bounded) until `count` writes have been acknowledged. */
  async startAndWarm(count: number, timeoutMs: number): Promise<void> {
    this.workload.start();
    await eventually(`${count} writes acknowledged before the fault`, async () => this.acknowledged(), (n) => n >= count, { timeoutMs, show: (n) => this.progress(n, 0) });
  }

  /** What a wait for acknowledged writes saw: how many, and how the others were answered. */
  private progress(acknowledged: number, since: number): string {
    const others = this.workload.ledger.ops.filter((o) => o.end >= since && Number.isFinite(o.end) && o.outcome !== 'ok');
    return `${acknowledged} acknowledged; not acknowledged: ${describeFailures(others)}`;
  }

  /**
   * Waits until `count` writes started at or after `since` have been answered, whatever the
   * answer (a build that acknowledges what it should refuse must reach the checker). Each
   * lane finishes the write it had in flight at `since`, then takes ⌈count / lanes⌉ more, each
   * at most a request timeout: that, plus `marginMs`, is the bound.
   */
  async answered(count: number, since: number, what: string, marginMs: number): Promise<void> {
    const timeoutMs = (Math.ceil(count / this.lanes) + 1) * this.requestTimeoutMs + marginMs;
    await eventually(`${count} writes answered ${what} (within ${Math.round(timeoutMs / 1000)} s)`,
      async () => this.workload.ledger.ops.filter((o) => o.start >= since && Number.isFinite(o.end)).length, (n) => n >= count, { timeoutMs });
  }

  mark(kind: string, label: string): number {
    const t = Date.now();
    this.events.push({ t, kind, label });
    if (kind === 'chaos-start' && Number.isNaN(this.faultAt)) this.faultAt = t;
    return t;
  }

  /** Keeps the clients writing until `count` more writes were acknowledged after `since`: the system takes writes again. */
  async afterRecovery(count: number, since: number, timeoutMs: number): Promise<void> {
    await eventually(`${count} writes acknowledged after recovery`, async () => this.acknowledged(since), (n) => n >= count, { timeoutMs, show: (n) => this.progress(n, since) });
  }

  async stop(): Promise<Disruption> {
    await this.workload.stop();
    return disruption(this.workload.ledger.ops, this.faultAt);
  }

  /** Reads back from every ready replica of `workload` and reports the checker's verdict and the availability series. */
  async verdict(testInfo: TestInfo, o: { cluster: ClusterTarget; workload: string; replicas: number; deadlines: Deadlines; plan: PlanTargets; disruption: Disruption }): Promise<Verdict> {
    await reportAvailability(testInfo, 'availability', this.workload.ledger, o.disruption, this.events);
    const convergeWithinMs = o.deadlines.podReadyMs;
    const verdict = await judge({
      cluster: o.cluster, workload: o.workload, replicas: o.replicas, ledger: this.workload.ledger,
      clients: this.clients, podReadyMs: o.deadlines.podReadyMs * o.replicas, convergeWithinMs,
    });
    await reportVerdict(testInfo, o.plan, verdict, convergeWithinMs);
    return verdict;
  }
}
