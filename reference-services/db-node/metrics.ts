import { Counter, Gauge, Histogram, type Registry, Summary } from 'prom-client';

export type DbMetrics = ReturnType<typeof createDbMetrics>;

export function createDbMetrics(registry: Registry, countActiveTenants: () => Record<string, number>, activeTenants: () => Array<{ tenantId: string; tier: string }>) {
  const registers = [registry];
  return {
    activeTenants: new Gauge({
      name: 'percolate_active_tenants',
      help: 'Tenants with a request inside the active window, by tier (the database ScaledObject scales on this)',
      labelNames: ['tier'] as const,
      registers,
      collect() {
        this.reset();
        for (const [tier, count] of Object.entries(countActiveTenants())) this.set({ tier }, count);
      },
    }),
    // One series per tenant inside the active window. The database ScaledObject counts
    // distinct tenant ids over all pods: a per-pod count summed over pods counts a tenant
    // again on every pod it visited within the window, as tenants do when the pool grows.
    tenantActive: new Gauge({
      name: 'percolate_tenant_active',
      help: '1 for each tenant with a request inside the active window on this pod',
      labelNames: ['tenant_id', 'tier'] as const,
      registers,
      collect() {
        this.reset();
        for (const { tenantId, tier } of activeTenants()) this.set({ tenant_id: tenantId, tier }, 1);
      },
    }),
    tenantRequests: new Counter({
      name: 'percolate_tenant_requests_total',
      help: 'Tenant API requests by tenant, pod and tier',
      labelNames: ['tenant_id', 'pod', 'tier'] as const,
      registers,
    }),
    cacheLookups: new Counter({
      name: 'percolate_tenant_cache_lookups_total',
      help: 'Open-tenant cache lookups: hit (tenant open) or miss (cold open)',
      labelNames: ['result'] as const,
      registers,
    }),
    rejected: new Counter({
      name: 'percolate_tenant_rejected_total',
      help: 'Requests refused with 429 by per-tenant limits',
      labelNames: ['tenant_id', 'limit'] as const,
      registers,
    }),
    replicationLag: new Histogram({
      name: 'percolate_replication_lag_seconds',
      help: 'Time from a peer write to its application on this node',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    replicationLagQuantiles: new Summary({
      name: 'percolate_replication_lag_quantile_seconds',
      help: 'Replication lag quantiles over the last minute (benchmarks read these)',
      percentiles: [0.5, 0.99],
      maxAgeSeconds: 60,
      ageBuckets: 3,
      registers,
    }),
    appliedSeq: new Gauge({
      name: 'percolate_sync_applied_sequence',
      help: 'Last sync stream sequence applied on this node',
      registers,
    }),
    streamMessagesApplied: new Counter({
      name: 'percolate_sync_stream_messages_applied_total',
      help: 'Sync stream messages this node applied (a start from a snapshot applies only those after it)',
      registers,
    }),
    snapshotStartSeq: new Gauge({
      name: 'percolate_sync_snapshot_start_sequence',
      help: 'Sequence of the snapshot this node started from (0: it replayed the whole stream)',
      registers,
    }),
    snapshotsSaved: new Counter({
      name: 'percolate_sync_snapshots_saved_total',
      help: 'Snapshots of the replicated state this node wrote',
      registers,
    }),
  };
}
