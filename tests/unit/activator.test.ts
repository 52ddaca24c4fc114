import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Activator } from '../../cluster/local/network/activator.ts';
import { createHttpApp, listen } from '../../reference-services/shared/http-app.ts';
import { LIMITS } from '../../reference-services/shared/limits.ts';
import { createLogger } from '../../reference-services/shared/logger.ts';
import { sendRaw } from '../fuzz/raw-http.ts';

// The activator is a hop in front of the pods: it must not refuse, in a shape of its own,
// what the pod would answer with its reason. A pod's HTTP layer (the services' own) stands
// behind it here, ready, so every request is forwarded at once.
let pod: Server;
let activator: Activator;
let podUrl: string;

beforeAll(async () => {
  const { app } = createHttpApp({ service: 'db-node', pod: 'pod-0', zone: 'zone-a', node: 'n' }, createLogger('db-node', 'pod-0'));
  pod = await listen(app, 0, '127.0.0.1', '');
  podUrl = `http://127.0.0.1:${(pod.address() as AddressInfo).port}`;
  activator = new Activator({ workload: 'percolate-db-small', tier: 'small', frontendUrl: podUrl }, {
    hasRoutablePod: () => true,
    waitForRoutablePod: async () => true,
    routablePodAddress: () => new URL(podUrl).host,
    onDemand: () => undefined,
  }, 1_000);
  await activator.listen();
});
afterAll(async () => {
  await activator?.close();
  pod?.closeAllConnections();
  pod?.close();
});

it('headers over the pod\'s limit reach the pod, which answers 431 with its reason', async () => {
  const padding = 'x'.repeat(LIMITS.maxHeaderBytes + 100);
  const res = await sendRaw(activator.url, { method: 'GET', target: '/health', headers: [['X-Padding', padding]] });
  expect(res.kind).toBe('response');
  if (res.kind !== 'response') return;
  expect(res.status).toBe(431);
  expect(res.headers['x-served-by']).toBe('pod-0');
  expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'headers_too_large' });
});

it('a request the activator cannot parse gets the contracts\' JSON 400, not a bare status line', async () => {
  const res = await sendRaw(activator.url, { method: 'GET', target: '/health', headers: [['Bad Name', 'v']] });
  expect(res.kind).toBe('response');
  if (res.kind !== 'response') return;
  expect(res.status).toBe(400);
  expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'bad_request', reason: expect.stringContaining('activator') });
});
