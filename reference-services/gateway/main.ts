import { connectNats, ensureStreams, ensureTierJobsConsumers, JOBS_STREAM, openJobStateKv } from '../shared/nats.ts';
import { createHttpApp, listen, onTermination, podIdentityFromEnv } from '../shared/http-app.ts';
import { createLogger } from '../shared/logger.ts';
import { loadSecrets } from '../shared/secrets.ts';
import { openUploadStore } from '../shared/upload-store.ts';
import { gatewayRoutes } from './app.ts';
import { gatewayConfigFromEnv } from './config.ts';
import { gatewayMetrics } from './metrics.ts';

const identity = podIdentityFromEnv('gateway');
const logger = createLogger(identity.service, identity.pod);

async function main(): Promise<void> {
  const config = gatewayConfigFromEnv();
  const secrets = loadSecrets();
  const { app, registry, lifecycle, mount } = createHttpApp(identity, logger);
  // Listen first so /health answers while NATS is still coming up; /ready waits for it.
  const server = await listen(app, config.port, config.host);

  const { nc, js, jsm } = await connectNats(config.natsUrl, identity.pod, logger);
  await ensureStreams(jsm, [JOBS_STREAM]);
  // Each tier's consumer exists before its first job: KEDA reads a tier's lag from it.
  await ensureTierJobsConsumers(jsm);
  const jobState = await openJobStateKv(nc, logger);
  const store = await openUploadStore({ uploadDir: config.uploadDir, nc });

  mount(...gatewayRoutes({
    secrets, store, js, jobState, maxUploadBytes: config.maxUploadBytes, publishTimeoutMs: config.publishTimeoutMs, metrics: gatewayMetrics(registry), logger,
  }));
  lifecycle.ready = true;
  logger.info({ port: (server.address() as { port: number }).port, store: store.kind, maxUploadBytes: config.maxUploadBytes }, 'gateway ready');

  onTermination({
    logger, lifecycle, server, unreadyGraceMs: config.unreadyGraceMs, drainTimeoutMs: config.drainTimeoutMs,
    close: async () => { await nc.drain(); },
  });
}

main().catch((err) => {
  logger.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
