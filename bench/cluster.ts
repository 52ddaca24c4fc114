import { join } from 'node:path';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { mintTenantToken } from '../reference-services/shared/auth.ts';
import { type Secrets, ensureSecretsFile, loadSecrets } from '../reference-services/shared/secrets.ts';
import { NatsServer, REPO_ROOT, type ManagedProcess, ServiceProcess, scratchDir, startProcess } from '../tests/helpers/processes.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { Fatal, eventually } from '../lib/poll.ts';
import { onTeardown } from './teardown.ts';

export const progress = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

/** What every phase shares: a NATS server, the secrets, a scratch dir; all torn down at exit. */
export interface BenchEnv {
  dir: string;
  nats: NatsServer;
  secrets: Secrets;
  /** Environment every service gets (NATS, secrets, profile). */
  serviceEnv: NodeJS.ProcessEnv;
  /** The bench's own NATS connection, opened on first use. */
  client(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  const { dir, cleanup } = scratchDir('bench');
  // BENCH_KEEP=1 keeps the scratch dir (every process's log) for a look afterwards.
  if (process.env.BENCH_KEEP === '1') onTeardown(`keep ${dir}`, () => progress(`kept ${dir} (logs of every process)`));
  else onTeardown(`remove ${dir}`, cleanup);
  // Registered before it is up, so a Ctrl-C during the start still stops it.
  const starting = NatsServer.start(dir);
  onTeardown('nats-server', async () => { await (await starting.catch(() => undefined))?.stop(); });
  const nats = await starting;
  const secretsFile = ensureSecretsFile(join(dir, 'secrets.json'));
  const secrets = loadSecrets({ PERCOLATE_SECRETS_FILE: secretsFile });
  let client: ReturnType<BenchEnv['client']> | undefined;
  return {
    dir, nats, secrets,
    client: () => client ??= (async () => {
      const nc = await connect({ servers: nats.url, name: 'bench' });
      onTeardown('bench NATS connection', () => nc.close());
      return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
    })(),
    serviceEnv: { NATS_URL: nats.url, PERCOLATE_SECRETS_FILE: secretsFile, PERCOLATE_PROFILE: 'fast' },
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

async function startService(env: BenchEnv, service: 'db-node' | 'worker', name: string, extra: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  const svc = await ServiceProcess.start(service, name, { ...env.serviceEnv, ...extra }, env.dir, { waitReady: false });
  // Stopped at teardown even when it never gets ready.
  onTeardown(name, () => svc.stop());
  await svc.waitReady();
  return svc;
}

export async function startBareServer(env: BenchEnv, bodyFile: string): Promise<{ url: string; process: ManagedProcess }> {
  const port = await freePort();
  const proc = startProcess('bare-server', process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'bare-server.ts')],
    { PORT: String(port), BARE_BODY_FILE: bodyFile }, env.dir);
  onTeardown('bare-server', () => proc.stop());
  const url = `http://127.0.0.1:${port}`;
  await eventually('bare-server answering', async () => {
    if (!proc.running) throw new Fatal(`bare-server exited:\n${proc.logs.slice(-1000)}`);
    return (await fetch(url)).status;
  }, (status) => status === 200, { timeoutMs: 15_000, intervalMs: 50 });
  return { url, process: proc };
}

/** Headers of a request as tenant `tenant` (tier small, as the bench's db-nodes are). */
export async function tenantHeaders(env: BenchEnv, tenant: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await mintTenantToken(env.secrets, tenant, 'small')}`, 'x-tenant-id': tenant };
}
