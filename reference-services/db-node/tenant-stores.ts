import { setTimeout as delay } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { MemoryLevel } from 'memory-level';
import type { Counter } from 'prom-client';
import { HttpError } from '../shared/errors.ts';
import { open as openSealed, seal } from './envelope.ts';
import type { KeyRing, TenantKeys } from './key-ring.ts';
import { type StoredValue, type SyncEntry, newerThan } from './records.ts';

type Store = MemoryLevel<string, StoredValue>;

const recordAad = (tenantId: string, key: string, version: number) => `percolate-record:${tenantId}:${key}:v${version}`;

/** A tenant that is open: its store and its unwrapped data keys. */
export class OpenTenant {
  constructor(readonly tenantId: string, private readonly store: Store, private keys: TenantKeys, private readonly reloadKeys: () => Promise<TenantKeys>) {}

  async sealValue(key: string, value: unknown, ts: number, node: string): Promise<SyncEntry> {
    const version = this.keys.current;
    const dataKey = this.keys.keys.get(version)!;
    const ct = seal(dataKey, Buffer.from(JSON.stringify(value)), recordAad(this.tenantId, key, version)).toString('base64');
    return { key, ts, node, kv: version, ct };
  }

  async openValue<T>(key: string, stored: StoredValue): Promise<T> {
    let dataKey = this.keys.keys.get(stored.kv);
    if (!dataKey) {
      // Written under a version another node created after we opened the tenant.
      this.keys = await this.reloadKeys();
      dataKey = this.keys.keys.get(stored.kv);
      if (!dataKey) throw new Error(`tenant ${this.tenantId} has no key version ${stored.kv}`);
    }
    return JSON.parse(openSealed(dataKey, Buffer.from(stored.ct, 'base64'), recordAad(this.tenantId, key, stored.kv)).toString()) as T;
  }

  async get<T>(key: string): Promise<{ value: T; stored: StoredValue } | undefined> {
    const stored = await this.store.get(key);
    if (!stored) return undefined;
    return { value: await this.openValue<T>(key, stored), stored };
  }

  async *range<T>(prefix: string): AsyncGenerator<{ key: string; value: T; stored: StoredValue }> {
    for await (const [key, stored] of this.store.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
      yield { key, value: await this.openValue<T>(key, stored), stored };
    }
  }

  get currentKeyVersion(): number { return this.keys.current; }

  get keyRevision(): number { return this.keys.revision; }

  replaceKeys(keys: TenantKeys): void { this.keys = keys; }
}

export interface TenantStoresOptions {
  coldOpenMs: number;
  cacheSize: number;
  keyRing: KeyRing;
  cacheLookups: Counter<'result'>;
}

/**
 * The node's tenant stores. Every tenant's store outlives its open handle (as RocksDB's
 * files outlive an open DB): the LRU bounds how many tenants are open, i.e. hold their
 * unwrapped keys, and opening one that is not costs the cold-open delay.
 */
export class TenantStores {
  private readonly stores = new Map<string, Store>();
  private readonly open: LRUCache<string, Promise<OpenTenant>>;
  private readonly applying = new Map<string, Promise<number>>();

  constructor(private readonly options: TenantStoresOptions) {
    this.open = new LRUCache({ max: options.cacheSize });
  }

  /** The open tenant; `caller` names the request that needed the keys, for the audit log. */
  async openTenant(tenantId: string, caller: string): Promise<OpenTenant> {
    const cached = this.open.get(tenantId);
    if (cached) {
      this.options.cacheLookups.inc({ result: 'hit' });
      return cached;
    }
    this.options.cacheLookups.inc({ result: 'miss' });
    const opening = (async () => {
      await delay(this.options.coldOpenMs);
      const keys = await this.options.keyRing.unwrapAll(tenantId, caller).catch((err: unknown) => {
        throw new HttpError(503, 'tenant_unavailable', `the keys of tenant ${tenantId} could not be loaded; try again`, { 'Retry-After': '1' }, { cause: err });
      });
      return new OpenTenant(tenantId, this.storeOf(tenantId), keys, () => this.options.keyRing.unwrapAll(tenantId, `${caller}:key-reload`));
    })();
    this.open.set(tenantId, opening);
    opening.catch(() => this.open.delete(tenantId));
    return opening;
  }

  /**
   * After a key change at `revision`: an open tenant that holds older keys reloads them
   * (no cold open); tenants that are not open read the new keys when they next open.
   */
  refreshKeys(tenantId: string, revision: number, caller: string): void {
    const current = this.open.peek(tenantId);
    if (!current) return;
    const refreshed = current.then(async (tenant) => {
      if (tenant.keyRevision < revision) tenant.replaceKeys(await this.options.keyRing.unwrapAll(tenantId, caller));
      return tenant;
    });
    this.open.set(tenantId, refreshed);
    refreshed.catch(() => this.open.delete(tenantId));
  }

  isOpen(tenantId: string): boolean {
    return this.open.has(tenantId);
  }

  /**
   * Puts each entry that is newer than what the store holds; returns how many were
   * applied. Applies of one tenant run one at a time: the local apply after an ack and
   * the stream's apply of the same write may race, and compare-then-put must not interleave.
   */
  apply(tenantId: string, entries: SyncEntry[]): Promise<number> {
    const previous = this.applying.get(tenantId) ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(() => this.applyNow(tenantId, entries));
    this.applying.set(tenantId, next);
    void next.finally(() => { if (this.applying.get(tenantId) === next) this.applying.delete(tenantId); }).catch(() => {});
    return next;
  }

  private async applyNow(tenantId: string, entries: SyncEntry[]): Promise<number> {
    const store = this.storeOf(tenantId);
    let applied = 0;
    for (const { key, ...value } of entries) {
      const existing = await store.get(key);
      if (newerThan(value, existing)) {
        await store.put(key, value);
        applied += 1;
      }
    }
    return applied;
  }

  /** The raw stored values of a tenant, exactly as held: for audits of encryption at rest. */
  async raw(tenantId: string): Promise<Array<{ key: string; value: StoredValue }>> {
    const store = this.stores.get(tenantId);
    if (!store) return [];
    const out: Array<{ key: string; value: StoredValue }> = [];
    for await (const [key, value] of store.iterator()) out.push({ key, value });
    return out;
  }

  private storeOf(tenantId: string): Store {
    let store = this.stores.get(tenantId);
    if (!store) {
      store = new MemoryLevel<string, StoredValue>({ keyEncoding: 'utf8', valueEncoding: 'json' });
      this.stores.set(tenantId, store);
    }
    return store;
  }
}
