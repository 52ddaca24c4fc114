import { LIMITS } from '../../../reference-services/shared/limits.ts';

/**
 * The HAProxy configuration of the local mesh, generated from what the manifests say:
 * each database tier's backend hashes the DestinationRule's header on a consistent ring,
 * a frontend picks the tier from the bearer token's claim, every backend health-checks
 * `/ready`, and pods are added at run time through the stats socket.
 */
import { type EdgeAuth, edgeAuthLines, edgeTokenCacheLines } from './edge-auth.ts';

export interface HaproxyBackend {
  /** Named after the workload (and the DestinationRule for the database), plus `.<zone>` for a zone's view of it. */
  name: string;
  /** `hdr(<header>)` consistent hashing, or round robin when absent. */
  hashHeader?: string;
  readinessPath: string;
  /** Where requests go when no real server is up (the activator). */
  backupAddress?: string;
}

export interface HaproxyFrontend {
  name: string;
  /** Port the tests and workers connect to. */
  port: number;
  /** HAProxy's descriptor of a socket already listening on `port` (`bind fd@N`); without it HAProxy binds the port itself. */
  fd?: number;
  defaultBackend: string;
  /**
   * Picks the backend from a claim of the bearer token (the tenant's tier), as Istio's
   * RequestAuthentication turns the claim into the header a VirtualService matches.
   * A request whose token has no such claim, or another value, goes to `defaultBackend`.
   */
  claimRoute?: { claim: string; backends: Record<string, string> };
}

export interface HealthCheckSettings {
  intervalMs: number;
  fall: number;
  rise: number;
}

/** A server's place in a backend: its id (StatefulSet ordinal + 1), weight, and how many requests it takes at once. */
export interface ServerOptions {
  id?: number;
  weight?: number;
  /** More wait in HAProxy's queue (the DestinationRule's connectionPool: see mesh.ts). */
  maxconn?: number;
}

/** A pod's server written into the configuration (a reload), as the runtime API would have added it. */
export interface StaticServer {
  name: string;
  address: string;
  options: ServerOptions;
  /** Taking traffic; otherwise in maintenance, checks running, until the runtime enables it. */
  enabled: boolean;
}

/** How long HAProxy keeps a connection to a pod open while it is idle. */
const IDLE_SERVER_CONNECTION_MS = 5_000;

/**
 * The parameters of a pod's server, the same whether the runtime API adds it or a reload
 * writes it into the configuration: health checks as the readiness probe, and a pool of
 * idle connections. A server added at runtime keeps no idle connection unless told to
 * (HAProxy 2.6): every request would open a new one to the pod, which cost the pod more
 * than the request did (a third of its throughput). The idle ones are let go well before
 * the services' own keep-alive timeout (65 s), so HAProxy never sends on a connection the
 * pod is closing.
 */
export function serverParams(checks: HealthCheckSettings, server: ServerOptions): string {
  const { id, weight, maxconn } = server;
  return `check inter ${checks.intervalMs} fall ${checks.fall} rise ${checks.rise}${id ? ` id ${id}` : ''}${weight === undefined ? '' : ` weight ${weight}`}`
    + `${maxconn === undefined ? '' : ` maxconn ${maxconn}`} pool-max-conn -1 pool-purge-delay ${IDLE_SERVER_CONNECTION_MS}`;
}

export interface HaproxyConfigInput {
  socketPath: string;
  statsPort: number;
  /** As a frontend's `fd`, for the stats port. */
  statsFd?: number;
  frontends: HaproxyFrontend[];
  backends: HaproxyBackend[];
  /** `timeout server`: must outlast the activator's hold, which answers as a server does. */
  serverTimeoutMs: number;
  checkTimeoutMs: number;
  /** Token verification at the edge, on every frontend that routes on a token claim. */
  edge?: EdgeAuth;
  /** Pods' servers by backend, for a reload; a start has none (the runtime API adds them). */
  servers?: ReadonlyMap<string, readonly StaticServer[]>;
  /** Required with `servers`. */
  checks?: HealthCheckSettings;
}

/** How long a stopping HAProxy (or the old worker of a reload) may finish what it has. */
export const HARD_STOP_AFTER_MS = 5_000;
/** Kept under the open-file limit (20000) with room for the other side of every connection. */
export const HAPROXY_MAXCONN = 4000;
/** Server ids 1..N are reserved for StatefulSet ordinals (a stable place on the ring). */
export const BACKUP_SERVER_ID = 100_000;
/**
 * The ring: sdbm with the avalanche mix, HAProxy's default for consistent hashing, spelt
 * out. Without avalanche, tenant ids that differ in their last characters (tenant-001,
 * tenant-002…) hash to neighbouring points and land on one server.
 */
export const HASH_TYPE = 'hash-type consistent sdbm avalanche';

const SAFE_NAME = /^[A-Za-z0-9._:-]+$/;

