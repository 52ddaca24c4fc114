import type { ClusterTarget } from '../../cluster/target.ts';

/** One JSON audit line of a db-node (reference-services/db-node/key-ring.ts). */
export interface AuditLine {
  audit: 'key.unwrap' | 'key.denied';
  tenant: string;
  keyVersion?: number;
  caller?: string;
  action?: string;
  principal?: string;
  requestId: string;
  outcome?: string;
  status?: number;
  pod?: string;
  time?: number;
}

/** Every audit line in the logs of the given pods (as `kubectl logs` shows them). */
export async function auditLines(cluster: ClusterTarget, pods: string[]): Promise<Array<AuditLine & { from: string }>> {
  const lines: Array<AuditLine & { from: string }> = [];
  for (const pod of pods) {
    for (const raw of (await cluster.getPodLogs(pod)).split('\n')) {
      if (!raw.includes('"audit"')) continue;
      try {
        const parsed = JSON.parse(raw) as AuditLine;
        if (parsed.audit) lines.push({ ...parsed, from: pod });
      } catch {
        // A line that is not JSON (a crash trace) is no audit line.
      }
    }
  }
  return lines;
}

/** Sums a counter of a pod's `/metrics` by one label (e.g. tenant_id), keeping only series whose labels match `where`. */
export async function counterBy(address: string, metric: string, label: string, where: Record<string, string> = {}): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(where).some(([k, v]) => labels[k] !== v)) continue;
    const key = labels[label] ?? '';
    sums.set(key, (sums.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return sums;
}
