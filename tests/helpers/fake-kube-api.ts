import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeApiRequest { method: string; url: string; body: string }

/**
 * A stand-in Kubernetes API server for the kube target's unit tests: every request is
 * recorded (with its body) and answered by `answer`, whose JSON is sent as is; a request
 * it does not know (undefined) gets the API's 404 Status.
 */
export async function startFakeKubeApi(answer: (req: KubeApiRequest, res: ServerResponse) => unknown): Promise<{
  requests: KubeApiRequest[];
  kubeConfig: KubeConfig;
  close: () => Promise<void>;
}> {
  const requests: KubeApiRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const recorded = { method: req.method!, url: req.url!, body };
      requests.push(recorded);
      res.setHeader('Content-Type', 'application/json');
      const reply = answer(recorded, res);
      if (reply === undefined) {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', code: 404, message: `no ${req.url}` }));
      } else res.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }], contexts: [{ name: 'c', cluster: 'fake', user: 'u' }], currentContext: 'c',
  });
  return { requests, kubeConfig, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Endpoints for a kube target under test: nothing answers there, and nothing should be asked. */
export const UNREACHABLE_ENDPOINTS = {
  loadBalancerUrl: 'http://127.0.0.1:9', gatewayUrl: 'http://127.0.0.1:9', natsUrl: 'nats://127.0.0.1:9',
  natsMonitoringUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9', zonalLoadBalancerUrls: {}, extra: {},
};
