import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TIER_LABEL } from '../../../lib/names.ts';
import { REPO_ROOT } from '../../../lib/repo.ts';
import type { ProfileName } from '../../../reference-services/shared/profile.ts';
import { renderOverlay } from '../../manifests/render.ts';
import type { RenderedManifests, WorkloadSpec } from '../../manifests/types.ts';
import { workloads } from '../../manifests/workloads.ts';
import { type Child, type ChildUser, hostEnv, spawnChild } from '../process/child.ts';

/**
 * A reference service run as a process, by the runtime (a pod's container), a test or the
 * bench alike: its environment, the way it is started, and the port it reports.
 */
export type ServiceName = WorkloadSpec['service'];

export interface ServiceEnvOptions {
  /** The container's environment as the manifests resolve it (`WorkloadSpec.env`). */
  manifest: Record<string, string>;
  /** What the downward API tells the container about its pod (node and zone: where it was placed, if anywhere). */
  pod: { name: string; node?: string; zone?: string };
  /** How the service reaches NATS from where it runs: its sidecar in the runtime, the servers in a test. */
  natsUrl: string;
  /** Servers NATS has: a stream gets the copies the manifests ask for, at most one per server. */
  natsServers: number;
  /** The secrets file (in a cluster: the mounted secret). */
  secretsFile: string;
  /** Where the service reports the port it bound. */
  portFile: string;
  /** 0 (the default): the service binds a port of its own choice and reports it. A restart may ask for the one it had. */
  port?: number;
  /** The database tier's address, for a worker that reaches it through something other than the manifests' Service name. */
  dbUrl?: string;
  /**
   * How long a terminating service keeps serving while failing /ready: time for whatever
   * balances load in front of it to notice. 0 when nothing does.
   */
  unreadyGraceMs: number;
  /** Last word, over everything above: the run's marker, a test's knobs. */
  extra?: NodeJS.ProcessEnv;
}

/**
 * The environment of a reference service's container: what the manifests give it, with
 * what a cluster would fill in (pod identity, the listen address, the secret's path) and
 * the addresses of this place (NATS, the database tier) in place of the cluster's names.
 * Nothing else comes from our own environment: a container does not inherit the host's.
 */
export function serviceEnv(o: ServiceEnvOptions): NodeJS.ProcessEnv {
  const asked = Number(o.manifest.NATS_STREAM_REPLICAS ?? 1);
  const env: NodeJS.ProcessEnv = {
    ...hostEnv(),
    ...o.manifest,
    POD_NAME: o.pod.name,
    NODE_NAME: o.pod.node,
    ZONE: o.pod.zone,
    // Loopback only: whatever reaches the service locally is on this machine (a pod's, through its sidecar).
    HOST: '127.0.0.1',
    PORT: String(o.port ?? 0),
    PORT_FILE: o.portFile,
    NATS_URL: o.natsUrl,
    NATS_STREAM_REPLICAS: String(Math.max(1, Math.min(asked, o.natsServers))),
    PERCOLATE_SECRETS_FILE: o.secretsFile,
    UNREADY_GRACE_MS: String(o.unreadyGraceMs),
    ...(o.dbUrl ? { DB_URL: o.dbUrl } : {}),
    ...o.extra,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env;
}

const rendered = new Map<ProfileName, Promise<RenderedManifests>>();

/**
 * The workload of the manifests (`profile`'s overlay) that runs `service`; for db-node and
 * the worker, that of `tier`. For a test or the bench, which run one service outside the runtime
 * but give it what the manifests give its pods. Rendered once per process.
 */
export async function manifestWorkload(service: ServiceName, profile: ProfileName = 'fast', tier = 'small'): Promise<WorkloadSpec> {
  let manifests = rendered.get(profile);
  if (!manifests) {
    manifests = renderOverlay(profile);
    rendered.set(profile, manifests);
    manifests.catch(() => rendered.delete(profile));
  }
  const tiered = service !== 'gateway';
  const found = workloads(await manifests).filter((w) => w.service === service && (!tiered || w.labels[TIER_LABEL] === tier));
  if (found.length !== 1) throw new Error(`the ${profile} manifests have ${found.length} workloads of ${service}${tiered ? ` (tier ${tier})` : ''}, expected one`);
  return found[0]!;
}

/** Starts `service` (from its sources, as the images bundle them) as `name`, in its own process group. */
export function spawnService(name: string, service: ServiceName, env: NodeJS.ProcessEnv, log: string, user?: ChildUser): Child {
  const entry = join(REPO_ROOT, 'reference-services', service, 'main.ts');
  return spawnChild(name, process.execPath, ['--import', 'tsx', entry], env, log, [], user);
}

/**
 * The port `child` reported in `portFile` once it has bound one; undefined until then. Only
 * a report of this very process (pid and pod name) counts: a file left by an earlier run
 * of the same name never does.
 */
export function reportedPort(portFile: string, child: Child, podName: string): number | undefined {
  let report: { port?: unknown; pid?: unknown; pod?: unknown };
  try {
    report = JSON.parse(readFileSync(portFile, 'utf8'));
  } catch {
    return undefined;
  }
  if (report.pid !== child.pid || report.pod !== podName || typeof report.port !== 'number' || report.port <= 0) return undefined;
  return report.port;
}
