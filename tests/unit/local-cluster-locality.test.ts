import { describe, expect, it } from 'vitest';
import type { LocalHaproxy } from '../../cluster/local/network/haproxy.ts';
import { renderHaproxyConfig } from '../../cluster/local/network/haproxy-config.ts';
import { LbPool } from '../../cluster/local/network/lb-pool.ts';
import { podShares, ruleFor, weightsFor } from '../../cluster/local/network/locality.ts';
import { DB_FRONTEND, type DbTier, meshPlan, zonalBackend, zonalFrontend } from '../../cluster/local/network/mesh-plan.ts';
import { type LocalityDistribution, localityMatches } from '../../cluster/manifests/mesh.ts';

const ZONES = ['zone-a', 'zone-b', 'zone-c'];
// The manifests' rules (tests/unit/manifests.test.ts checks that they say this).
const RULES: LocalityDistribution[] = ZONES.map((from) => ({
  from: `region-1/${from}/*`,
  to: ZONES.map((z): [string, number] => [`region-1/${z}/*`, z === from ? 80 : 10]),
}));
const pods = (...zones: string[]) => zones.map((zone, i) => ({ name: `db-${i}`, zone }));
const rounded = (m: Map<string, number>) => Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1000) / 1000]));

describe('locality weights (Istio distribute over a ring hash)', () => {
  it('matches localities as Istio does: the region is named, `*` or a missing part matches any value', () => {
    expect(localityMatches({ region: 'region-1', zone: 'zone-a' }, 'region-1/zone-a/*')).toBe(true);
    expect(localityMatches({ region: 'region-1', zone: 'zone-a' }, 'region-1/*')).toBe(true);
    expect(localityMatches({ region: 'region-1', zone: 'zone-a' }, 'region-1')).toBe(true);
    expect(localityMatches({ region: 'region-1', zone: 'zone-a' }, 'region-1/zone-b/*')).toBe(false);
    expect(localityMatches({ region: 'region-2', zone: 'zone-a' }, 'region-1/zone-a/*')).toBe(false);
    expect(ruleFor(RULES, 'zone-b')?.from).toBe('region-1/zone-b/*');
    expect(ruleFor(RULES, 'zone-b', 'region-2')).toBeUndefined();
  });

  it('gives the client\'s zone 80 % and each other zone 10 %, divided among each zone\'s pods', () => {
    const rule = ruleFor(RULES, 'zone-a');
    expect(rounded(podShares(rule, pods('zone-a', 'zone-b', 'zone-c')))).toEqual({ 'db-0': 0.8, 'db-1': 0.1, 'db-2': 0.1 });
    expect(rounded(podShares(rule, pods('zone-a', 'zone-b', 'zone-c', 'zone-a')))).toEqual({ 'db-0': 0.4, 'db-1': 0.1, 'db-2': 0.1, 'db-3': 0.4 });
    expect(weightsFor(podShares(rule, pods('zone-a', 'zone-b', 'zone-c')))).toEqual(new Map([['db-0', 256], ['db-1', 32], ['db-2', 32]]));
    expect(weightsFor(podShares(rule, pods('zone-a', 'zone-b', 'zone-b', 'zone-c')))).toEqual(new Map([['db-0', 256], ['db-1', 16], ['db-2', 16], ['db-3', 32]]));
  });

  it('a zone without pods drops out and the others keep their proportion (zone-a down: b and c share equally)', () => {
    const rule = ruleFor(RULES, 'zone-a');
    expect(rounded(podShares(rule, pods('zone-b', 'zone-c')))).toEqual({ 'db-0': 0.5, 'db-1': 0.5 });
    expect(rounded(podShares(ruleFor(RULES, 'zone-b'), pods('zone-a', 'zone-c')))).toEqual({ 'db-0': 0.5, 'db-1': 0.5 });
    expect(weightsFor(podShares(rule, pods('zone-b', 'zone-c')))).toEqual(new Map([['db-0', 256], ['db-1', 256]]));
  });

  it('a zone the rule does not name gets nothing; without a rule every pod is equal', () => {
    const onlyA: LocalityDistribution = { from: 'region-1/zone-a/*', to: [['region-1/zone-a/*', 100]] };
    expect(weightsFor(podShares(onlyA, pods('zone-a', 'zone-b')))).toEqual(new Map([['db-0', 256], ['db-1', 0]]));
    expect(weightsFor(podShares(undefined, pods('zone-a', 'zone-b', 'zone-c')))).toEqual(new Map([['db-0', 256], ['db-1', 256], ['db-2', 256]]));
  });

  it('keeps every positive share at weight 1 or more (HAProxy ignores a server at weight 0)', () => {
    const skewed: LocalityDistribution = { from: 'region-1/zone-a/*', to: [['region-1/zone-a/*', 99], ['region-1/zone-b/*', 1]] };
    const w = weightsFor(podShares(skewed, pods('zone-a', 'zone-b', 'zone-b', 'zone-b')));
    expect([...w.values()]).toEqual([256, 1, 1, 1]);
  });
});

