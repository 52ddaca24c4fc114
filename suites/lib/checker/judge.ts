import type { ClusterTarget } from '../../../cluster/target.ts';
import { eventually, notWithin } from '../../../lib/poll.ts';
import { type CheckResult, type ReplicaState, checkRegisters, describe, divergentTenants } from './check.ts';
import type { Ledger } from './ledger.ts';
import type { TenantClient } from '../../../lib/http.ts';
import { keysOf, readReplica } from './registers.ts';

export interface Verdict {
  check: CheckResult;
  /** From the start of the read-back until every replica held the same data per tenant. */
  convergenceMs: number;
  replicas: ReplicaState[];
}

/**
 * After the fault has healed: waits (bounded) for `replicas` ready pods of the workload,
 * reads every key of the ledger back from each of them directly, and repeats the read
 * until every tenant's digest is equal on all of them (convergence, within
 * `convergeWithinMs`). Then checks the ledger against what they hold. Convergence that
 * never comes is a failure that names the tenants that differ.
 */
export async function judge(opts: {
  cluster: ClusterTarget;
  workload: string;
  replicas: number;
  ledger: Ledger;
  clients: TenantClient[];
  podReadyMs: number;
  convergeWithinMs: number;
}): Promise<Verdict> {
  const { cluster, workload, ledger } = opts;
  const pods = await cluster.waitForReplicasReady(workload, opts.replicas, { timeoutMs: opts.podReadyMs });
  const byTenant = new Map(opts.clients.map((c) => [c.tenantId, c]));
  const keys = keysOf(ledger);
  const started = Date.now();
  let replicas: ReplicaState[] = [];
  try {
    await eventually(`every tenant's data equal on ${pods.map((p) => p.name).join(', ')}`, async () => {
      replicas = await Promise.all(pods.map((p) => readReplica({ name: p.name, address: p.address }, byTenant, keys)));
      return divergentTenants(replicas);
    }, (divergent) => divergent.length === 0, { timeoutMs: opts.convergeWithinMs, intervalMs: 500 });
  } catch (err) {
    // Replicas that never agree: say what the checker finds on them, not only that they differ.
    if (!replicas.length) throw err;
    throw new Error(`${notWithin('replicas converged', opts.convergeWithinMs)}; the checker on the last read:\n${describe(checkRegisters(ledger.ops, replicas))}`, { cause: err });
  }
  const convergenceMs = Date.now() - started;
  return { check: checkRegisters(ledger.ops, replicas), convergenceMs, replicas };
}
