import { type HttpResult, type TenantClient, http } from '../../../lib/http.ts';
import { mapConcurrent } from '../concurrency.ts';
import { type ReplicaState, keyOf } from './check.ts';
import { Ledger, outcomeOf } from './ledger.ts';

/**
 * The chaos tests' client workload: lanes of clients writing last-write-wins registers
 * (`PUT /api/v1/entities/{key}` with one property `v`) through the load balancer, each
 * write with a value no other write has, every attempt in the ledger. Most writes go to a
 * fresh key (Jepsen's set: a lost one is simply absent afterwards); one in `registerEvery`
 * rewrites one of a few keys per tenant (a register: a stale value shows there).
 */

export interface RegisterWorkloadOptions {
  clients: TenantClient[];
  /** Concurrent client lanes (Jepsen's processes). */
  lanes: number;
  /** Tags every key and value of this run, so runs never read each other's data. */
  runTag: string;
  /** Each request's bound: past it the outcome is `unknown`. Above the db-node's publish timeout, so a refusal is seen as one. */
  requestTimeoutMs: number;
  registerKeys?: number;
  registerEvery?: number;
}

export const PROPERTY = 'v';

export class RegisterWorkload {
  readonly ledger = new Ledger();
  private running = false;
  private lanes: Promise<void>[] = [];

  constructor(private readonly opts: RegisterWorkloadOptions) {}

  start(): this {
    this.running = true;
    const { clients, lanes, runTag, registerKeys = 3, registerEvery = 4 } = this.opts;
    this.lanes = Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; this.running; i += 1) {
        const client = clients[(lane + i * lanes) % clients.length]!;
        const key = i % registerEvery === 0 ? `${runTag}-r${(lane + i) % registerKeys}` : `${runTag}-k${lane}-${i}`;
        await this.write(client, lane, key, `${runTag}-${lane}-${i}`);
      }
    });
    return this;
  }

  /** One write, recorded from invocation to outcome. */
  async write(client: TenantClient, lane: number, key: string, value: string): Promise<void> {
    const complete = this.ledger.invoke({ type: 'write', process: lane, tenant: client.tenantId, key, value, start: Date.now() });
    try {
      const res = await client.request('PUT', `/api/v1/entities/${key}`, { properties: { [PROPERTY]: value } }, { timeoutMs: this.opts.requestTimeoutMs });
      const { outcome, detail } = outcomeOf(res);
      complete(outcome, detail);
    } catch (err) {
      const { outcome, detail } = outcomeOf(err as Error);
      complete(outcome, detail);
    }
  }

  async stop(): Promise<Ledger> {
    this.running = false;
    await Promise.all(this.lanes);
    this.ledger.seal();
    return this.ledger;
  }
}

/** A pod to read back from: its name and an address that reaches it directly (not the load balancer). */
export interface Replica { name: string; address: string }

/**
 * Reads every key the ledger touched back from one replica, directly: first the sync
 * barrier (`POST /api/v1/sync`: the pod has applied the replication log up to its current
 * end), then each key. A key that cannot be read is reported unreadable, never guessed.
 */
export async function readReplica(replica: Replica, clients: Map<string, TenantClient>, keys: Array<{ tenant: string; key: string }>, concurrency = 8): Promise<ReplicaState> {
  const base = `http://${replica.address}`;
  const values = new Map<string, string | null>();
  const unreadable: string[] = [];
  const first = clients.values().next().value as TenantClient | undefined;
  if (first) {
    const sync = await first.at(base).request('POST', '/api/v1/sync', { timeoutMs: 5000 }, { timeoutMs: 10_000 }).catch((err: Error): Pick<HttpResult<any>, 'status' | 'text' | 'body'> => ({ status: 0, text: err.message, body: {} }));
    if (sync.status !== 200 || !sync.body?.caughtUp) throw new Error(`${replica.name} did not catch up with the replication log before read-back: ${sync.status} ${sync.text}`);
  }
  await mapConcurrent(keys, concurrency, async ({ tenant, key }) => {
    const client = clients.get(tenant)!.at(base);
    const k = keyOf(tenant, key);
    try {
      const res = await client.request('GET', `/api/v1/entities/${key}`, undefined, { timeoutMs: 5000 });
      if (res.status === 404) values.set(k, null);
      else if (res.status === 200) values.set(k, (res.body?.properties?.[PROPERTY] as string | undefined) ?? null);
      else unreadable.push(k);
    } catch {
      unreadable.push(k);
    }
  });
  return { replica: replica.name, values, unreadable };
}

/** Every key a ledger's writes touched, once. */
export function keysOf(ledger: Ledger): Array<{ tenant: string; key: string }> {
  const seen = new Map<string, { tenant: string; key: string }>();
  for (const op of ledger.writes()) seen.set(keyOf(op.tenant, op.key), { tenant: op.tenant, key: op.key });
  return [...seen.values()];
}

/** For a probe that only needs a status (e.g. `/ready`): never throws. */
export async function statusOf(url: string, timeoutMs = 2000): Promise<number> {
  try { return (await http(url, { signal: AbortSignal.timeout(timeoutMs) })).status; } catch { return 0; }
}
