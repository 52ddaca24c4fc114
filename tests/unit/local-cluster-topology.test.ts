import { describe, expect, it } from 'vitest';
import { renderHaproxyConfig } from '../../cluster/local/network/haproxy-config.ts';
import { type Placed, Topology } from '../../cluster/local/components/topology.ts';

describe('local topology', () => {
  const placeN = (t: Topology, workload: string, n: number, existing: Placed[] = []) => {
    const placed = [...existing];
    for (let i = 0; i < n; i++) placed.push({ workload, node: t.place(workload, placed) });
    return placed.filter((p) => p.workload === workload);
  };

  it('has three zones of two nodes', () => {
    const t = new Topology();
    expect(t.zoneInfos().map((z) => [z.name, z.nodes])).toEqual([
      ['zone-a', ['node-a1', 'node-a2']], ['zone-b', ['node-b1', 'node-b2']], ['zone-c', ['node-c1', 'node-c2']],
    ]);
  });

  it('spreads a workload over zones (maxSkew 1), then over the nodes of a zone', () => {
    const t = new Topology();
    const pods = placeN(t, 'db', 6);
    const perZone = (zone: string) => pods.filter((p) => t.zoneOf(p.node) === zone).length;
    expect(['zone-a', 'zone-b', 'zone-c'].map(perZone)).toEqual([2, 2, 2]);
    expect(new Set(pods.map((p) => p.node)).size).toBe(6);
  });

  it('balances different workloads across zones too', () => {
    const t = new Topology();
    const workers = placeN(t, 'worker', 1);
    const db = placeN(t, 'db', 1, workers);
    expect(t.zoneOf(db[0]!.node)).not.toBe(t.zoneOf(workers[0]!.node));
  });

  it('never places on a cordoned node or in a failed zone, and says so when nothing is left', () => {
    const t = new Topology();
    t.setCordoned('node-a1', true);
    t.setZoneFailed('zone-b', true);
    const nodes = placeN(t, 'db', 6).map((p) => p.node);
    expect(nodes).not.toContain('node-a1');
    expect(nodes.filter((n) => n.startsWith('node-b'))).toEqual([]);
    for (const n of ['node-a2', 'node-c1', 'node-c2']) t.setCordoned(n, true);
    expect(() => t.place('db', [])).toThrow(/no schedulable node/);
    expect(t.nodeInfos().find((n) => n.name === 'node-b1')).toMatchObject({ ready: false, cordoned: false });
  });
});

describe('haproxy config', () => {
  const config = renderHaproxyConfig({
    socketPath: '/run/x.sock', statsPort: 9000, serverTimeoutMs: 35_000, checkTimeoutMs: 500,
    frontends: [
      { name: 'percolate-db', port: 9001, defaultBackend: 'percolate-db-small', claimRoute: { claim: 'tier', backends: { small: 'percolate-db-small', medium: 'percolate-db-medium' } } },
      { name: 'percolate-gateway', port: 9003, defaultBackend: 'percolate-gateway' },
    ],
    backends: [
      { name: 'percolate-db-small', hashHeader: 'x-tenant-id', readinessPath: '/ready', backupAddress: '127.0.0.1:9002' },
      { name: 'percolate-db-medium', hashHeader: 'x-tenant-id', readinessPath: '/ready', backupAddress: '127.0.0.1:9004' },
      { name: 'percolate-gateway', readinessPath: '/ready' },
    ],
  });
  const section = (kind: string, name: string) => config.split(`\n${kind} ${name}\n`)[1]!.split('\n\n')[0]!;
  const backend = (name: string) => section('backend', name);

  it('hashes the database on the DestinationRule header over a consistent ring, with the activator as backup', () => {
    expect(backend('percolate-db-small')).toContain('balance hdr(x-tenant-id)\n  hash-type consistent sdbm avalanche');
    expect(backend('percolate-db-small')).toMatch(/server activator 127\.0\.0\.1:9002 backup id \d+/);
    expect(backend('percolate-db-medium')).toMatch(/server activator 127\.0\.0\.1:9004 backup id \d+/);
    expect(backend('percolate-gateway')).toContain('balance roundrobin');
  });

  it('retries a refused connection, and a read cut off before any answer, on another server; never a write', () => {
    const defaults = config.split('\ndefaults\n')[1]!.split('\n\n')[0]!;
    expect(defaults).toContain('  retries 2\n  option redispatch 1\n  retry-on conn-failure empty-response');
    for (const name of ['percolate-db-small', 'percolate-db-medium', 'percolate-gateway']) {
      expect(backend(name), name).toContain('http-request disable-l7-retry if !METH_GET !METH_HEAD');
    }
  });

  it('routes on the bearer token\'s tier claim, and anything else to the default tier', () => {
    const frontend = section('frontend', 'percolate-db');
    expect(frontend).toContain("http-request set-var(txn.claim_tier) http_auth_bearer,jwt_payload_query('$.tier')");
    expect(frontend).toContain('use_backend percolate-db-medium if { var(txn.claim_tier) -m str medium }');
    expect(frontend).toMatch(/default_backend percolate-db-small$/);
    expect(section('frontend', 'percolate-gateway')).toBe('  bind 127.0.0.1:9003\n  default_backend percolate-gateway');
    expect(() => renderHaproxyConfig({
      socketPath: '/s', statsPort: 1, serverTimeoutMs: 1, checkTimeoutMs: 1, backends: [],
      frontends: [{ name: 'f', port: 2, defaultBackend: 'b', claimRoute: { claim: 'tier', backends: { 'x }': 'b' } } }],
    })).toThrow(/claim route "x }" must be/);
  });

  it('checks /ready, keeps maxconn under the open-file limit, admin socket for the runtime API', () => {
    for (const b of ['percolate-db-small', 'percolate-gateway']) expect(backend(b)).toContain('option httpchk GET /ready\n  http-check expect status 200');
    expect(Number(/maxconn (\d+)/.exec(config)![1])).toBeLessThanOrEqual(4000);
    expect(config).toContain('stats socket /run/x.sock mode 600 level admin');
    expect(config).toContain('http-request use-service prometheus-exporter if { path /metrics }');
  });
});