describe('mesh plan: frontends and backends of the local mesh', () => {
  const tier = (name: string): DbTier => ({
    workload: `percolate-db-${name}`, tier: name, hashHeader: 'x-tenant-id', readinessPath: '/ready', backupAddress: `127.0.0.1:${name.length}`, distribute: RULES,
  });
  const plan = meshPlan([tier('small'), tier('medium'), tier('large')], [{ workload: 'percolate-gateway', readinessPath: '/ready' }], ZONES);

  it('has a zone-agnostic frontend and one per zone, each routing on the tier claim with small as the default', () => {
    expect(plan.frontends.map((f) => f.name)).toEqual([DB_FRONTEND, ...ZONES.map(zonalFrontend), 'percolate-gateway']);
    expect(plan.frontends[0]).toEqual({
      name: DB_FRONTEND, defaultBackend: 'percolate-db-small',
      claimRoute: { claim: 'tier', backends: { small: 'percolate-db-small', medium: 'percolate-db-medium', large: 'percolate-db-large' } },
    });
    expect(plan.frontends.find((f) => f.name === zonalFrontend('zone-b'))?.claimRoute?.backends.medium).toBe('percolate-db-medium.zone-b');
  });

  it('gives every tier a backend per zone with that zone\'s rule, each with the tier\'s activator as backup', () => {
    expect(plan.zonal.get('percolate-db-large')?.map((z) => [z.zone, z.backend, z.rule?.from])).toEqual(
      ZONES.map((z) => [z, zonalBackend('percolate-db-large', z), `region-1/${z}/*`]));
    const large = plan.backends.filter((b) => b.name.startsWith('percolate-db-large'));
    expect(large.map((b) => b.backupAddress)).toEqual(Array(4).fill('127.0.0.1:5'));
    const config = renderHaproxyConfig({ socketPath: '/s', statsPort: 1, serverTimeoutMs: 1, checkTimeoutMs: 1, frontends: plan.frontends.map((f, i) => ({ ...f, port: 100 + i })), backends: plan.backends });
    expect(config).toContain('\nbackend percolate-db-medium.zone-c\n  balance hdr(x-tenant-id)\n  hash-type consistent sdbm avalanche');
  });
});

