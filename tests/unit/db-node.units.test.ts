import { describe, expect, it } from 'vitest';
import { ActiveTenants } from '../../reference-services/db-node/active-tenants.ts';
import { newDataKey, open, seal } from '../../reference-services/db-node/envelope.ts';
import { HybridClock, newerThan } from '../../reference-services/db-node/records.ts';
import { score, tokenize } from '../../reference-services/db-node/search.ts';

describe('envelope', () => {
  it('round-trips under the same key and context', () => {
    const key = newDataKey();
    expect(open(key, seal(key, Buffer.from('secret'), 'tenant-a:r!1'), 'tenant-a:r!1').toString()).toBe('secret');
  });

  it('refuses a ciphertext moved to another tenant or record (key isolation), or opened with another key', () => {
    const key = newDataKey();
    const sealed = seal(key, Buffer.from('secret'), 'percolate-record:tenant-a:r!1:v1');
    expect(() => open(key, sealed, 'percolate-record:tenant-b:r!1:v1')).toThrow();
    expect(() => open(key, sealed, 'percolate-record:tenant-a:r!2:v1')).toThrow();
    expect(() => open(newDataKey(), sealed, 'percolate-record:tenant-a:r!1:v1')).toThrow();
  });

  it('never repeats a ciphertext for the same plaintext', () => {
    const key = newDataKey();
    expect(seal(key, Buffer.from('x'), 'a').equals(seal(key, Buffer.from('x'), 'a'))).toBe(false);
  });
});

describe('last-write-wins', () => {
  it('orders by timestamp, then by node id', () => {
    expect(newerThan({ ts: 2, node: 'a' }, { ts: 1, node: 'z' })).toBe(true);
    expect(newerThan({ ts: 1, node: 'z' }, { ts: 2, node: 'a' })).toBe(false);
    expect(newerThan({ ts: 5, node: 'db-1' }, { ts: 5, node: 'db-0' })).toBe(true);
    expect(newerThan({ ts: 5, node: 'db-0' }, { ts: 5, node: 'db-1' })).toBe(false);
    expect(newerThan({ ts: 5, node: 'db-0' }, { ts: 5, node: 'db-0' }), 'the same write again is not newer').toBe(false);
    expect(newerThan({ ts: 1, node: 'a' }, undefined)).toBe(true);
  });

  it('a hybrid clock never goes backwards and moves past what it observed', () => {
    const clock = new HybridClock();
    const a = clock.now();
    expect(clock.now()).toBeGreaterThan(a);
    clock.observe(a + 10_000_000);
    expect(clock.now()).toBeGreaterThan(a + 10_000_000);
  });
});

describe('search score', () => {
  it('scores title hits above body hits, and zero without a hit', () => {
    const terms = tokenize('Kafka');
    expect(score(terms, { title: 'Kafka notes', content: '' })).toBeGreaterThan(score(terms, { title: 'notes', content: 'kafka' }));
    expect(score(terms, { title: 'notes', content: 'nothing' })).toBe(0);
  });
});

describe('active tenants', () => {
  it('counts a tenant for exactly the active window after its last request', () => {
    let now = 0;
    const active = new ActiveTenants(1000, () => now);
    active.touch('t1', 'small');
    active.touch('t2', 'medium');
    expect(active.countByTier(['small', 'medium', 'large'])).toEqual({ small: 1, medium: 1, large: 0 });
    now = 1000;
    expect(active.countByTier(['small']).small).toBe(1);
    now = 1001;
    expect(active.countByTier(['small']).small).toBe(0);
  });
});
