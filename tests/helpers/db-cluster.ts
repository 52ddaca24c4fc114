import { join } from 'node:path';
import { mintAdminToken, mintTenantToken } from '../../reference-services/shared/auth.ts';
import { Contract } from '../../reference-services/shared/contract.ts';
import { ensureSecretsFile, loadSecrets, type Secrets } from '../../reference-services/shared/secrets.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';
import { TenantClient } from './http.ts';
import { NatsServer, REPO_ROOT, ServiceProcess, scratchDir } from './processes.ts';

export const dbContract = () => new Contract(join(REPO_ROOT, 'reference-services/db-node/openapi.yaml'));

/** A real nats-server and db-node processes for one test file; `stop()` removes all of it. */
export class DbTestCluster {
  readonly nodes = new Map<string, ServiceProcess>();
  private constructor(readonly nats: NatsServer, readonly dir: string, private readonly cleanupDir: () => void, readonly secrets: Secrets, readonly baseEnv: NodeJS.ProcessEnv) {}

  static async start(prefix: string, nodes: Array<{ name: string; env?: NodeJS.ProcessEnv }>): Promise<DbTestCluster> {
    const { dir, cleanup } = scratchDir(prefix);
    const nats = await NatsServer.start(dir).catch((err) => { cleanup(); throw err; });
    const secretsFile = ensureSecretsFile(join(dir, 'secrets.json'));
    const baseEnv = { NATS_URL: nats.url, PERCOLATE_SECRETS_FILE: secretsFile, PERCOLATE_PROFILE: 'fast', COLD_OPEN_MS: '0', LOG_LEVEL: 'info' };
    const cluster = new DbTestCluster(nats, dir, cleanup, loadSecrets({ PERCOLATE_SECRETS_FILE: secretsFile }), baseEnv);
    try {
      await Promise.all(nodes.map((n) => cluster.addNode(n.name, n.env)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  async addNode(name: string, env: NodeJS.ProcessEnv = {}, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
    const node = await ServiceProcess.start('db-node', name, { ...this.baseEnv, ...env }, this.dir, opts);
    this.nodes.set(name, node);
    return node;
  }

  node(name: string): ServiceProcess {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no db-node ${name} in this test cluster`);
    return node;
  }

  token(tenantId: string, tier: Tier = 'small', ttlSeconds = 3600): Promise<string> {
    return mintTenantToken(this.secrets, tenantId, tier, ttlSeconds);
  }

  adminToken(): Promise<string> {
    return mintAdminToken(this.secrets);
  }

  async client(tenantId: string, nodeName: string, tier: Tier = 'small'): Promise<TenantClient> {
    return new TenantClient(this.node(nodeName).url, tenantId, await this.token(tenantId, tier));
  }

  /** Every node's output, for a failed test's report. */
  logs(): string {
    return [...this.nodes.values()].map((n) => `--- ${n.name}\n${n.process.logs.slice(-4000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop('SIGKILL')));
    await this.nats.stop();
    this.cleanupDir();
  }
}
