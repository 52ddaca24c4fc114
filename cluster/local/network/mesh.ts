import { join } from 'node:path';
import { NAMESPACE, TIER_LABEL } from '../../../lib/names.ts';
import type { RenderedManifests, WorkloadSpec } from '../../manifests.ts';
// Not the cluster/manifests.ts barrel: it also loads the schema validator, start-up time the daemon does not need.
import { hashHeader, localityDistribution, maxActiveRequests } from '../../manifests/mesh.ts';
import type { ChildRegistry } from '../process/child-registry.ts';
import type { Child } from '../process/child.ts';
import { type RuntimeSettings, heldRequestTimeoutMs } from '../../../lib/time.ts';
import type { ScrapeJob, ScrapeTarget } from '../components/prometheus.ts';
import { Activator, type ActivatorHooks } from './activator.ts';
import { edgeAuthFromSecrets, pruneEdgeKeys } from './edge-auth.ts';
import { LocalHaproxy } from './haproxy.ts';
import { LbPool } from './lb-pool.ts';
import { MAX_WEIGHT } from './locality.ts';
import { DB_FRONTEND, type DbTier, meshPlan, zonalFrontend } from './mesh-plan.ts';

export interface MeshOptions {
  runDir: string;
  manifests: RenderedManifests;
  specs: Iterable<WorkloadSpec>;
  zones: readonly string[];
  settings: RuntimeSettings;
  /** The environment HAProxy runs with (the run marker, so that a sweep finds it). */
  env: NodeJS.ProcessEnv;
  registry: ChildRegistry;
  /** Where the issuer's keys are: HAProxy verifies tokens at the edge with their public half. */
  secretsFile: string;
  /** How an activator sees the database pools (the runtime owns the pods). */
  activation: ActivatorHooks;
  log: (message: string, err?: unknown) => void;
}

/**
 * The data path in front of the pods, as the ingress, the mesh and KEDA's HTTP add-on are on a
 * cluster: HAProxy with one consistent-hash backend per database tier (and its zonal
 * copies) and one per gateway, an activator per database tier as the backup server that
 * holds requests while the tier is at zero, and the pools that add and drain pods through
 * HAProxy's runtime API.
 */
export class LocalMesh {
  private constructor(
    readonly haproxy: LocalHaproxy,
    /** HAProxy pools by workload: database tiers and gateways (workers take no traffic). */
    readonly pools: ReadonlyMap<string, LbPool>,
    readonly activators: ReadonlyMap<string, Activator>,
    private readonly env: NodeJS.ProcessEnv,
    private readonly registry: ChildRegistry,
    private readonly edgeKeysDir: string,
    private readonly secretsFile: string,
  ) {}

  static async start(o: MeshOptions): Promise<LocalMesh> {
    const tiers: DbTier[] = [];
    const gateways: Array<{ workload: string; readinessPath: string }> = [];
    const activators = new Map<string, Activator>();
    for (const spec of o.specs) {
      if (spec.service === 'db-node') {
        const tier = spec.labels[TIER_LABEL] ?? 'small';
        const activator = new Activator({ workload: spec.name, tier, frontendUrl: '' }, o.activation, o.settings.activationTimeoutMs);
        await activator.listen();
        activators.set(spec.name, activator);
        const limit = maxActiveRequests(o.manifests, spec.name);
        tiers.push({
          workload: spec.name, tier, hashHeader: hashHeader(o.manifests, spec.name), readinessPath: spec.readinessPath,
          backupAddress: activator.address, distribute: localityDistribution(o.manifests, spec.name),
          ...(limit === undefined ? {} : { maxActiveRequests: limit }),
        });
      } else if (spec.service === 'gateway') gateways.push({ workload: spec.name, readinessPath: spec.readinessPath });
    }
    const plan = meshPlan(tiers, gateways, o.zones);
    // HAProxy's own timeout outlasts the activator's hold, so a held request ends with the activator's answer.
    const edgeKeysDir = join(o.runDir, 'edge-keys');
    const haproxy = await LocalHaproxy.start(o.runDir, plan.frontends, plan.backends, {
      intervalMs: o.settings.healthCheckIntervalMs, fall: o.settings.healthCheckFall, rise: o.settings.healthCheckRise,
    }, heldRequestTimeoutMs(), o.env, o.registry, edgeAuthFromSecrets(o.secretsFile, edgeKeysDir));
    const pools = new Map<string, LbPool>();
    for (const t of tiers) pools.set(t.workload, new LbPool(haproxy, t.workload, plan.zonal.get(t.workload), MAX_WEIGHT, o.log, t.maxActiveRequests));
    for (const g of gateways) pools.set(g.workload, new LbPool(haproxy, g.workload, [], undefined, o.log));
    // Back through the frontend that routes on the token's tier: a released request lands on its tier's pod.
    for (const activator of activators.values()) activator.setFrontendUrl(haproxy.frontendUrl(DB_FRONTEND));
    return new LocalMesh(haproxy, pools, activators, o.env, o.registry, edgeKeysDir, o.secretsFile);
  }

  get child(): Child { return this.haproxy.child; }

  /** HAProxy again after it died: a new process that knows only its config, so the pods go back in. */
  async relaunch(): Promise<Child> { return this.haproxy.launch(this.env, this.registry); }

  async replay(): Promise<void> { for (const pool of this.pools.values()) await pool.replay(); }

  /**
   * The edge verifies with the issuer keys of the secrets file as it is now (a rotation
   * changed them): HAProxy reloads with them, every pod kept where it is.
   */
  async reloadEdgeKeys(): Promise<void> {
    const edge = edgeAuthFromSecrets(this.secretsFile, this.edgeKeysDir);
    const pools = [...this.pools.values()];
    try {
      await this.haproxy.reload(() => new Map(pools.flatMap((p) => p.staticServers())), edge);
    } catch (err) {
      await Promise.all(pools.map((p) => p.resendWeights()));
      throw err;
    }
    pruneEdgeKeys(this.edgeKeysDir, edge);
  }

  /** The frontend database clients use, routing on the token's tier; undefined without a database. */
  get dbFrontendUrl(): string | undefined {
    return this.activators.size > 0 ? this.haproxy.frontendUrl(DB_FRONTEND) : undefined;
  }

  zonalFrontendUrls(zones: readonly string[]): Record<string, string> {
    return this.activators.size > 0 ? Object.fromEntries(zones.map((z) => [z, this.haproxy.frontendUrl(zonalFrontend(z))])) : {};
  }

  frontendUrl(workload: string): string { return this.haproxy.frontendUrl(workload); }

  /** What Prometheus scrapes of the mesh: each activator (its held requests are demand) and HAProxy. */
  scrapeTargets(): Array<{ job: ScrapeJob; name: string; target: ScrapeTarget }> {
    return [
      ...[...this.activators].map(([workload, a]) => ({ job: 'activator' as const, name: workload, target: { address: a.address, labels: { workload, namespace: NAMESPACE } } })),
      { job: 'haproxy', name: 'haproxy', target: { address: `127.0.0.1:${this.haproxy.statsPort}`, labels: { namespace: NAMESPACE } } },
    ];
  }

  /** Stops taking held requests; HAProxy itself is the supervisor's to stop. */
  async closeActivators(): Promise<void> {
    await Promise.all([...this.activators.values()].map((a) => a.close().catch(() => undefined)));
  }
}
