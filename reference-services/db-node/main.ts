import { fileURLToPath } from 'node:url';
import { Contract } from '../shared/contract.ts';
import { createHttpApp, listen, onTermination, podIdentityFromEnv } from '../shared/http-app.ts';
import { jsonBody } from '../shared/limits.ts';
import { createLogger } from '../shared/logger.ts';
import { KEYS_BUCKET, SYNC_STREAM, connectNats, ensureStreams, openKv } from '../shared/nats.ts';
import { loadProfile } from '../shared/profile.ts';
import { loadSecrets } from '../shared/secrets.ts';
import { TIERS } from '../shared/tenant-id.ts';
import { ActiveTenants } from './active-tenants.ts';
import { dbNodeConfig } from './config.ts';
import { KeyRing } from './key-ring.ts';
import { createDbMetrics } from './metrics.ts';
import { HybridClock } from './records.ts';
import { Replicator } from './replication.ts';
import { Checkpointer, ObjectSnapshotStore } from './snapshots.ts';
import { dbNodeRouters } from './routes.ts';
import { TenantStores } from './tenant-stores.ts';

const profile = loadProfile();
const config = dbNodeConfig(profile);
const identity = podIdentityFromEnv('db-node');
const logger = createLogger('db-node', identity.pod);
const secrets = loadSecrets();
const contract = new Contract(fileURLToPath(new URL('./openapi.yaml', import.meta.url)));

const { app, registry, lifecycle, mount } = createHttpApp(identity, logger);
const active = new ActiveTenants(config.activeWindowMs);
const metrics = createDbMetrics(registry, () => active.countByTier(TIERS), () => active.active());

// Listen first: /health answers while NATS is still coming up; /ready waits for the replay.
const server = await listen(app, config.port, config.host);
logger.info({ port: (server.address() as { port: number }).port, zone: identity.zone, node: identity.node, tier: config.tier, profile: profile.name }, 'listening');

const { nc, js, jsm } = await connectNats(config.natsUrl, identity.pod, logger);
await ensureStreams(jsm, [SYNC_STREAM]);
const keyRing = new KeyRing(await openKv(nc, KEYS_BUCKET, { timeoutMs: config.publishTimeoutMs }), secrets, logger, registry);
const stores = new TenantStores({ coldOpenMs: config.coldOpenMs, cacheSize: config.tenantCacheSize, keyRing, cacheLookups: metrics.cacheLookups });
await keyRing.watch((tenantId, revision) => stores.refreshKeys(tenantId, revision, 'key-change'));
const clock = new HybridClock();
const replicator = new Replicator(js, jsm, stores, clock, identity.pod, metrics, logger, config.publishTimeoutMs);

const routers = dbNodeRouters({
  identity, tier: config.tier, secrets, contract, stores, keyRing, replicator, clock, active, metrics,
  parseBody: jsonBody({ maxBytes: config.maxBodyBytes }),
  limits: { ratePerSecond: config.rateLimit, burst: config.rateBurst, maxConcurrency: config.maxConcurrency },
});
/** Bound on a read's wait for this node to catch up; past it the read is served as it stands and says so. */
const READ_BARRIER_MS = 2_000;
mount(
  async (ctx, next) => {
    if ((ctx.method === 'GET' || ctx.method === 'HEAD') && ctx.path.startsWith('/api/v1/')) {
      if (!(await replicator.readBarrier(READ_BARRIER_MS))) ctx.set('x-read-barrier', 'missed');
    }
    await next();
  },
  ...routers.flatMap((router) => [router.routes(), router.allowedMethods({ throw: true })]),
);

const snapshots = await ObjectSnapshotStore.open(nc);
const snapshot = await snapshots.load().catch((err: unknown) => {
  // A snapshot that cannot be read costs time, not data: the stream holds what it holds.
  logger.warn({ err }, 'snapshot could not be read: replaying the whole sync stream');
  return undefined;
});
await replicator.start(snapshot);
// It takes no snapshot before this node has caught up (its own check).
const checkpointer = new Checkpointer(snapshots, stores, replicator, identity.pod, metrics, logger,
  { intervalMs: config.snapshotIntervalMs, minMessages: config.snapshotMinMessages });
checkpointer.start();
void replicator.caughtUp.then(() => {
  lifecycle.ready = true;
  logger.info({ appliedSeq: replicator.appliedSeq }, 'caught up with the sync stream: ready');
});

onTermination({
  logger, lifecycle, server, unreadyGraceMs: config.unreadyGraceMs, drainTimeoutMs: config.drainTimeoutMs,
  close: async () => {
    await checkpointer.stop();
    await replicator.stop();
    await nc.drain();
  },
});
