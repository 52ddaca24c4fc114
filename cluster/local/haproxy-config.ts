/**
 * The HAProxy configuration of the local mesh, generated from what the manifests say:
 * the database backend hashes the DestinationRule's header on a consistent ring, every
 * backend health-checks `/ready`, and pods are added at run time through the stats socket.
 */
export interface HaproxyBackend {
  /** Named after the workload (and the DestinationRule for the database). */
  name: string;
  /** Frontend port the tests and workers connect to. */
  port: number;
  /** `hdr(<header>)` consistent hashing, or round robin when absent. */
  hashHeader?: string;
  readinessPath: string;
  /** Where requests go when no real server is up (the activator). */
  backupAddress?: string;
}

export interface HaproxyConfigInput {
  socketPath: string;
  statsPort: number;
  backends: HaproxyBackend[];
  /** `timeout server`: must outlast the activator's hold, which answers as a server does. */
  serverTimeoutMs: number;
  checkTimeoutMs: number;
}

/** Kept under the open-file limit (20000) with room for the other side of every connection. */
export const HAPROXY_MAXCONN = 4000;
/** Server ids 1..N are reserved for StatefulSet ordinals (a stable place on the ring). */
export const BACKUP_SERVER_ID = 100_000;

export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  const lines = [
    'global',
    `  maxconn ${HAPROXY_MAXCONN}`,
    `  stats socket ${input.socketPath} mode 600 level admin`,
    '  hard-stop-after 5s',
    '',
    'defaults',
    '  mode http',
    `  maxconn ${HAPROXY_MAXCONN}`,
    '  timeout connect 2s',
    '  timeout client 65s',
    `  timeout server ${input.serverTimeoutMs}ms`,
    '  timeout http-keep-alive 60s',
    `  timeout check ${input.checkTimeoutMs}ms`,
    // A refused connection (a pod that just died) is retried once on another server: no 5xx.
    '  retries 2',
    '  option redispatch 1',
    '',
    'frontend stats',
    `  bind 127.0.0.1:${input.statsPort}`,
    '  http-request use-service prometheus-exporter if { path /metrics }',
    '  stats enable',
    '  stats uri /stats',
    '  stats refresh 2s',
  ];
  for (const b of input.backends) {
    lines.push(
      '',
      `frontend ${b.name}`,
      `  bind 127.0.0.1:${b.port}`,
      `  default_backend ${b.name}`,
      '',
      `backend ${b.name}`,
      b.hashHeader ? `  balance hdr(${b.hashHeader})` : '  balance roundrobin',
      ...(b.hashHeader ? ['  hash-type consistent'] : []),
      `  option httpchk GET ${b.readinessPath}`,
      '  http-check expect status 200',
      ...(b.backupAddress ? [`  server activator ${b.backupAddress} backup id ${BACKUP_SERVER_ID}`] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}