describe('LbPool: a tier\'s servers in HAProxy as pods come and go', () => {
  /** Records the runtime API calls the pool makes, in order. */
  const recorder = () => {
    const calls: string[] = [];
    // A server's options ({ id, weight, maxconn }) read as their values in that order.
    const flat = (x: unknown): unknown[] => (typeof x === 'object' && x !== null ? Object.values(x) : [x]);
    const op = (name: string) => async (backend: string, server: string, ...rest: unknown[]) => { calls.push([name, `${backend}/${server}`, ...rest.flatMap(flat).filter((x) => x !== undefined && !String(x).includes(':'))].join(' ')); };
    const haproxy = { addServer: op('add'), serverReady: op('ready'), serverNotReady: op('disable'), drainServer: op('drain'), removeServer: op('del'), setWeight: op('weight') };
    return { calls, haproxy: haproxy as unknown as LocalHaproxy };
  };
  const zonal = ZONES.map((zone) => ({ zone, backend: zonalBackend('db', zone), rule: ruleFor(RULES, zone) }));

  it('gives every server of the pod, in every ring, the DestinationRule\'s limit on requests at once', async () => {
    const { calls, haproxy } = recorder();
    const pool = new LbPool(haproxy, 'db', zonal.slice(0, 1), 256, undefined, 100);
    await pool.add('a0', '127.0.0.1:1', 'zone-a', 1);
    expect(calls).toEqual(['add db/a0 1 256 100', 'add db.zone-a/a0 1 256 100']);
  });

  it('places a joining pod at its share, makes room in the zonal rings before it takes traffic, and reweighs when it goes', async () => {
    const { calls, haproxy } = recorder();
    const pool = new LbPool(haproxy, 'db', zonal.slice(0, 1), 256);
    await pool.add('a0', '127.0.0.1:1', 'zone-a', 1);
    await pool.ready('a0');
    await pool.add('b0', '127.0.0.1:2', 'zone-b', 2);
    expect(calls.splice(0)).toEqual([
      'add db/a0 1 256', 'add db.zone-a/a0 1 256', 'ready db/a0', 'ready db.zone-a/a0',
      // Alone in the ring so far, b0 would have it all (256); beside a0 it takes zone-b's 10 %.
      'add db/b0 2 256', 'add db.zone-a/b0 2 32',
    ]);
    await pool.ready('b0');
    await pool.add('a1', '127.0.0.1:3', 'zone-a', 3);
    await pool.ready('a1');
    // zone-a's 80 % is now shared by two pods (40 % each against b0's 10 %): the ring
    // goes from a0:b0 = 8:1 to 4:1 before a1 is enabled.
    expect(calls.splice(0)).toEqual([
      'ready db/b0', 'ready db.zone-a/b0', 'add db/a1 3 256', 'add db.zone-a/a1 3 256',
      'weight db.zone-a/b0 64', 'ready db/a1', 'ready db.zone-a/a1',
    ]);
    await pool.drain('a1');
    await pool.remove('a1');
    expect(calls.splice(0)).toEqual(['drain db/a1', 'drain db.zone-a/a1', 'weight db.zone-a/b0 32', 'del db/a1', 'del db.zone-a/a1']);
    await pool.notReady('a0');
    expect(calls.splice(0), 'zone-a gone: b0 holds the whole ring').toEqual(['disable db/a0', 'disable db.zone-a/a0', 'weight db.zone-a/b0 256']);
  });

  it('sends every weight again after a reload that failed while a reweigh waited behind it', async () => {
    // HAProxy as its runtime API leaves it: the weight each zone-a server has now. A weight
    // command waits while `reloading` holds (the reload has the runtime API to itself).
    const live = new Map<string, number>();
    let reloading: Promise<void> = Promise.resolve();
    const haproxy = {
      addServer: async (b: string, n: string, _a: string, o: { weight?: number }) => { if (b === 'db.zone-a') live.set(n, o.weight ?? 1); },
      serverReady: async () => {}, serverNotReady: async () => {},
      setWeight: async (b: string, n: string, w: number) => { await reloading; if (b === 'db.zone-a') live.set(n, w); },
    } as unknown as LocalHaproxy;
    const pool = new LbPool(haproxy, 'db', zonal.slice(0, 1), 256);
    for (const [name, zone, id] of [['a0', 'zone-a', 1], ['b0', 'zone-b', 2], ['c0', 'zone-c', 3]] as const) {
      await pool.add(name, `127.0.0.1:${id}`, zone, id);
      await pool.ready(name);
    }
    let endReload!: () => void;
    reloading = new Promise((resolve) => { endReload = resolve; });
    // a1 joins: zone-a's share is split, every other server's weight moves.
    await pool.add('a1', '127.0.0.1:4', 'zone-a', 4);
    const joined = pool.ready('a1');
    await new Promise((resolve) => setImmediate(resolve));
    // The reload reads the servers while the reweigh waits on its first weight, then fails.
    const written = new Map(pool.staticServers()).get('db.zone-a')!;
    const expected = Object.fromEntries(written.map((s) => [s.name, s.options.weight]));
    endReload();
    await Promise.all([joined, pool.resendWeights()]);
    expect(Object.fromEntries(live)).toEqual(expected);
    expect(new Set(Object.values(expected)).size, 'the join changed weights of several servers').toBeGreaterThan(1);
  });
});
