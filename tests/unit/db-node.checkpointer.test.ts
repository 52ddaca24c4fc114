import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { KeyRing } from '../../reference-services/db-node/key-ring.ts';
import { createDbMetrics } from '../../reference-services/db-node/metrics.ts';
import { keys } from '../../reference-services/db-node/records.ts';
import { Checkpointer, type SnapshotStore, type SyncSnapshot } from '../../reference-services/db-node/snapshots.ts';
import { TenantStores } from '../../reference-services/db-node/tenant-stores.ts';
import type { Logger } from '../../reference-services/shared/logger.ts';

const dataKey = randomBytes(32);
const keyRing = { unwrapAll: async (tenantId: string) => ({ tenantId, revision: 1, current: 1, keys: new Map([[1, dataKey]]) }) } as unknown as KeyRing;
const logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

/** The bucket as every node sees it: the latest snapshot, whoever saved it. */
class MemorySnapshotStore implements SnapshotStore {
  saved: SyncSnapshot[] = [];
  async latestSeq() { return this.saved.at(-1)?.seq; }
  async load() { return this.saved.at(-1); }
  async save(snapshot: SyncSnapshot) { this.saved.push(JSON.parse(JSON.stringify(snapshot)) as SyncSnapshot); return { bytes: 0 }; }
}

describe('db-node checkpointer: when a snapshot is taken', () => {
  it('only caught up, only once the latest snapshot is minMessages behind, whoever took it; with every tenant\'s records', async () => {
    const stores = new TenantStores({ coldOpenMs: 0, cacheSize: 8, keyRing, cacheLookups: { inc() {} } as never });
    for (const tenant of ['tenant-a', 'tenant-b']) {
      const open = await stores.openTenant(tenant, 'test');
      await stores.apply(tenant, [await open.sealValue(keys.resource('r1'), { title: 't', content: 'c' }, 1, 'db-0')]);
    }
    const store = new MemorySnapshotStore();
    const position = { appliedSeq: 0, caughtUp: false, isCaughtUp() { return this.caughtUp; } };
    const checkpointer = new Checkpointer(store, stores, position, 'db-0', createDbMetrics(new Registry(), () => ({}), () => []), logger, { intervalMs: 60_000, minMessages: 100 });

    position.appliedSeq = 500;
    expect(await checkpointer.checkpoint(), 'still replaying at start').toEqual({ saved: false, seq: 500 });
    position.caughtUp = true;
    expect(await checkpointer.checkpoint()).toEqual({ saved: true, seq: 500 });
    expect(Object.keys(store.saved[0]!.tenants).sort()).toEqual(['tenant-a', 'tenant-b']);
    expect(store.saved[0]!.tenants['tenant-a']!.map((e) => e.key)).toEqual(['r!r1']);

    position.appliedSeq = 599;
    expect(await checkpointer.checkpoint(), '99 messages since its own').toEqual({ saved: false, seq: 599 });
    // Another node saved one meanwhile.
    await store.save({ v: 1, seq: 650, node: 'db-1', takenAt: '', tenants: {} });
    position.appliedSeq = 700;
    expect(await checkpointer.checkpoint(), '50 messages since the other node\'s').toEqual({ saved: false, seq: 700 });
    position.appliedSeq = 750;
    expect(await checkpointer.checkpoint()).toEqual({ saved: true, seq: 750 });
    expect(store.saved.map((s) => [s.node, s.seq])).toEqual([['db-0', 500], ['db-1', 650], ['db-0', 750]]);
  });
});
