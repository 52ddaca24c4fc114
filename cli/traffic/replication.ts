import { performance } from 'node:perf_hooks';
import type { PodInfo } from '../../cluster/target.ts';
import { type TenantCredentials, sendAs } from '../../lib/http.ts';

export interface BarrierStatus { appliedSeq: number; streamLastSeq: number; caughtUp: boolean }

export interface ReplicaLag {
  pod: string;
  zone: string;
  /** The pod that took the write (through the load balancer), or one that replicates it. */
  role: 'origin' | 'replica';
  /**
   * From the write's acknowledgement to the answer of the first read that found the probe on
   * this pod (an upper bound); absent if never seen.
   */
  lagMs?: number;
  /** When the last read that did not find it was sent (0 if the first read found it): the lag is above this. */
  lagLowerBoundMs?: number;
  /** Reads it took; the last read's duration is the measurement's resolution. */
  reads: number;
  resolutionMs?: number;
  /** Why the probe was not seen (timeout, last status), with the pod's replication position then. */
  error?: string;
  barrier?: BarrierStatus;
}

export interface ProbeResult {
  tenant: string;
  probeId: string;
  origin: string | null;
  writeStatus: string;
  writeMs: number;
  replicas: ReplicaLag[];
  /** The largest lag among replicas (origin excluded); absent when there is no replica or one never saw it. */
  maxReplicaLagMs?: number;
  /** Pods that never saw the probe within the bound. */
  missing: number;
}

export interface ProbeOptions {
  loadBalancerUrl: string;
  /** Ready database pods of the tenant's tier, reached straight at their addresses. */
  pods: PodInfo[];
  who: TenantCredentials;
  probeId: string;
  /** Bound on the wait for the probe on each pod. */
  timeoutMs: number;
  signal: AbortSignal;
}

const podUrl = (p: PodInfo) => `http://${p.address}`;
const REQUEST_TIMEOUT_MS = 5_000;

async function barrier(p: PodInfo, who: TenantCredentials, timeoutMs: number): Promise<BarrierStatus | string> {
  const r = await sendAs<BarrierStatus>(podUrl(p), who, { method: 'POST', path: '/api/v1/sync', json: { timeoutMs } }, { timeoutMs: timeoutMs + REQUEST_TIMEOUT_MS });
  if ('failure' in r.outcome) return r.outcome.failure;
  return r.outcome.status === 200 && r.result ? r.result.body : `status ${r.outcome.status}`;
}

/**
 * Replication lag of one write: the probe is written through the load balancer, then read
 * straight from every pod in parallel, back to back, until each has it. Before the write,
 * each pod passes the sync barrier (so an old backlog does not count as this write's lag)
 * and opens the tenant's store (so a cold open does not either).
 */
export async function probeReplication(o: ProbeOptions): Promise<ProbeResult> {
  const path = `/api/v1/resources/${o.probeId}`;
  await Promise.all(o.pods.map(async (p) => {
    await barrier(p, o.who, 5_000);
    await sendAs(podUrl(p), o.who, { method: 'GET', path }, { timeoutMs: REQUEST_TIMEOUT_MS });
  }));

  const write = await sendAs(o.loadBalancerUrl, o.who, {
    method: 'POST', path: '/api/v1/resources',
    json: { id: o.probeId, title: `replication probe ${o.probeId}`, content: `written at ${new Date().toISOString()} by check-replication`, tags: ['replication-probe'] },
  }, { timeoutMs: REQUEST_TIMEOUT_MS, signal: o.signal });
  const ackedAt = performance.now();
  const writeStatus = 'failure' in write.outcome ? write.outcome.failure : String(write.outcome.status);
  if (writeStatus !== '201') {
    return { tenant: o.who.tenant, probeId: o.probeId, origin: write.pod, writeStatus, writeMs: write.ms, replicas: [], missing: o.pods.length };
  }

  const deadline = ackedAt + o.timeoutMs;
  const replicas = await Promise.all(o.pods.map(async (p): Promise<ReplicaLag> => {
    const lag: ReplicaLag = { pod: p.name, zone: p.zone, role: p.name === write.pod ? 'origin' : 'replica', reads: 0 };
    let last = '';
    let lastMissSentAt = ackedAt;
    while (performance.now() < deadline && !o.signal.aborted) {
      const sentAt = performance.now();
      const r = await sendAs(podUrl(p), o.who, { method: 'GET', path }, { timeoutMs: Math.max(1, Math.min(REQUEST_TIMEOUT_MS, deadline - sentAt)), signal: o.signal });
      const doneAt = performance.now();
      lag.reads++;
      if ('status' in r.outcome && r.outcome.status === 200) {
        lag.lagMs = doneAt - ackedAt;
        lag.lagLowerBoundMs = lastMissSentAt - ackedAt;
        lag.resolutionMs = doneAt - sentAt;
        return lag;
      }
      last = 'status' in r.outcome ? `status ${r.outcome.status}` : r.outcome.failure;
      lastMissSentAt = sentAt;
      // 404 is "not yet": ask again at once. Anything else: do not hammer a pod in trouble.
      if (last !== 'status 404') await new Promise((res) => setTimeout(res, 10));
    }
    lag.error = o.signal.aborted ? 'interrupted' : `not readable within ${o.timeoutMs} ms (last read: ${last || 'none'})`;
    const position = await barrier(p, o.who, 1_000);
    if (typeof position === 'string') lag.error += `; sync barrier: ${position}`;
    else lag.barrier = position;
    return lag;
  }));

  const replicaLags = replicas.filter((r) => r.role === 'replica');
  const missing = replicas.filter((r) => r.lagMs === undefined).length;
  const maxReplicaLagMs = replicaLags.length && replicaLags.every((r) => r.lagMs !== undefined) ? Math.max(...replicaLags.map((r) => r.lagMs!)) : undefined;
  return { tenant: o.who.tenant, probeId: o.probeId, origin: write.pod, writeStatus, writeMs: write.ms, replicas, maxReplicaLagMs, missing };
}
