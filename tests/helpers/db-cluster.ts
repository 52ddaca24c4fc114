import { join } from 'node:path';
import { mintAdminToken, mintTenantToken } from '../../reference-services/shared/auth.ts';
import { Contract } from '../../reference-services/shared/contract.ts';
import type { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import type { Secrets } from '../../reference-services/shared/secrets.ts';
import type { Tier } from '../../reference-services/shared/tenant-id.ts';
import { TenantClient } from '../../lib/http.ts';
import { type ServiceProcess, TestServices } from './processes.ts';

export const dbContract = () => new Contract(join(REPO_ROOT, 'reference-services/db-node/openapi.yaml'));

/** A real nats-server and db-node processes (and whatever else a test starts beside them) for one test file; `stop()` removes all of it. */
export class DbTestCluster {
  readonly nodes = new Map<string, ServiceProcess>();
  private constructor(readonly services: TestServices) {}

  get nats(): LocalNatsCluster { return this.services.nats; }
  get dir(): string { return this.services.dir; }
  get secrets(): Secrets { return this.services.secrets; }

  static async start(prefix: string, nodes: Array<{ name: string; env?: NodeJS.ProcessEnv }>): Promise<DbTestCluster> {
    const cluster = new DbTestCluster(await TestServices.start(prefix));
    try {
      await Promise.all(nodes.map((n) => cluster.addNode(n.name, n.env)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** A db-node of the small tier; tenants open at once (no cold-open delay) unless `env` says otherwise. */
  async addNode(name: string, env: NodeJS.ProcessEnv = {}, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
    const node = await this.services.startService('db-node', name, { COLD_OPEN_MS: '0', ...env }, opts);
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
    return [...this.nodes.values()].map((n) => `--- ${n.name}\n${n.process.tail(4000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await this.services.stop();
  }
}