function claimRouteLines(f: HaproxyFrontend): string[] {
  if (!f.claimRoute) return [];
  const { claim, backends } = f.claimRoute;
  for (const value of [claim, ...Object.keys(backends)]) {
    if (!SAFE_NAME.test(value)) throw new Error(`haproxy frontend ${f.name}: claim route "${value}" must be letters, digits, '.', '_', ':' or '-'`);
  }
  const variable = `txn.claim_${claim.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return [
    // With `edge` set, the token was verified above, so the claim can be trusted to route.
    `  http-request set-var(${variable}) http_auth_bearer,jwt_payload_query('$.${claim}')`,
    ...Object.entries(backends).map(([value, backend]) => `  use_backend ${backend} if { var(${variable}) -m str ${value} }`),
  ];
}

// ---- Edge limits for hostile input (kept in this one block) --------------------------
// The load balancer refuses what the services would refuse, with the same limits
// (reference-services/shared/limits.ts) and the contracts' error body, so a client sees
// one kind of 4xx whichever hop said no. The buffer holds a request up to the services'
// own header limit, so they (not HAProxy) answer 414 and 431; HAProxy's own answers
// (408, 413, 5xx) carry the contracts' JSON error shape.
/**
 * Headers any hop in front of a pod takes (HAProxy's buffer, the activator's parser): more
 * than the pods' own limit, so the pod, not a hop, answers 414 and 431 with its reason.
 */
export const EDGE_BUFSIZE = 4 * LIMITS.maxHeaderBytes;
const edgeError = (error: string, reason: string) => `content-type application/json string '${JSON.stringify({ error, reason })}'`;
const EDGE_GLOBAL = [`  tune.bufsize ${EDGE_BUFSIZE}`];
const EDGE_DEFAULTS = [
  ...([
    [400, 'bad_request', 'the load balancer could not parse the request'],
    [405, 'method_not_allowed', 'the load balancer does not take this method'],
    [408, 'request_timeout', 'the request did not arrive in time'],
    [413, 'payload_too_large', 'the request body is too large'],
    [500, 'internal', 'internal error at the load balancer'],
    [501, 'not_implemented', 'the load balancer does not implement this'],
    [502, 'bad_gateway', 'the pod did not answer properly'],
    [503, 'unavailable', 'no pod can take the request now'],
    [504, 'gateway_timeout', 'the pod did not answer in time'],
  ] as const).map(([status, error, reason]) => `  http-error status ${status} ${edgeError(error, reason)}`),
];
// ---- end of edge limits ------------------------------------------------------------------

const bindLine = (port: number, fd: number | undefined) => `  bind ${fd === undefined ? `127.0.0.1:${port}` : `fd@${fd}`}`;

function staticServerLine(s: StaticServer, checks: HealthCheckSettings | undefined): string {
  if (!checks) throw new Error('haproxy config: servers need the health check settings');
  if (!SAFE_NAME.test(s.name) || !/^[\d.]+:\d+$/.test(s.address)) throw new Error(`haproxy config: server "${s.name}" at "${s.address}" is not a name and an ip:port`);
  return `  server ${s.name} ${s.address} ${serverParams(checks, s.options)}${s.enabled ? '' : ' disabled'}`;
}

export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  const lines = [
    'global',
    `  maxconn ${HAPROXY_MAXCONN}`,
    `  stats socket ${input.socketPath} mode 600 level admin`,
    `  hard-stop-after ${HARD_STOP_AFTER_MS}ms`,
    ...EDGE_GLOBAL,
    '',
    'defaults',
    '  mode http',
    `  maxconn ${HAPROXY_MAXCONN}`,
    '  timeout connect 2s',
    '  timeout client 65s',
    `  timeout server ${input.serverTimeoutMs}ms`,
    // A request over a pod's maxconn (the DestinationRule's connectionPool) waits as long as
    // one in flight may take, not the 2 s that timeout queue would otherwise borrow from connect.
    `  timeout queue ${input.serverTimeoutMs}ms`,
    '  timeout http-keep-alive 60s',
    // On a reload the old process answers each client's next request with `Connection: close`
    // instead of closing its idle connections, which a client may be writing to that moment.
    '  option idle-close-on-response',
    `  timeout check ${input.checkTimeoutMs}ms`,
    // A refused connection (a pod that just died) is retried on another server: no 5xx.
    // So is a read whose connection is cut before any answer (a pod gone mid-request, a
    // zone cut off); a write is not (see the backends), as the pod may have applied it.
    '  retries 2',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response',
    ...EDGE_DEFAULTS,
    '',
    'frontend stats',
    bindLine(input.statsPort, input.statsFd),
    '  http-request use-service prometheus-exporter if { path /metrics }',
    '  stats enable',
    '  stats uri /stats',
    '  stats refresh 2s',
  ];
  for (const f of input.frontends) {
    lines.push(
      '',
      `frontend ${f.name}`,
      bindLine(f.port, f.fd),
      ...(f.claimRoute && input.edge ? edgeAuthLines(input.edge) : []),
      ...claimRouteLines(f),
      `  default_backend ${f.defaultBackend}`,
    );
  }
  for (const b of input.backends) {
    lines.push(
      '',
      `backend ${b.name}`,
      b.hashHeader ? `  balance hdr(${b.hashHeader})` : '  balance roundrobin',
      ...(b.hashHeader ? [`  ${HASH_TYPE}`] : []),
      `  option httpchk GET ${b.readinessPath}`,
      '  http-check expect status 200',
      '  http-request disable-l7-retry if !METH_GET !METH_HEAD',
      ...(b.backupAddress ? [`  server activator ${b.backupAddress} backup id ${BACKUP_SERVER_ID}`] : []),
      ...(input.servers?.get(b.name) ?? []).map((s) => staticServerLine(s, input.checks)),
    );
  }
  if (input.edge && input.frontends.some((f) => f.claimRoute)) lines.push('', ...edgeTokenCacheLines());
  return `${lines.join('\n')}\n`;
}
