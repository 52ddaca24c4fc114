import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { KeyRing } from '../../reference-services/db-node/key-ring.ts';
import { keys } from '../../reference-services/db-node/records.ts';
import { TenantStores } from '../../reference-services/db-node/tenant-stores.ts';
import { latencyHistogram, recordMs, summarize } from '../hdr.ts';

/**
 * Search cost against a tenant's size, in the db-node's own store code (no HTTP, so the
 * figure is the search, not the network): a tenant filled to 1k, 10k, 100k resources
 * through the same seal + apply path a write and the sync replay take, then searched for
 * a term that matches 10 resources at every size, beside a cached read of one resource.
 * With the index, search cost follows what it returns; a scan would grow 100×.
 */
export interface SearchScaling { sizes: Array<{ records: number; searchP99Ms: number; readP99Ms: number; fillSeconds: number }> }

const WORDS = 'amber basalt cedar delta ember fjord garnet harbor iris jade kelp lotus maple nebula onyx pine quartz raven sage tide'.split(' ');

export async function searchScaling(sizes: number[], queries: number, progress: (line: string) => void): Promise<SearchScaling> {
  const dataKey = randomBytes(32);
  const keyRing = { unwrapAll: async (tenantId: string) => ({ tenantId, revision: 1, current: 1, keys: new Map([[1, dataKey]]) }) } as unknown as KeyRing;
  const out: SearchScaling['sizes'] = [];
  for (const records of sizes) {
    const stores = new TenantStores({ coldOpenMs: 0, cacheSize: 4, keyRing, cacheLookups: { inc() {} } as never });
    const tenant = await stores.openTenant('bench-tenant', 'bench');
    const filled = performance.now();
    for (let i = 0; i < records; i += 1) {
      // `group<n>` is in exactly 10 resources whatever the size; the rest is common words.
      const doc = { id: `r${i}`, title: `${WORDS[i % WORDS.length]} report ${i}`, content: `${WORDS[(i * 7) % WORDS.length]} ${WORDS[(i * 3) % WORDS.length]} group${Math.floor(i / 10)} notes`, tags: [] };
      await stores.apply('bench-tenant', [await tenant.sealValue(keys.resource(doc.id), doc, i + 1, 'bench')]);
    }
    const fillSeconds = (performance.now() - filled) / 1000;
    const search = latencyHistogram();
    const read = latencyHistogram();
    for (let q = 0; q < queries; q += 1) {
      const group = Math.floor(((q * 7919) % records) / 10);
      let t = performance.now();
      const found = await tenant.searchResources([`group${group}`], 10);
      recordMs(search, performance.now() - t);
      if (found.length !== 10) throw new Error(`search for group${group} in ${records} records returned ${found.length}, expected 10`);
      t = performance.now();
      await tenant.get(keys.resource(`r${(q * 7919) % records}`));
      recordMs(read, performance.now() - t);
    }
    const s = summarize(search);
    const r = summarize(read);
    progress(`search index: ${records} records (filled in ${fillSeconds.toFixed(1)} s): search p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms; cached read p99 ${r.p99Ms.toFixed(3)} ms`);
    out.push({ records, searchP99Ms: s.p99Ms, readP99Ms: r.p99Ms, fillSeconds });
  }
  return { sizes: out };
}
