import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serviceEnv } from '../../cluster/local/components/service.ts';
import { spawnChild } from '../../cluster/local/process/child.ts';
import { scratchDir } from '../helpers/processes.ts';

describe('serviceEnv', () => {
  const manifest = { NATS_URL: 'nats://nats.percolate.svc:4222', NATS_STREAM_REPLICAS: '3', TIER: 'small', LOG_LEVEL: 'info', UNREADY_GRACE_MS: '3000' };
  const base = { manifest, pod: { name: 'db-0' }, natsUrl: 'nats://127.0.0.1:4999', natsServers: 3, secretsFile: '/s.json', portFile: '/p.json', unreadyGraceMs: 250 };

  it('keeps what the manifests give the container, with the addresses and identity of this place', () => {
    const env = serviceEnv({ ...base, pod: { name: 'db-0', node: 'node-a1', zone: 'zone-a' }, dbUrl: 'http://127.0.0.1:5000' });
    expect(env).toMatchObject({
      TIER: 'small', LOG_LEVEL: 'info', NATS_URL: 'nats://127.0.0.1:4999', NATS_STREAM_REPLICAS: '3',
      POD_NAME: 'db-0', NODE_NAME: 'node-a1', ZONE: 'zone-a', HOST: '127.0.0.1', PORT: '0', PORT_FILE: '/p.json',
      PERCOLATE_SECRETS_FILE: '/s.json', UNREADY_GRACE_MS: '250', DB_URL: 'http://127.0.0.1:5000',
    });
  });

  it('asks for no more stream copies than there are NATS servers', () => {
    expect(serviceEnv({ ...base, natsServers: 1 }).NATS_STREAM_REPLICAS).toBe('1');
  });

  it('takes nothing else from our environment but PATH, HOME and TMPDIR; unset placement stays unset', () => {
    process.env.PERCOLATE_TEST_LEAK = 'x';
    try {
      const env = serviceEnv(base);
      expect(env.PERCOLATE_TEST_LEAK).toBeUndefined();
      expect(env.PATH).toBe(process.env.PATH);
      expect('ZONE' in env).toBe(false);
      expect('DB_URL' in env).toBe(false);
    } finally {
      delete process.env.PERCOLATE_TEST_LEAK;
    }
  });

  it('lets `extra` and a kept port have the last word', () => {
    const env = serviceEnv({ ...base, port: 8123, extra: { COLD_OPEN_MS: '0', UNREADY_GRACE_MS: '500' } });
    expect(env).toMatchObject({ PORT: '8123', COLD_OPEN_MS: '0', UNREADY_GRACE_MS: '500' });
  });
});

describe('Child', () => {
  const scratch = scratchDir('child');
  afterAll(() => scratch.cleanup());

  it('shows each run only its own output, though runs of one name share a log', async () => {
    const log = join(scratch.dir, 'logs', 'svc.log');
    const run = (text: string) => spawnChild('svc', process.execPath, ['-e', `console.log(${JSON.stringify(text)})`], { PATH: process.env.PATH }, log);
    const first = run('{"msg":"first"}');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    const second = run('second');
    await second.exited;
    expect(first.output).toBe('{"msg":"first"}\n');
    expect(first.jsonLogs()).toEqual([{ msg: 'first' }]);
    expect(second.output).toBe('second\n');
    expect(second.jsonLogs()).toEqual([]);
  });

  it('stops its process group: SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const child = spawnChild('stubborn', process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"],
      { PATH: process.env.PATH }, join(scratch.dir, 'logs', 'stubborn.log'));
    await expect.poll(() => child.output, { timeout: 10_000 }).toBe('up\n');
    expect(await child.stop(200)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child.running).toBe(false);
  });
});
