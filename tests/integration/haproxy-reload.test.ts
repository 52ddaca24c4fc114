import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalHaproxy } from '../../cluster/local/network/haproxy.ts';
import { LbPool } from '../../cluster/local/network/lb-pool.ts';
import { ChildRegistry } from '../../cluster/local/process/child-registry.ts';
import { hostEnv } from '../../cluster/local/process/child.ts';
import { scratchDir } from '../helpers/processes.ts';

/**
 * A HAProxy reload (new issuer keys at the edge) while clients keep their connections
 * busy: the new worker routes to the pods the runtime API had added, as they were, from
 * its first request; no request fails; a configuration that does not load changes nothing.
 */
const scratch = scratchDir('haproxy-reload');
const registry = new ChildRegistry();
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(registry.all.map((c) => c.stop(2_000)));
  for (const s of servers) s.close();
  scratch.cleanup();
});

async function pod(name: string): Promise<string> {
  const server = createServer((req, res) => {
    res.setHeader('x-served-by', name);
    res.end(req.url === '/ready' ? 'ready' : name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('HAProxy reload', () => {
  it('keeps every pod where it was and fails no request of clients that keep their connections', async () => {
    const haproxy = await LocalHaproxy.start(join(scratch.dir, 'lb'), [{ name: 'front', defaultBackend: 'back' }], [{ name: 'back', readinessPath: '/ready' }],
      { intervalMs: 500, fall: 2, rise: 1 }, 5_000, hostEnv(), registry);
    const pool = new LbPool(haproxy, 'back');
    await pool.add('pod-0', await pod('pod-0'), 'zone-a', 1);
    await pool.ready('pod-0');
    // A pod that is added but not ready must stay out of the ring after the reload too.
    await pool.add('pod-1', await pod('pod-1'), 'zone-a', 2);
    const masterPid = haproxy.child.pid;

    const agent = new Agent({ connections: 8 });
    const url = `${haproxy.frontendUrl('front')}/`;
    const answers = new Map<string, number>();
    const failures: string[] = [];
    let stop = false;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await request(url, { dispatcher: agent });
          const text = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${res.statusCode} ${text.slice(0, 100)}`);
          else answers.set(text, (answers.get(text) ?? 0) + 1);
        } catch (err) {
          failures.push(String(err));
        }
      }
    });
    await expect.poll(() => answers.get('pod-0') ?? 0, { timeout: 5_000 }).toBeGreaterThan(50);
    await haproxy.reload(() => new Map(pool.staticServers()));
    await haproxy.reload(() => new Map(pool.staticServers()));
    const afterReloads = answers.get('pod-0') ?? 0;
    await expect.poll(() => answers.get('pod-0') ?? 0, { timeout: 5_000 }).toBeGreaterThan(afterReloads + 50);
    stop = true;
    await Promise.all(clients);
    await agent.close();

    expect(failures.slice(0, 5)).toEqual([]);
    expect([...answers.keys()]).toEqual(['pod-0']);
    expect(haproxy.child.pid, 'the master (the supervised process) is the same').toBe(masterPid);
    const states = await haproxy.api.serverStates('back');
    expect(states.map((s) => [s.name, s.id, s.opState === 2 && (s.adminState & 1) === 0])).toEqual(expect.arrayContaining([['pod-0', 1, true], ['pod-1', 2, false]]));

    // The runtime API keeps working on servers a reload wrote into the configuration.
    await pool.ready('pod-1');
    await expect.poll(async () => {
      const res = await request(url);
      return res.headers['x-served-by'] === 'pod-1' || (await res.body.text()) === 'pod-1';
    }, { timeout: 5_000 }).toBe(true);
    await pool.remove('pod-0');
    expect((await haproxy.api.serverStates('back')).map((s) => s.name)).not.toContain('pod-0');
  });

  it('refuses a configuration that does not load, and the running one keeps serving', async () => {
    const haproxy = await LocalHaproxy.start(join(scratch.dir, 'lb-bad'), [{ name: 'front', defaultBackend: 'back' }], [{ name: 'back', readinessPath: '/ready' }],
      { intervalMs: 500, fall: 2, rise: 1 }, 5_000, hostEnv(), registry);
    const pool = new LbPool(haproxy, 'back');
    await pool.add('pod-0', await pod('pod-0'), 'zone-a', 1);
    await pool.ready('pod-0');
    const unparsable = new Map([['back', [{ name: 'pod-9', address: '999.0.0.1:80', options: {}, enabled: true }]]]);
    const workerBefore = (await haproxy.api.command('show info')).match(/^Pid: (\d+)$/m)?.[1];
    await expect(haproxy.reload(() => unparsable)).rejects.toThrow(/does not load, nothing was changed.*999\.0\.0\.1/s);
    expect((await haproxy.api.command('show info')).match(/^Pid: (\d+)$/m)?.[1], 'the same worker serves').toBe(workerBefore);
    const res = await request(`${haproxy.frontendUrl('front')}/`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('pod-0');
  });
});
