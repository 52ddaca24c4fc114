import { setTimeout as delay } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { MemoryLevel } from 'memory-level';
import type { Counter } from 'prom-client';
import { HttpError } from '../shared/errors.ts';
import { open as openSealed, seal } from './envelope.ts';
import type { KeyRing, TenantKeys } from './key-ring.ts';
import { type StoredValue, type SyncEntry, keys, newerThan } from './records.ts';
import { indexKeyOf, scoreOfHits, termId, termWeights } from './search.ts';

type Store = MemoryLevel<string, StoredValue>;

/**
 * A resource's search terms as the sync stream carries them: term id (a keyed HMAC, never
 * the term) → weighted hit count. The writer computes them, since only it holds the
 * plaintext; every node, the writer too, indexes from them without decrypting anything.
 */
export type IndexTerms = Record<string, number>;
export type IndexedEntry = SyncEntry & { ix?: IndexTerms };

/**
 * The per-tenant index, a sublevel of the tenant's store:
 *   p!<term id>!<resource id> → { w, ts }   postings: what a search reads
 *   t!<reverse ts>!<resource id> → {}       newest first: what a list reads
 *   d!<resource id> → { ts, terms }         what the resource is indexed under, to unindex it
 * A search reads the postings of its terms and decrypts only the results it returns.
 */
type IndexValue = { w: number; ts: number } | { ts: number; terms: IndexTerms } | Record<string, never>;
type Index = ReturnType<Store['sublevel']> & { put(key: string, value: IndexValue): Promise<void> };
// Microsecond timestamps stay far below it, and the difference stays exact.
const MAX_TS = Number.MAX_SAFE_INTEGER;
const ix = {
  posting: (term: string, id: string) => `p!${term}!${id}`,
  postingPrefix: (term: string) => `p!${term}!`,
  recent: (ts: number, id: string) => `t!${String(MAX_TS - ts).padStart(16, '0')}!${id}`,
  recentPrefix: 't!',
  doc: (id: string) => `d!${id}`,
};

const recordAad = (tenantId: string, key: string, version: number) => `percolate-record:${tenantId}:${key}:v${version}`;

/** A tenant that is open: its store and its unwrapped data keys. */
export class OpenTenant {
  private readonly indexKey: Buffer;

  constructor(readonly tenantId: string, private readonly store: Store, private readonly index: Index, private keys: TenantKeys, private readonly reloadKeys: () => Promise<TenantKeys>) {
    this.indexKey = indexKeyOf(keys.keys.get(Math.min(...keys.keys.keys()))!, tenantId);
  }

  /** Seals a value for the store; a resource also carries its index terms (blinded). */
  async sealValue(key: string, value: unknown, ts: number, node: string): Promise<IndexedEntry> {
    const version = this.keys.current;
    const dataKey = this.keys.keys.get(version)!;
    const ct = seal(dataKey, Buffer.from(JSON.stringify(value)), recordAad(this.tenantId, key, version)).toString('base64');
    if (!key.startsWith(keys.resourcePrefix)) return { key, ts, node, kv: version, ct };
    const terms: IndexTerms = {};
    for (const [term, w] of termWeights(value as { title: string; content: string; tags?: string[] })) terms[termId(this.indexKey, term)] = w;
    return { key, ts, node, kv: version, ct, ix: terms };
  }

  /**
   * Resources matching any query term, best score first (then newest), at most `limit`:
   * reads the postings of the query's terms and decrypts only what it returns.
   */
  async searchResources<T>(queryTerms: string[], limit: number): Promise<Array<{ value: T; stored: StoredValue; score: number }>> {
    const hits = new Map<string, { hits: number[]; ts: number }>();
    const unique = [...new Set(queryTerms)];
    for (const [i, term] of unique.entries()) {
      const prefix = ix.postingPrefix(termId(this.indexKey, term));
      for await (const [key, value] of this.index.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
        const id = (key as string).slice(prefix.length);
        let h = hits.get(id);
        if (!h) hits.set(id, (h = { hits: new Array<number>(unique.length).fill(0), ts: (value as { ts: number }).ts }));
        h.hits[i] = (value as { w: number }).w;
      }
    }
    const ranked = [...hits.entries()].map(([id, h]) => ({ id, ts: h.ts, score: scoreOfHits(h.hits) }))
      .sort((a, b) => b.score - a.score || b.ts - a.ts).slice(0, limit);
    const out: Array<{ value: T; stored: StoredValue; score: number }> = [];
    for (const r of ranked) {
      const found = await this.get<T>(keys.resource(r.id));
      if (found) out.push({ ...found, score: r.score });
    }
    return out;
  }

