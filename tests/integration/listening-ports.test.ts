import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { LocalPrometheus } from '../../cluster/local/components/prometheus.ts';
import { LocalHaproxy } from '../../cluster/local/network/haproxy.ts';
import { freePort, isListening, listenForChild } from '../../cluster/local/network/net-util.ts';
import { ChildRegistry } from '../../cluster/local/process/child-registry.ts';
import { hostEnv } from '../../cluster/local/process/child.ts';
import { scratchDir } from '../helpers/processes.ts';

// No component is handed a port that was free a moment ago and started on it later (another
// process may take it in between): HAProxy inherits sockets we bound, Prometheus and
// nats-server bind a port of their own and report it; only NATS route ports are chosen
// ahead, and a cluster whose route port was taken starts again on others.
const scratch = scratchDir('listening-ports');
const registry = new ChildRegistry();
afterAll(async () => {
  await Promise.all(registry.all.map((c) => c.stop(2_000)));
  scratch.cleanup();
});

describe('ports of the local cluster components', () => {
  it('listenForChild: a port another process holds is refused with the port named', async () => {
    const held = await listenForChild(0);
    try {
      await expect(listenForChild(held.port)).rejects.toThrow(`127.0.0.1:${held.port} is taken by another process`);
    } finally {
      held.close();
    }
  });

  it('HAProxy listens on sockets bound before it started, and on the same ports again after a crash', async () => {
    const dir = join(scratch.dir, 'haproxy');
    const haproxy = await LocalHaproxy.start(dir, [{ name: 'front', defaultBackend: 'back' }], [{ name: 'back', readinessPath: '/ready' }],
      { intervalMs: 1_000, fall: 2, rise: 1 }, 5_000, hostEnv(), registry);
    const ports = [haproxy.statsPort, ...haproxy.frontends.map((f) => f.port)];
    expect((await fetch(`${haproxy.statsUrl}/stats`)).status).toBe(200);
    expect(await isListening(haproxy.frontends[0]!.port)).toBe(true);

    haproxy.child.signal('SIGKILL');
    await haproxy.child.exited;
    const again = await haproxy.launch(hostEnv(), registry);
    expect(again.ports).toEqual(ports);
    expect((await fetch(`${haproxy.statsUrl}/stats`)).status).toBe(200);

    // Taken while it was down: the restart names the port rather than binding elsewhere.
    // Down means master and worker gone: the worker holds the sockets until it is.
    await again.stop(0, 'SIGKILL');
    const thief = await listenForChild(haproxy.statsPort);
    try {
      await expect(haproxy.launch(hostEnv(), registry)).rejects.toThrow(`haproxy cannot listen again on the ports it had: 127.0.0.1:${haproxy.statsPort} is taken`);
    } finally {
      thief.close();
    }
  });

  it('Prometheus binds a port of its own and reports it', async () => {
    const prom = await LocalPrometheus.start(join(scratch.dir, 'prometheus'), 5, hostEnv(), registry);
    expect(prom.child.ports).toEqual([prom.port]);
    expect((await fetch(`${prom.url}/-/ready`)).status).toBe(200);
    await prom.stop();
  });

  it('a NATS cluster whose route port was taken before its server bound it starts again on other ports', async () => {
    const thief = await listenForChild(0);
    let handedTaken = false;
    const log: string[] = [];
    // The first route port handed out is one another process holds, as when it took it meanwhile.
    const routePort = async () => (handedTaken ? freePort() : ((handedTaken = true), thief.port));
    const nats = await LocalNatsCluster.start(join(scratch.dir, 'nats'), { replicas: 3, registry, routePort, log: (m) => log.push(m) });
    try {
      expect(log.join('\n')).toMatch(/could not bind a port of its config.*address already in use; starting again on other ports \(attempt 2 of 3\)/);
      expect(nats.nodes.map((n) => n.clusterPort)).not.toContain(thief.port);
      for (const node of nats.nodes) {
        expect(node.port, node.name).toBeGreaterThan(0);
        const varz = await (await fetch(`${nats.monitoringUrlOf(node)}/varz`)).json() as { server_name: string; port: number };
        expect(varz).toMatchObject({ server_name: node.name, port: node.port });
      }
    } finally {
      thief.close();
      await nats.stop();
    }
  });
});
