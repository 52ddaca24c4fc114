import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../load/lib/mix.ts';
import { type Candidate, UnsupportedOnLocal, filterByMode, selectCandidates } from '../../cluster/chaos/selector.ts';

// Seeded, so the random picks of the modes are reproducible.
const seeded = mulberry32;

const pod = (name: string, labels: Record<string, string>, node: string, namespace = 'percolate', phase: Candidate['phase'] = 'Running'): Candidate => ({ name, namespace, labels, node, phase });
const DB = { 'app.kubernetes.io/name': 'percolate-db', 'percolate.io/tier': 'small' };
const WORKER = { 'app.kubernetes.io/name': 'percolate-worker' };
const pods: Candidate[] = [
  pod('db-0', DB, 'node-a1'), pod('db-1', DB, 'node-b1'), pod('db-2', DB, 'node-c1'), pod('db-3', DB, 'node-a2'),
  pod('worker-x', WORKER, 'node-a1'), pod('other-db', DB, 'node-a1', 'staging'), pod('db-9', { ...DB, 'percolate.io/tier': 'large' }, 'node-b2', 'percolate', 'Pending'),
];
const zoneOf = (node: string) => ({ 'kubernetes.io/hostname': node, 'topology.kubernetes.io/zone': `zone-${node[5]}` });
const names = (cs: Candidate[]) => cs.map((c) => c.name).sort();

describe('chaos selector', () => {
  it('selects by labels within the namespaces, and the experiment\'s namespace by default', () => {
    expect(names(selectCandidates({ namespaces: ['percolate'], labelSelectors: { 'app.kubernetes.io/name': 'percolate-db' } }, pods, 'x', zoneOf))).toEqual(['db-0', 'db-1', 'db-2', 'db-3', 'db-9']);
    expect(names(selectCandidates({ labelSelectors: { 'app.kubernetes.io/name': 'percolate-db' } }, pods, 'staging', zoneOf))).toEqual(['other-db']);
    expect(names(selectCandidates({ namespaces: ['percolate', 'staging'], labelSelectors: DB }, pods, 'x', zoneOf))).toEqual(['db-0', 'db-1', 'db-2', 'db-3', 'other-db']);
    expect(selectCandidates({ namespaces: ['elsewhere'], labelSelectors: DB }, pods, 'x', zoneOf)).toEqual([]);
  });

  it('narrows by expressions, nodes, node labels, phases and fields; `pods` names them outright', () => {
    const sel = (extra: object) => names(selectCandidates({ namespaces: ['percolate'], ...extra }, pods, 'x', zoneOf));
    expect(sel({ expressionSelectors: [{ key: 'percolate.io/tier', operator: 'NotIn', values: ['small'] }] })).toEqual(['db-9', 'worker-x']);
    expect(sel({ expressionSelectors: [{ key: 'percolate.io/tier', operator: 'DoesNotExist' }] })).toEqual(['worker-x']);
    expect(sel({ nodes: ['node-a1'] })).toEqual(['db-0', 'worker-x']);
    expect(sel({ nodeSelectors: { 'topology.kubernetes.io/zone': 'zone-a' }, labelSelectors: DB })).toEqual(['db-0', 'db-3']);
    expect(sel({ podPhaseSelectors: ['Pending'] })).toEqual(['db-9']);
    expect(sel({ fieldSelectors: { 'metadata.name': 'db-2' } })).toEqual(['db-2']);
    expect(names(selectCandidates({ pods: { staging: ['other-db'], percolate: ['db-1', 'gone'] }, labelSelectors: WORKER }, pods, 'x', zoneOf))).toEqual(['db-1', 'other-db']);
  });

  it('refuses what it cannot judge locally rather than matching nothing silently', () => {
    expect(() => selectCandidates({ annotationSelectors: { a: 'b' } }, pods, 'percolate', zoneOf)).toThrow(UnsupportedOnLocal);
    expect(() => selectCandidates({ fieldSelectors: { 'spec.hostIP': 'x' } }, pods, 'percolate', zoneOf)).toThrow(/spec\.hostIP/);
  });

  it('modes: one, all, fixed (all if fewer), fixed-percent (ceil), random-max-percent', () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const random = seeded(7);
    expect(filterByMode(items, 'one', undefined, random)).toHaveLength(1);
    expect(filterByMode(items, 'all', undefined, random)).toEqual(items);
    expect(filterByMode(items, 'fixed', '3', random)).toHaveLength(3);
    expect(filterByMode(items, 'fixed', '30', random)).toEqual(items);
    expect(filterByMode(items, 'fixed-percent', '50', random)).toHaveLength(4); // ceil(3.5)
    expect(filterByMode(items, 'fixed-percent', '1', random)).toHaveLength(1); // at least one
    expect(filterByMode(items, 'fixed-percent', '100', random)).toEqual(items);
    const sizes = new Set(Array.from({ length: 200 }, () => filterByMode(items, 'random-max-percent', '50', random).length));
    expect([...sizes].every((n) => n >= 0 && n <= 4)).toBe(true);
    expect(sizes.size).toBeGreaterThan(2);
    expect(filterByMode([], 'all', undefined, random)).toEqual([]);
  });

  it('picks distinct objects, and every one of them over many runs (random, not the first N)', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    const random = seeded(42);
    const seen = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const picked = filterByMode(items, 'fixed', '2', random);
      expect(new Set(picked).size).toBe(2);
      for (const p of picked) seen.set(p, (seen.get(p) ?? 0) + 1);
      const one = filterByMode(items, 'one', undefined, random)[0]!;
      seen.set(`one:${one}`, (seen.get(`one:${one}`) ?? 0) + 1);
    }
    // Each of 5 picked about 2/5 of 500 times by fixed 2, 1/5 of 500 by one.
    for (const x of items) {
      expect(seen.get(x)).toBeGreaterThan(150);
      expect(seen.get(`one:${x}`)).toBeGreaterThan(60);
    }
  });
});
