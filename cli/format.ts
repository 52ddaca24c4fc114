import type { LocalStatus } from '../cluster/local/runtime.ts';
import type { ClusterEndpoints } from '../cluster/target.ts';

export const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`);
export const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

function age(since: number): string {
  const s = Math.max(0, Math.round((Date.now() - since) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** Columns padded to their widest cell, like kubectl's tables. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatEndpoints(e: ClusterEndpoints, logDir?: string): string {
  const rows = [
    ['load balancer', e.loadBalancerUrl, 'X-Tenant-ID + bearer token (percolate test-topology token <tenant>)'],
    ...Object.entries(e.zonalLoadBalancerUrls ?? {}).map(([zone, url]) => [`  from ${zone}`, url, `as a client in ${zone}: ${zone}'s pods first (DestinationRule distribute)`]),
    ['gateway', e.gatewayUrl, 'POST /upload, GET /jobs/{id}'],
    ['nats', e.natsUrl, `monitoring ${e.natsMonitoringUrl}`],
    ['prometheus', e.prometheusUrl, ''],
    ...(e.extra.haproxyStats ? [['haproxy stats', e.extra.haproxyStats, `metrics ${e.extra.haproxyMetrics ?? ''}`]] : []),
    ...(logDir ? [['logs', logDir, '']] : []),
  ];
  return table(rows.map((r) => ['  ' + r[0]!, r[1]!, r[2]!]));
}

export function formatStatus(s: LocalStatus): string {
  const out: string[] = [];
  const supervised = s.components.filter((c) => c.state !== undefined);
  const down = supervised.filter((c) => c.state !== 'up').map((c) => `${c.name} ${c.state}`);
  out.push(`local cluster: ${s.phase}${down.length ? ` — DEGRADED: ${down.join(', ')}` : ''}, profile ${s.profile}, up ${age(s.startedAt)}, memory ${mb(s.totalRssBytes)} (RSS of ${s.components.filter((c) => c.pid > 0).length} processes)`);
  out.push(`run dir ${s.runDir}`, '');
  out.push(table([
    ['COMPONENT', 'STATE', 'RESTARTS', 'PID', 'PORTS', 'LAST EXIT'],
    ...supervised.map((c) => [c.name, c.state!, String(c.restarts ?? 0), c.pid > 0 ? String(c.pid) : '-', c.ports.join(',') || '-', c.lastExit ?? '']),
  ]), '');
  out.push(table([
    ['WORKLOAD', 'KIND', 'READY', 'REPLICAS'],
    ...s.workloads.map((w) => [w.name, w.kind, `${w.readyReplicas}/${w.replicas}`, String(w.replicas)]),
  ]), '');
  if (s.pods.length) {
    out.push(table([
      ['POD', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'NODE', 'ZONE', 'ADDRESS'],
      ...s.pods.map((p) => [
        p.name, p.ready ? '1/1' : '0/1', p.terminating ? 'Terminating' : p.phase, String(p.restarts), age(p.createdAt), p.node, p.zone, p.address,
      ]),
    ]), '');
  } else out.push('no pods', '');
  out.push(table([
    ['ZONE', 'STATUS', 'NODES'],
    ...s.zones.map((z) => [z.name, z.failed ? 'Failed' : 'Ready', z.nodes.map((n) => {
      const node = s.nodes.find((x) => x.name === n);
      return node?.cordoned ? `${n} (cordoned)` : n;
    }).join(', ')]),
  ]), '');
  out.push('endpoints', formatEndpoints(s.endpoints, `${s.runDir}/logs`));
  return out.join('\n');
}
