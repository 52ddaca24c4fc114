import { once } from 'node:events';
import { type Server, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EgressDestination, egressDenial, outboundLinks, probeConnection } from '../../cluster/local/network/egress-policy.ts';
import { Sidecar } from '../../cluster/local/network/sidecar.ts';
import { findObject, renderOverlay } from '../../cluster/manifests/render.ts';
import type { RenderedManifests } from '../../cluster/manifests/types.ts';
import { DB_SMALL, GATEWAY, NAMESPACE, NATS, WORKER_SMALL, dbWorkload } from '../../lib/names.ts';

let m: RenderedManifests;
const peer = (kind: string, name: string) => ({ namespace: NAMESPACE, labels: findObject(m, kind, name).spec.template.metadata.labels as Record<string, string> });
const dest = (name: string, to: ReturnType<typeof peer>[], port: number): EgressDestination => ({ name, workload: name, to, port, resolve: () => [] });

beforeAll(async () => { m = await renderOverlay('fast'); });

describe('local NetworkPolicy enforcement: the verdicts', () => {
  it('allows what the policies allow, refuses the rest, and says which policy decision refused it', () => {
    const worker = peer('Deployment', WORKER_SMALL);
    expect(egressDenial(m, worker, dest('nats', [peer('StatefulSet', NATS)], 4222))).toBeUndefined();
    expect(egressDenial(m, worker, dest('nats:8222', [peer('StatefulSet', NATS)], 8222))).toBe('NetworkPolicy: percolate-worker → nats:8222 is not allowed');
    expect(egressDenial(m, worker, dest('db', [peer('StatefulSet', DB_SMALL)], 8080))).toBeUndefined();
    expect(egressDenial(m, peer('Deployment', GATEWAY), dest('db', [peer('StatefulSet', DB_SMALL)], 8080))).toMatch(/percolate-gateway → percolate-db \(small\):8080/);
  });

  it('a destination with several kinds of pods behind it is refused when any of them refuses', () => {
    const small = peer('StatefulSet', DB_SMALL);
    const tiers = [small, peer('StatefulSet', dbWorkload('large'))];
    // The database Service spans every tier: a db pod may not reach its own tier either (db → db).
    expect(egressDenial(m, small, dest('lb', tiers, 8080))).toMatch(/percolate-db \(small\), percolate-db \(large\):8080/);
    expect(egressDenial(m, peer('Deployment', WORKER_SMALL), dest('lb', tiers, 8080))).toBeUndefined();
  });

  it('a policy that opened worker → NATS monitoring would show in the links', () => {
    const opened: RenderedManifests = { ...m, objects: [...m.objects, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'too-open', namespace: NAMESPACE },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{}], egress: [{}] },
    }] };
    const links = outboundLinks(opened, peer('Deployment', WORKER_SMALL), [dest('nats:8222', [peer('StatefulSet', NATS)], 8222)]);
    expect(links['nats:8222']?.deniedBy).toBeUndefined();
    expect(outboundLinks(m, peer('Deployment', WORKER_SMALL), [dest('nats:8222', [peer('StatefulSet', NATS)], 8222)])['nats:8222']?.deniedBy).toMatch(/not allowed/);
  });
});

describe('local NetworkPolicy enforcement: the sidecar', () => {
  let upstream: Server;
  let upstreamPort = 0;
  const sidecar = new Sidecar('worker-0', 0);
  let ports: Record<string, number> = {};

  beforeAll(async () => {
    upstream = createServer((s) => { s.on('error', () => s.destroy()); s.end('HTTP/1.0 200 OK\r\n\r\n'); });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamPort = (upstream.address() as { port: number }).port;
    ({ outbound: ports } = await sidecar.start({
      allowed: { resolve: () => [upstreamPort] },
      forbidden: { resolve: () => [upstreamPort], deniedBy: 'NetworkPolicy: test' },
      nobody: { resolve: () => [] },
    }));
  });
  afterAll(async () => { await sidecar.close(); upstream.close(); });

  it('passes an allowed flow, resets a forbidden one at once (and counts it), and tells both from an empty Service', async () => {
    expect(await probeConnection(ports.allowed!, 2_000)).toBe('answered');
    expect(await probeConnection(ports.forbidden!, 2_000)).toBe('reset');
    expect(sidecar.outbound.get('forbidden')!.refusedByPolicy).toBe(1);
    expect(await probeConnection(ports.nobody!, 2_000)).toBe('reset');
    expect(sidecar.outbound.get('nobody')!.refusedByPolicy).toBe(0);
    expect(sidecar.outbound.get('allowed')!.refusedByPolicy).toBe(0);
  });

  it('a link denied later refuses from then on, and lets flows through again once allowed', async () => {
    const link = sidecar.outbound.get('allowed')!;
    try {
      link.deny('NetworkPolicy: changed');
      expect(await probeConnection(ports.allowed!, 2_000)).toBe('reset');
      expect(link.refusedByPolicy).toBe(1);
    } finally {
      link.deny(undefined);
    }
    expect(await probeConnection(ports.allowed!, 2_000)).toBe('answered');
  });
});
