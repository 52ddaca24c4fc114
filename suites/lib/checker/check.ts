import { createHash } from 'node:crypto';
import type { Op } from './ledger.ts';

/**
 * Judges a history of last-write-wins registers against what every replica holds after the
 * fault has healed — Jepsen's set and register checks, for a store whose writes are
 * acknowledged once its replication log has them.
 *
 * For each key and each replica, the value read back is
 * - `lost` when it is absent although a write to the key was acknowledged;
 * - `phantom` when no operation ever wrote it, or only one the system refused (`fail`);
 * - `stale` when an acknowledged write to the key began after the write of that value had
 *   ended: under LWW the later one must win, so the replica shows an older value than the
 *   last acknowledged one. Writes that overlapped in time may resolve either way.
 * Writes with an `unknown` outcome may or may not have happened: their values are allowed,
 * their absence is not a loss.
 */

/** What one replica returned for each key, by `keyOf(tenant, key)`; `null` is absent. */
export interface ReplicaState {
  replica: string;
  values: Map<string, string | null>;
  /** Keys the replica could not be asked about (connection refused, 5xx): reported, never guessed. */
  unreadable?: string[];
}

export type AnomalyKind = 'lost' | 'stale' | 'phantom' | 'unreadable';
export type LostLocation = 'prefix' | 'middle' | 'suffix' | 'all';

export interface Anomaly {
  kind: AnomalyKind;
  replica: string;
  tenant: string;
  key: string;
  /** What the replica holds (null: absent). */
  found: string | null;
  /** The acknowledged value it should hold at least (lost, stale). */
  expected?: string;
  /** For lost keys: where in the run the key's last acknowledged write falls. */
  location?: LostLocation;
}

export interface CheckResult {
  valid: boolean;
  writes: { attempted: number; ok: number; fail: number; unknown: number };
  keys: number;
  replicas: string[];
  counts: Record<AnomalyKind, number>;
  /** Lost keys by where their runs sit in the order of acknowledgement, over all replicas. */
  lostLocations: Record<LostLocation, number>;
  anomalies: Anomaly[];
}

export const keyOf = (tenant: string, key: string) => `${tenant}\u0000${key}`;
const splitKey = (k: string) => { const i = k.indexOf('\u0000'); return { tenant: k.slice(0, i), key: k.slice(i + 1) }; };

interface KeyHistory { tenant: string; key: string; writes: Op[]; ok: Op[]; lastAckedEnd: number }

function histories(ops: Op[]): Map<string, KeyHistory> {
  const byKey = new Map<string, KeyHistory>();
  for (const op of ops) {
    if (op.type !== 'write') continue;
    const k = keyOf(op.tenant, op.key);
    let h = byKey.get(k);
    if (!h) { h = { tenant: op.tenant, key: op.key, writes: [], ok: [], lastAckedEnd: -Infinity }; byKey.set(k, h); }
    h.writes.push(op);
    if (op.outcome === 'ok') { h.ok.push(op); h.lastAckedEnd = Math.max(h.lastAckedEnd, op.end); }
  }
  return byKey;
}

/** The acknowledged write a replica must at least reflect: the one that began last. */
function latestAcked(h: KeyHistory): Op | undefined {
  return h.ok.reduce<Op | undefined>((best, op) => (!best || op.start > best.start ? op : best), undefined);
}

/**
 * Labels runs of lost keys by their place in the order of acknowledgement: a run that
 * includes the first acknowledged key is a prefix (e.g. a replica that never replayed the
 * log), one that includes the last a suffix (acknowledged, then dropped before it was
 * stored), anything else the middle; a replica that lost every key lost `all`.
 */
export function locateRuns(lost: boolean[]): Array<LostLocation | undefined> {
  const n = lost.length;
  const out: Array<LostLocation | undefined> = new Array(n).fill(undefined);
  let i = 0;
  while (i < n) {
    if (!lost[i]) { i += 1; continue; }
    let j = i;
    while (j + 1 < n && lost[j + 1]) j += 1;
    const where: LostLocation = i === 0 && j === n - 1 ? 'all' : i === 0 ? 'prefix' : j === n - 1 ? 'suffix' : 'middle';
    for (let k = i; k <= j; k += 1) out[k] = where;
    i = j + 1;
  }
  return out;
}

