import { join } from 'node:path';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { mintTenantToken } from '../reference-services/shared/auth.ts';
import type { LocalNatsCluster } from '../cluster/local/components/nats.ts';
import { type Child, spawnChild } from '../cluster/local/process/child.ts';
import { tenantHeaders as headersOf } from '../lib/http.ts';
import { REPO_ROOT } from '../lib/repo.ts';
import type { Secrets } from '../reference-services/shared/secrets.ts';
import { type ServiceProcess, TestServices } from '../tests/helpers/processes.ts';
import { Fatal, eventually } from '../lib/poll.ts';
import { onTeardown } from './teardown.ts';

export const progress = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

/** What every phase shares: a NATS server, the secrets, a scratch dir; all torn down at exit. */
export interface BenchEnv {
  dir: string;
  nats: LocalNatsCluster;
  secrets: Secrets;
  /** Starts the services, each with the environment its pods get from the manifests. */
  services: TestServices;
  /** The bench's own NATS connection, opened on first use. */
  client(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  // BENCH_KEEP=1 keeps the scratch dir (every process's log) for a look afterwards.
  const keepDir = process.env.BENCH_KEEP === '1';
  // Registered before it is up, so a Ctrl-C during the start still stops it.
  const starting = TestServices.start('bench');
  onTeardown('services and nats-server', async () => {
    const services = await starting.catch(() => undefined);
    await services?.stop({ signal: 'SIGTERM', keepDir });
    if (services && keepDir) progress(`kept ${services.dir} (logs of every process)`);
  });
  const services = await starting;
  const { dir, nats, secrets } = services;
  let client: ReturnType<BenchEnv['client']> | undefined;
  return {
    dir, nats, secrets, services,
    client: () => client ??= (async () => {
      const nc = await connect({ servers: nats.url, name: 'bench' });
      onTeardown('bench NATS connection', () => nc.close());
      return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
    })(),
  };
}

/**
 * A db-node for benchmarking: per-tenant limits lifted, since the bench drives one
 * tenant far above the 500 req/s a tenant is allowed (the limiter is measured by the
 * T1.3 tests, not here).
 */
export async function startDbNode(env: BenchEnv, name: string, extra: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  return startService(env, 'db-node', name, {
    TIER: 'small', TENANT_RATE_LIMIT: '1000000', TENANT_RATE_BURST: '1000000', TENANT_MAX_CONCURRENCY: '100000', ...extra,
  });
}

export async function startWorker(env: BenchEnv, name: string, extra: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  return startService(env, 'worker', name, extra);
}

/** Stopped at teardown (with the services) even when it never gets ready. */
async function startService(env: BenchEnv, service: 'db-node' | 'worker', name: string, extra: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  const svc = await env.services.startService(service, name, extra, { waitReady: false });
  await svc.waitReady();
  return svc;
}

export async function startBareServer(env: BenchEnv, bodyFile: string): Promise<{ url: string; process: Child }> {
  // Port 0: it binds one of its own and says which ("bare-server listening on <port>").
  const proc = spawnChild('bare-server', process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'bare-server.ts')],
    { ...process.env, PORT: '0', BARE_BODY_FILE: bodyFile }, join(env.dir, 'bare-server.log'));
  onTeardown('bare-server', async () => { await proc.stop(10_000); });
  const port = await eventually('bare-server listening', async () => {
    if (!proc.running) throw new Fatal(`bare-server exited:\n${proc.tail(1000)}`);
    return Number(/bare-server listening on (\d+)/.exec(proc.output)?.[1] ?? 0);
  }, (p) => p > 0, { timeoutMs: 15_000, intervalMs: 50 });
  proc.ports.push(port);
  const url = `http://127.0.0.1:${port}`;
  await eventually('bare-server answering', async () => {
    if (!proc.running) throw new Fatal(`bare-server exited:\n${proc.tail(1000)}`);
    return (await fetch(url)).status;
  }, (status) => status === 200, { timeoutMs: 15_000, intervalMs: 50 });
  return { url, process: proc };
}

/** Headers of a request as tenant `tenant` (tier small, as the bench's db-nodes are). */
export async function tenantHeaders(env: BenchEnv, tenant: string): Promise<Record<string, string>> {
  return headersOf({ tenant, token: await mintTenantToken(env.secrets, tenant, 'small') });
}
