import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClusterTarget } from '../../cluster/kube/target.ts';
import { validateResource } from '../../cluster/chaos/schema.ts';
import { capabilityOf } from '../../cluster/target.ts';

// What the kube target sends Chaos Mesh for a zone outage, seen by a fake API server that
// knows PodChaos (discovery, server-side apply, delete) and records every request.
describe('kube target: a zone outage through Chaos Mesh', () => {
  const requests: { method: string; url: string; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, body });
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/apis/chaos-mesh.org/v1alpha1') {
        res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'chaos-mesh.org/v1alpha1', resources: [{ name: 'podchaos', singularName: 'podchaos', namespaced: true, kind: 'PodChaos', verbs: ['create', 'delete', 'get', 'list', 'patch'] }] }));
      } else if (req.method === 'PATCH') res.end(body);
      else if (req.method === 'DELETE') res.end(JSON.stringify({ kind: 'Status', status: 'Success' }));
      else { res.statusCode = 404; res.end(JSON.stringify({ kind: 'Status', code: 404, message: `no ${req.url}` })); }
    });
  });
  let target: (kind?: 'kube' | 'k3s') => KubeClusterTarget;

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    const port = (server.address() as AddressInfo).port;
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }], contexts: [{ name: 'c', cluster: 'fake', user: 'u' }], currentContext: 'c',
    });
    const endpoints = { loadBalancerUrl: 'http://127.0.0.1:9', gatewayUrl: 'http://127.0.0.1:9', natsUrl: 'nats://127.0.0.1:9', natsMonitorUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9' };
    target = (kind = 'kube') => new KubeClusterTarget(kc, { kind, endpoints: endpoints as never });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('fails every pod on the zone\'s nodes with a bounded PodChaos, and restoring deletes it', async () => {
    const kube = target();
    expect(kube.capabilities.has('zoneFailure')).toBe(true);
    await capabilityOf(kube, 'zones')!.failZone('zone-b');
    const apply = requests.find((r) => r.method === 'PATCH')!;
    expect(apply.url).toMatch(/^\/apis\/chaos-mesh\.org\/v1alpha1\/namespaces\/percolate\/podchaos\/zone-b-pod-failure\?/);
    const sent = validateResource(JSON.parse(apply.body));
    expect(sent).toMatchObject({ kind: 'PodChaos', spec: { action: 'pod-failure', mode: 'all', duration: '10m', selector: { namespaces: ['percolate'], nodeSelectors: { 'topology.kubernetes.io/zone': 'zone-b' } } } });

    await capabilityOf(kube, 'zones')!.restoreZone('zone-b');
    expect(requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual(['/apis/chaos-mesh.org/v1alpha1/namespaces/percolate/podchaos/zone-b-pod-failure']);
  });

  it('k3s, one node in one zone, does not offer a zone failure', () => {
    expect(target('k3s').capabilities.has('zoneFailure')).toBe(false);
  });
});
