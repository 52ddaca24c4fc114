/**
 * The ledger of a chaos test: every operation its clients attempted, with when it started
 * and ended and how it came out, as Jepsen keeps a history. The checker judges the run from
 * this ledger and from what the replicas hold afterwards, never from the clients' own view.
 *
 * Outcomes, as Jepsen names them:
 * - `ok`: the system acknowledged the operation (a 2xx);
 * - `fail`: the system refused it before doing anything (a 4xx: bad input, auth, limits),
 *   so it certainly did not happen;
 * - `unknown`: anything else — a 5xx, a timeout, a connection cut. It may or may not have
 *   happened (a write stored in JetStream whose ack was lost answers 503), so the checker
 *   allows both, and never counts it as lost or as a phantom.
 */

export type Outcome = 'ok' | 'fail' | 'unknown';
export type OpType = 'write' | 'read';

export interface Op {
  /** Position in the ledger (invocation order). */
  index: number;
  type: OpType;
  /** Which client lane ran it (Jepsen's process). */
  process: number;
  tenant: string;
  key: string;
  /** The value written, or the value a read returned (`null`: absent). */
  value: string | null;
  /** ms since the epoch. */
  start: number;
  end: number;
  outcome: Outcome;
  /** HTTP status or error text, for the report. */
  detail?: string;
}

export type NewOp = Omit<Op, 'index' | 'end' | 'outcome' | 'detail'>;

/** The outcome of one HTTP exchange (a status, or the error that replaced it). */
export function outcomeOf(result: { status: number; body?: unknown } | Error): { outcome: Outcome; detail: string } {
  if (result instanceof Error) return { outcome: 'unknown', detail: `error: ${result.message}` };
  const { status } = result;
  // The service's error code says why (`503 replication_unavailable`), where a status alone does not.
  const code = (result.body as { error?: unknown } | undefined)?.error;
  const detail = typeof code === 'string' ? `${status} ${code}` : String(status);
  if (status >= 200 && status < 300) return { outcome: 'ok', detail };
  // 408 (request timeout) and 409 cannot promise the write did not land.
  if (status >= 400 && status < 500 && status !== 408 && status !== 409) return { outcome: 'fail', detail };
  return { outcome: 'unknown', detail };
}

export class Ledger {
  readonly ops: Op[] = [];

  /** Records an operation the moment it is invoked; `complete` fills in how it ended. */
  invoke(op: NewOp): (outcome: Outcome, detail?: string, readValue?: string | null) => Op {
    const entry: Op = { ...op, index: this.ops.length, end: Number.NaN, outcome: 'unknown' };
    this.ops.push(entry);
    return (outcome, detail, readValue) => {
      entry.end = Date.now();
      entry.outcome = outcome;
      if (detail !== undefined) entry.detail = detail;
      if (readValue !== undefined) entry.value = readValue;
      return entry;
    };
  }

  /** Adds a finished operation (hand-made histories, imported ledgers). */
  add(op: Omit<Op, 'index'>): Op {
    const entry = { ...op, index: this.ops.length };
    this.ops.push(entry);
    return entry;
  }

  writes(): Op[] { return this.ops.filter((o) => o.type === 'write'); }

  counts(): Record<Outcome, number> & { attempted: number } {
    const c = { attempted: this.ops.length, ok: 0, fail: 0, unknown: 0 };
    for (const op of this.ops) c[op.outcome] += 1;
    return c;
  }

  /** Operations still in flight count as `unknown` ending now: a run cut short proves nothing about them. */
  seal(now = Date.now()): void {
    for (const op of this.ops) if (Number.isNaN(op.end)) { op.end = now; op.outcome = 'unknown'; op.detail ??= 'still in flight'; }
  }
}
