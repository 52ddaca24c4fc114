import { gunzipSync, gzipSync } from 'node:zlib';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../shared/logger.ts';
import { SNAPSHOT_BUCKET, streamReplicas } from '../shared/nats.ts';
import type { DbMetrics } from './metrics.ts';
import type { IndexedEntry, TenantStores } from './tenant-stores.ts';

/**
 * The replicated state as of sync stream sequence `seq`: every tenant's records as the
 * stream carries them (sealed, index terms blinded). It may also hold some later writes;
 * applying the stream from `seq + 1` over it is still exact, as every apply is last-write-wins.
 */
export interface SyncSnapshot {
  v: 1;
  seq: number;
  node: string;
  takenAt: string;
  tenants: Record<string, IndexedEntry[]>;
}

/** Where snapshots are kept; the latest one is all that is read. */
export interface SnapshotStore {
  /** The latest snapshot's sequence, without reading it; undefined when there is none. */
  latestSeq(): Promise<number | undefined>;
  load(): Promise<SyncSnapshot | undefined>;
  save(snapshot: SyncSnapshot): Promise<{ bytes: number }>;
}

const OBJECT_NAME = 'sync-state';
const describeSeq = (seq: number) => `replicated state at sync stream sequence ${seq}`;
const seqOfDescription = (description: string | undefined) => {
  const match = /sequence (\d+)$/.exec(description ?? '');
  return match ? Number(match[1]) : undefined;
};

/** Snapshots in the JetStream object store `percolate_sync_snapshots` (replicated like the stream), gzipped JSON. */
export class ObjectSnapshotStore implements SnapshotStore {
  private constructor(private readonly os: ObjectStore) {}

  static async open(nc: NatsConnection): Promise<ObjectSnapshotStore> {
    return new ObjectSnapshotStore(await new Objm(nc).create(SNAPSHOT_BUCKET, { storage: StorageType.File, replicas: streamReplicas() }));
  }

  async latestSeq(): Promise<number | undefined> {
    const info = await this.os.info(OBJECT_NAME);
    return info && !info.deleted ? seqOfDescription(info.description) : undefined;
  }

  async load(): Promise<SyncSnapshot | undefined> {
    const blob = await this.os.getBlob(OBJECT_NAME);
    if (!blob) return undefined;
    const snapshot = JSON.parse(gunzipSync(blob).toString('utf8')) as SyncSnapshot;
    if (snapshot.v !== 1 || !Number.isInteger(snapshot.seq)) throw new Error(`snapshot ${OBJECT_NAME} in ${SNAPSHOT_BUCKET} has an unknown format (v ${String(snapshot.v)})`);
    return snapshot;
  }

  async save(snapshot: SyncSnapshot): Promise<{ bytes: number }> {
    const data = gzipSync(JSON.stringify(snapshot));
    await this.os.putBlob({ name: OBJECT_NAME, description: describeSeq(snapshot.seq) }, data);
    return { bytes: data.length };
  }
}

export interface CheckpointOptions {
  /** How often a node looks whether a snapshot is due. */
  intervalMs: number;
  /** A snapshot is due once the latest one is this many stream messages behind. */
  minMessages: number;
}

/**
 * Takes snapshots so that a starting node's catch-up is bounded by the state's size and the
 * stream since the last snapshot, not by the stream's whole history — and so that a write
 * outlives the stream's `max_age`. Any caught-up node may take one (every node holds the
 * whole state); one that finds a recent enough snapshot already saved leaves it.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private latestSeq = 0;

  constructor(
    private readonly store: SnapshotStore,
    private readonly stores: TenantStores,
    private readonly position: { appliedSeq: number; isCaughtUp(): boolean },
    private readonly node: string,
    private readonly metrics: DbMetrics,
    private readonly logger: Logger,
    private readonly options: CheckpointOptions,
  ) {}

  start(): void {
    // Nodes started together do not all look at the same moment.
    const firstInMs = Math.round(this.options.intervalMs * (0.5 + Math.random()));
    this.timer = setTimeout(() => this.tick(), firstInMs);
    this.timer.unref();
  }

  private tick(): void {
    this.running = this.checkpoint().then(() => undefined, (err: unknown) => {
      // NATS unreachable or without quorum: the next interval tries again.
      this.logger.warn({ err }, 'snapshot not saved');
    }).finally(() => {
      this.running = undefined;
      if (this.timer) {
        this.timer = setTimeout(() => this.tick(), this.options.intervalMs);
        this.timer.unref();
      }
    });
  }

  /** Saves a snapshot when one is due; resolves with what it did. */
  async checkpoint(): Promise<{ saved: boolean; seq: number }> {
    const seq = this.position.appliedSeq;
    if (!this.position.isCaughtUp() || seq - this.latestSeq < this.options.minMessages) return { saved: false, seq };
    this.latestSeq = Math.max(this.latestSeq, (await this.store.latestSeq()) ?? 0);
    if (seq - this.latestSeq < this.options.minMessages) return { saved: false, seq };
    const started = Date.now();
    const tenants: Record<string, IndexedEntry[]> = {};
    let entries = 0;
    for (const tenantId of this.stores.tenantIds()) {
      tenants[tenantId] = await this.stores.exportTenant(tenantId);
      entries += tenants[tenantId].length;
    }
    const { bytes } = await this.store.save({ v: 1, seq, node: this.node, takenAt: new Date().toISOString(), tenants });
    this.latestSeq = seq;
    this.metrics.snapshotsSaved.inc();
    this.logger.info({ seq, tenants: Object.keys(tenants).length, entries, bytes, ms: Date.now() - started }, 'snapshot saved');
    return { saved: true, seq };
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
