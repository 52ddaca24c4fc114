import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyRing } from '../../reference-services/db-node/key-ring.ts';
import { keys } from '../../reference-services/db-node/records.ts';
import { score, tokenize } from '../../reference-services/db-node/search.ts';
import { type IndexedEntry, TenantStores } from '../../reference-services/db-node/tenant-stores.ts';

const dataKey = randomBytes(32);
const keyRing = { unwrapAll: async (tenantId: string) => ({ tenantId, revision: 1, current: 1, keys: new Map([[1, dataKey]]) }) } as unknown as KeyRing;
const stores = () => new TenantStores({ coldOpenMs: 0, cacheSize: 8, keyRing, cacheLookups: { inc() {} } as never });

interface Doc { id: string; title: string; content: string; tags: string[] }
const docs: Doc[] = [
  { id: 'a', title: 'platypus ledger', content: 'a ledger of the platypus colony', tags: [] },
  { id: 'b', title: 'okapi', content: 'okapi sightings, one platypus', tags: ['zoo'] },
  { id: 'c', title: 'weather', content: 'rain rain rain', tags: ['platypus'] },
  { id: 'd', title: 'nothing', content: 'to see here', tags: [] },
];

async function write(s: TenantStores, tenant: string, doc: Doc, ts: number): Promise<IndexedEntry> {
  const t = await s.openTenant(tenant, 'test');
  const entry = await t.sealValue(keys.resource(doc.id), doc, ts, 'node-a');
  await s.apply(tenant, [entry]);
  return entry;
}

describe('per-tenant search index', () => {
  it('ranks as a full scan with score() would, newest first on ties, and lists newest first', async () => {
    const s = stores();
    for (const [i, d] of docs.entries()) await write(s, 't1', d, 1000 + i);
    const t = await s.openTenant('t1', 'test');
    for (const query of ['platypus', 'platypus ledger', 'rain okapi', 'zoo', 'absent']) {
      const terms = tokenize(query);
      const expected = docs.map((d, i) => ({ id: d.id, s: score(terms, d), ts: 1000 + i })).filter((x) => x.s > 0)
        .sort((x, y) => y.s - x.s || y.ts - x.ts).map((x) => [x.id, x.s]);
      const got = (await t.searchResources<Doc>(terms, 10)).map((r) => [r.value.id, r.score]);
      expect(got, query).toEqual(expected);
    }
    expect((await t.recentResources<Doc>(2)).map((r) => r.value.id)).toEqual(['d', 'c']);
  });

  it('forgets the terms of a resource\'s previous version and ignores an older replayed write', async () => {
    const s = stores();
    await write(s, 't2', docs[0]!, 10);
    const t = await s.openTenant('t2', 'test');
    const older = await t.sealValue(keys.resource('a'), { ...docs[0], title: 'stale', content: 'stale' }, 5, 'node-b');
    await write(s, 't2', { ...docs[0]!, title: 'renamed', content: 'nothing about that animal' }, 20);
    await s.apply('t2', [older]);
    expect(await t.searchResources(['platypus'], 10)).toEqual([]);
    expect(await t.searchResources(['stale'], 10)).toEqual([]);
    expect((await t.searchResources<Doc>(['renamed'], 10)).map((r) => r.value.id)).toEqual(['a']);
    expect((await t.recentResources<Doc>(10)).map((r) => r.value.id)).toEqual(['a']);
  });

  it('is rebuilt by replaying the sync entries on another node, without decrypting', async () => {
    const writer = stores();
    const entries: IndexedEntry[] = [];
    for (const [i, d] of docs.entries()) entries.push(await write(writer, 't3', d, 100 + i));
    const peer = stores();
    // The sync stream carries JSON: what the peer applies is what was published.
    await peer.apply('t3', JSON.parse(JSON.stringify(entries)) as IndexedEntry[]);
    const [a, b] = [await writer.openTenant('t3', 'x'), await peer.openTenant('t3', 'x')];
    expect((await b.searchResources<Doc>(['platypus'], 10)).map((r) => r.value.id)).toEqual((await a.searchResources<Doc>(['platypus'], 10)).map((r) => r.value.id));
  });

  it('is rebuilt from a snapshot export: the same records, search and listing as the node it was taken on', async () => {
    const writer = stores();
    for (const [i, d] of docs.entries()) await write(writer, 't6', d, 100 + i);
    // A resource rewritten: the export carries only its last version's terms.
    await write(writer, 't6', { ...docs[2]!, title: 'dry', content: 'sun', tags: [] }, 200);
    const t = await writer.openTenant('t6', 'x');
    await t.sealValue('e!acct', { plan: 'gold' }, 300, 'node-a').then((entry) => writer.apply('t6', [entry]));
    const exported = JSON.parse(JSON.stringify(await writer.exportTenant('t6'))) as IndexedEntry[];
    expect(exported.map((e) => e.key).sort()).toEqual(['e!acct', ...docs.map((d) => keys.resource(d.id))].sort());
    const restored = stores();
    await restored.apply('t6', exported);
    expect(await restored.raw('t6')).toEqual(await writer.raw('t6'));
    expect(await restored.rawIndex('t6')).toEqual(await writer.rawIndex('t6'));
    const r = await restored.openTenant('t6', 'x');
    for (const query of ['platypus', 'rain', 'sun']) {
      expect((await r.searchResources<Doc>(tokenize(query), 10)).map((x) => x.value.id), query)
        .toEqual((await t.searchResources<Doc>(tokenize(query), 10)).map((x) => x.value.id));
    }
  });

  it('stores no term in plaintext (keyed HMACs), and raw() still lists only the records', async () => {
    const s = stores();
    for (const [i, d] of docs.entries()) await write(s, 't4', d, 1 + i);
    const index = JSON.stringify(await s.rawIndex('t4'));
    expect(index.length).toBeGreaterThan(100);
    for (const word of ['platypus', 'ledger', 'okapi', 'rain', 'zoo', 'sightings']) expect(index).not.toContain(word);
    expect((await s.raw('t4')).map((r) => r.key).sort()).toEqual(docs.map((d) => keys.resource(d.id)).sort());
    // Another tenant's index key differs: the same word has another id.
    await write(s, 't5', docs[0]!, 1);
    const ids = async (tenant: string) => new Set((await s.rawIndex(tenant)).map((e) => e.key).filter((k) => k.startsWith('p!')).map((k) => k.split('!')[1]));
    const t5 = await ids('t5');
    expect([...(await ids('t4'))].some((id) => t5.has(id))).toBe(false);
  });
});