export function checkRegisters(ops: Op[], replicas: ReplicaState[]): CheckResult {
  const byKey = histories(ops);
  const anomalies: Anomaly[] = [];
  const counts: Record<AnomalyKind, number> = { lost: 0, stale: 0, phantom: 0, unreadable: 0 };
  const lostLocations: Record<LostLocation, number> = { prefix: 0, middle: 0, suffix: 0, all: 0 };
  const add = (a: Anomaly) => { anomalies.push(a); counts[a.kind] += 1; };
  // Keys with an acknowledged write, in the order their last acknowledgement came.
  const acked = [...byKey.entries()].filter(([, h]) => h.ok.length > 0).sort(([, a], [, b]) => a.lastAckedEnd - b.lastAckedEnd);

  for (const replica of replicas) {
    const unreadable = new Set(replica.unreadable ?? []);
    for (const k of unreadable) { const { tenant, key } = splitKey(k); add({ kind: 'unreadable', replica: replica.replica, tenant, key, found: null }); }
    const lostHere: boolean[] = acked.map(([k]) => !unreadable.has(k) && (replica.values.get(k) ?? null) === null);
    const where = locateRuns(lostHere);
    acked.forEach(([k, h], i) => {
      if (!lostHere[i]) return;
      const location = where[i]!;
      lostLocations[location] += 1;
      add({ kind: 'lost', replica: replica.replica, tenant: h.tenant, key: h.key, found: null, expected: latestAcked(h)!.value ?? undefined, location });
    });
    for (const [k, h] of byKey) {
      if (unreadable.has(k)) continue;
      const found = replica.values.get(k) ?? null;
      if (found === null) continue;
      const source = h.writes.find((w) => w.value === found && w.outcome !== 'fail');
      if (!source) { add({ kind: 'phantom', replica: replica.replica, tenant: h.tenant, key: h.key, found }); continue; }
      const newer = h.ok.filter((w) => w.start > source.end);
      if (newer.length) {
        const expected = newer.reduce((a, b) => (b.start > a.start ? b : a));
        add({ kind: 'stale', replica: replica.replica, tenant: h.tenant, key: h.key, found, expected: expected.value ?? undefined });
      }
    }
    // Keys a replica holds that no operation of the run touched are phantoms too.
    for (const [k, found] of replica.values) {
      if (found !== null && !byKey.has(k)) { const { tenant, key } = splitKey(k); add({ kind: 'phantom', replica: replica.replica, tenant, key, found }); }
    }
  }

  const writes = { attempted: 0, ok: 0, fail: 0, unknown: 0 };
  for (const op of ops) if (op.type === 'write') { writes.attempted += 1; writes[op.outcome] += 1; }
  return {
    valid: anomalies.length === 0,
    writes,
    keys: byKey.size,
    replicas: replicas.map((r) => r.replica),
    counts,
    lostLocations,
    anomalies,
  };
}

/** One line per kind, and the first few of each, for a failure message a person can act on. */
export function describe(result: CheckResult, max = 5): string {
  const lines = [`${result.writes.attempted} writes (${result.writes.ok} ok, ${result.writes.fail} fail, ${result.writes.unknown} unknown) over ${result.keys} keys, read back from ${result.replicas.length} replicas (${result.replicas.join(', ')})`];
  lines.push(`lost ${result.counts.lost} (prefix ${result.lostLocations.prefix}, middle ${result.lostLocations.middle}, suffix ${result.lostLocations.suffix}, all ${result.lostLocations.all}), stale ${result.counts.stale}, phantom ${result.counts.phantom}, unreadable ${result.counts.unreadable}`);
  for (const kind of ['lost', 'stale', 'phantom', 'unreadable'] as const) {
    const some = result.anomalies.filter((a) => a.kind === kind).slice(0, max);
    for (const a of some) lines.push(`  ${kind}: ${a.replica} ${a.tenant}/${a.key} holds ${a.found ?? 'nothing'}${a.expected ? `, acknowledged ${a.expected}` : ''}${a.location ? ` (${a.location} of the run)` : ''}`);
  }
  return lines.join('\n');
}

/** A digest of one tenant's keys as a replica holds them: equal digests, equal data. */
export function tenantDigests(replica: ReplicaState): Map<string, string> {
  const byTenant = new Map<string, Array<[string, string | null]>>();
  for (const [k, v] of replica.values) {
    const { tenant, key } = splitKey(k);
    const list = byTenant.get(tenant) ?? [];
    list.push([key, v]);
    byTenant.set(tenant, list);
  }
  const out = new Map<string, string>();
  for (const [tenant, list] of byTenant) {
    list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out.set(tenant, createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 16));
  }
  return out;
}

/** Tenants whose digests differ between replicas, with each replica's digest. */
export function divergentTenants(replicas: ReplicaState[]): Array<{ tenant: string; digests: Record<string, string> }> {
  const digests = replicas.map((r) => ({ replica: r.replica, byTenant: tenantDigests(r) }));
  const tenants = new Set(digests.flatMap((d) => [...d.byTenant.keys()]));
  const out: Array<{ tenant: string; digests: Record<string, string> }> = [];
  for (const tenant of [...tenants].sort()) {
    const per = Object.fromEntries(digests.map((d) => [d.replica, d.byTenant.get(tenant) ?? 'none']));
    if (new Set(Object.values(per)).size > 1) out.push({ tenant, digests: per });
  }
  return out;
}
