/**
 * What a tenant store holds and what the sync stream carries: the same stored values,
 * so that applying a peer's write is a compare-and-put that never needs to decrypt.
 */
export interface StoredValue {
  /** Write time in microseconds on the writer's hybrid clock. */
  ts: number;
  /** The node that wrote it: the tie-breaker of last-write-wins. */
  node: string;
  /** Data key version that sealed `ct`. */
  kv: number;
  /** base64 of AES-GCM iv | tag | ciphertext. */
  ct: string;
}

export interface SyncEntry extends StoredValue {
  key: string;
}

export type SyncOp = 'resource.put' | 'entity.merge' | 'moment.add';

export interface SyncMessage {
  v: 1;
  op: SyncOp;
  tenant: string;
  node: string;
  ts: number;
  entries: SyncEntry[];
}

/** Last-write-wins order: later timestamp wins, then the greater node id. */
export function newerThan(a: Pick<StoredValue, 'ts' | 'node'>, b: Pick<StoredValue, 'ts' | 'node'> | undefined): boolean {
  if (!b) return true;
  if (a.ts !== b.ts) return a.ts > b.ts;
  return a.node > b.node;
}

/** Store keys. Ids are restricted to [A-Za-z0-9_-], so the separator cannot appear in them. */
export const keys = {
  resource: (id: string) => `r!${id}`,
  resourcePrefix: 'r!',
  entityProperty: (id: string, property: string) => `e!${id}!${property}`,
  entityPrefix: (id: string) => `e!${id}!`,
  moment: (id: string) => `m!${id}`,
  momentPrefix: 'm!',
};

/**
 * Wall-clock microseconds. `Date.now()` has millisecond steps, too coarse for replication
 * lag on loopback; the high-resolution timer anchored at the process's time origin is not.
 */
export const wallMicros = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

/** A clock that never goes backwards and moves past every timestamp it has seen. */
export class HybridClock {
  private last = 0;
  now(): number {
    this.last = Math.max(wallMicros(), this.last + 1);
    return this.last;
  }
  observe(ts: number): void {
    if (ts > this.last) this.last = ts;
  }
}