  /** The newest resources, at most `limit`, decrypting only those. */
  async recentResources<T>(limit: number): Promise<Array<{ value: T; stored: StoredValue }>> {
    const out: Array<{ value: T; stored: StoredValue }> = [];
    for await (const key of this.index.keys({ gte: ix.recentPrefix, lt: `${ix.recentPrefix}\xff`, limit })) {
      const found = await this.get<T>(keys.resource((key as string).slice((key as string).lastIndexOf('!') + 1)));
      if (found) out.push(found);
    }
    return out;
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
  private readonly indexes = new Map<string, Index>();
  private readonly open: LRUCache<string, Promise<OpenTenant>>;
  /** Per tenant, the end of what is queued: applies and exports run one at a time, in order. */
  private readonly applying = new Map<string, Promise<void>>();

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
      return new OpenTenant(tenantId, this.storeOf(tenantId), this.indexOf(tenantId), keys, () => this.options.keyRing.unwrapAll(tenantId, `${caller}:key-reload`));
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
  apply(tenantId: string, entries: IndexedEntry[]): Promise<number> {
    return this.inTenantOrder(tenantId, () => this.applyNow(tenantId, entries));
  }

  /** Runs `work` after everything queued for the tenant before it, and before what comes after. */
  private inTenantOrder<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.applying.get(tenantId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(() => undefined, () => undefined);
    this.applying.set(tenantId, settled);
    void settled.then(() => { if (this.applying.get(tenantId) === settled) this.applying.delete(tenantId); });
    return next;
  }

  private async applyNow(tenantId: string, entries: IndexedEntry[]): Promise<number> {
    const store = this.storeOf(tenantId);
    let applied = 0;
    for (const { key, ix: terms, ...value } of entries) {
      const existing = await store.get(key);
      if (newerThan(value, existing)) {
        if (key.startsWith(keys.resourcePrefix)) await this.reindex(tenantId, key.slice(keys.resourcePrefix.length), value.ts, terms ?? {});
        await store.put(key, value);
        applied += 1;
      }
    }
    return applied;
  }

  /** Replaces what a resource is indexed under (its previous version's postings go). */
  private async reindex(tenantId: string, id: string, ts: number, terms: IndexTerms): Promise<void> {
    const index = this.indexOf(tenantId);
    const previous = await index.get(ix.doc(id)) as { ts: number; terms: IndexTerms } | undefined;
    const ops: Array<{ type: 'del'; key: string } | { type: 'put'; key: string; value: IndexValue }> = [];
    if (previous) {
      for (const term of Object.keys(previous.terms)) ops.push({ type: 'del', key: ix.posting(term, id) });
      ops.push({ type: 'del', key: ix.recent(previous.ts, id) });
    }
    for (const [term, w] of Object.entries(terms)) ops.push({ type: 'put', key: ix.posting(term, id), value: { w, ts } });
    ops.push({ type: 'put', key: ix.recent(ts, id), value: {} }, { type: 'put', key: ix.doc(id), value: { ts, terms } });
    await index.batch(ops as never);
  }

  /** Tenants this node holds data of. */
  tenantIds(): string[] { return [...this.stores.keys()]; }

  /**
   * A tenant's records as the sync stream carries them (sealed values, and a resource's
   * blinded index terms), for a snapshot: `apply` of the result rebuilds the store and its
   * index. Taken in the tenant's apply order, so no record is seen half applied.
   */
  exportTenant(tenantId: string): Promise<IndexedEntry[]> {
    return this.inTenantOrder(tenantId, () => this.exportNow(tenantId));
  }

  private async exportNow(tenantId: string): Promise<IndexedEntry[]> {
    const out: IndexedEntry[] = [];
    for (const { key, value } of await this.raw(tenantId)) {
      if (!key.startsWith(keys.resourcePrefix)) {
        out.push({ key, ...value });
        continue;
      }
      const doc = await this.indexOf(tenantId).get(ix.doc(key.slice(keys.resourcePrefix.length))) as { terms: IndexTerms } | undefined;
      out.push({ key, ...value, ix: doc?.terms ?? {} });
    }
    return out;
  }

  /** The raw stored values of a tenant, exactly as held: for audits of encryption at rest. */
  async raw(tenantId: string): Promise<Array<{ key: string; value: StoredValue }>> {
    const store = this.stores.get(tenantId);
    if (!store) return [];
    const out: Array<{ key: string; value: StoredValue }> = [];
    // Sublevel keys (the index) start with '!' and sort first: records only.
    for await (const [key, value] of store.iterator({ gt: '!\xff' })) out.push({ key, value });
    return out;
  }

  /** The tenant's index entries exactly as held: for audits that no term is stored in plaintext. */
  async rawIndex(tenantId: string): Promise<Array<{ key: string; value: unknown }>> {
    if (!this.stores.has(tenantId)) return [];
    const out: Array<{ key: string; value: unknown }> = [];
    for await (const [key, value] of this.indexOf(tenantId).iterator()) out.push({ key: key as string, value });
    return out;
  }

  private indexOf(tenantId: string): Index {
    let index = this.indexes.get(tenantId);
    if (!index) {
      index = this.storeOf(tenantId).sublevel<string, IndexValue>('ix', { keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as Index;
      this.indexes.set(tenantId, index);
    }
    return index;
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
