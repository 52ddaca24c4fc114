import { createHttpApp, listen, onTermination, podIdentityFromEnv } from '../shared/http-app.ts';
import { createLogger } from '../shared/logger.ts';
import {
  DLQ_STREAM, JOBS_STREAM, connectNats, ensureJobsConsumer, ensureStreams, openJobStateKv,
} from '../shared/nats.ts';
import { loadSecrets } from '../shared/secrets.ts';
import { openUploadStore } from '../shared/upload-store.ts';
import { workerConfigFromEnv } from './config.ts';
import { JobPuller } from './job-puller.ts';
import { workerMetrics } from './metrics.ts';
import { JobProcessor } from './process-job.ts';

const identity = podIdentityFromEnv('worker');
const logger = createLogger(identity.service, identity.pod);

async function main(): Promise<void> {
  const config = workerConfigFromEnv();
  const secrets = loadSecrets();
  // HTTP serves the probes and /metrics only; jobs arrive from JetStream.
  const { app, registry, lifecycle } = createHttpApp(identity, logger);
  const server = await listen(app, config.port, config.host);
  const metrics = workerMetrics(registry);

  const { nc, js, jsm } = await connectNats(config.natsUrl, identity.pod, logger);
  await ensureStreams(jsm, [JOBS_STREAM, DLQ_STREAM]);
  await ensureJobsConsumer(jsm, config.consumer, config.filter, { ackWaitMs: config.ackWaitMs });
  const jobState = await openJobStateKv(nc, logger);
  const store = await openUploadStore({ uploadDir: config.uploadDir, nc });
  const consumer = await js.consumers.get(JOBS_STREAM, config.consumer);

  const processor = new JobProcessor({ config, pod: identity.pod, js, jobState, store, secrets, metrics, logger });
  const puller = new JobPuller(consumer, (msg) => processor.handle(msg), { concurrency: config.concurrency, logger });
  puller.start();
  lifecycle.ready = true;
  logger.info({ consumer: config.consumer, filter: config.filter, store: store.kind, concurrency: config.concurrency }, 'worker ready: pulling jobs');

  // Stop pulling the moment SIGTERM arrives; onTermination then waits for the jobs in hand.
  process.once('SIGTERM', () => puller.quiesce());
  onTermination({
    logger, lifecycle, server, unreadyGraceMs: config.unreadyGraceMs, drainTimeoutMs: config.drainTimeoutMs,
    close: async () => {
      const inFlight = puller.busy;
      const drained = await puller.stop(config.drainTimeoutMs);
      logger.info({ drained, inFlight }, drained ? 'in-flight jobs finished' : 'drain timed out: in-flight jobs handed back');
      await nc.drain();
    },
  });
}

main().catch((err) => {
  logger.fatal({ err }, 'worker failed to start');
  process.exit(1);
});
