import { envInt, envString } from '../shared/env.ts';
import type { TimeProfile } from '../shared/profile.ts';
import { type Tier, isTier } from '../shared/tenant-id.ts';
import { DEFAULT_PUBLISH_TIMEOUT_MS } from '../shared/nats.ts';

export interface DbNodeConfig {
  host: string;
  port: number;
  natsUrl: string;
  tier: Tier;
  activeWindowMs: number;
  coldOpenMs: number;
  tenantCacheSize: number;
  rateLimit: number;
  rateBurst: number;
  maxConcurrency: number;
  maxBodyBytes: number;
  publishTimeoutMs: number;
  unreadyGraceMs: number;
  drainTimeoutMs: number;
  /** How often a node looks whether a snapshot of the replicated state is due. */
  snapshotIntervalMs: number;
  /** A snapshot is due once the latest is this many sync stream messages behind. */
  snapshotMinMessages: number;
}

export function dbNodeConfig(profile: TimeProfile): DbNodeConfig {
  const tier = envString('TIER', 'small');
  if (!isTier(tier)) throw new Error(`TIER must be small, medium or large, got "${tier}"`);
  return {
    host: envString('HOST', '127.0.0.1'),
    port: envInt('PORT', 8080),
    natsUrl: envString('NATS_URL', 'nats://127.0.0.1:4222'),
    tier,
    activeWindowMs: envInt('ACTIVE_WINDOW_SECONDS', profile.activeWindowSeconds) * 1000,
    coldOpenMs: envInt('COLD_OPEN_MS', profile.coldOpenMs),
    tenantCacheSize: Math.max(1, envInt('TENANT_CACHE_SIZE', profile.tenantCacheSize)),
    rateLimit: Math.max(1, envInt('TENANT_RATE_LIMIT', 500)),
    rateBurst: Math.max(1, envInt('TENANT_RATE_BURST', 1000)),
    maxConcurrency: Math.max(1, envInt('TENANT_MAX_CONCURRENCY', 32)),
    maxBodyBytes: envInt('MAX_BODY_BYTES', 1024 * 1024),
    publishTimeoutMs: Math.max(100, envInt('PUBLISH_TIMEOUT_MS', DEFAULT_PUBLISH_TIMEOUT_MS)),
    unreadyGraceMs: envInt('UNREADY_GRACE_MS', 0),
    drainTimeoutMs: envInt('DRAIN_TIMEOUT_MS', profile.drainTimeoutMs),
    snapshotIntervalMs: Math.max(100, envInt('SNAPSHOT_INTERVAL_MS', 30_000)),
    snapshotMinMessages: Math.max(1, envInt('SNAPSHOT_MIN_MESSAGES', 1_000)),
  };
}
