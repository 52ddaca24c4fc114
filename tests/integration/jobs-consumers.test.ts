import { AckPolicy, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import {
  JOBS_ACK_WAIT_MS, JOBS_STREAM, ensureJobsConsumer, ensureStreams, ensureTierJobsConsumers, jobSubject, jobsConsumer, subjectsOverlap,
} from '../../reference-services/shared/nats.ts';
import { TIERS } from '../../reference-services/shared/tenant-id.ts';
import { scratchDir } from '../helpers/processes.ts';

// Each tier's workers pull their own consumer of the one work-queue stream. The gateway
// makes every tier's consumer before it queues a job (KEDA reads a missing consumer's lag
// as the whole stream's last sequence); a worker then brings its consumer to its own ack
// wait. A work queue gives a subject to one consumer only.
const scratch = scratchDir('jobs-consumers');
let nats: LocalNatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await LocalNatsCluster.start(scratch.dir);
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  scratch.cleanup();
});
beforeEach(async () => {
  await jsm.streams.delete(JOBS_STREAM).catch(() => undefined);
  await ensureStreams(jsm, [JOBS_STREAM]);
});

const consumerNames = async () => {
  const names: string[] = [];
  for await (const c of jsm.consumers.list(JOBS_STREAM)) names.push(c.name);
  return names.sort();
};

describe('job consumers per tier', () => {
  it('the gateway\'s call creates one consumer per tier on the tier\'s subject, and a second call changes nothing', async () => {
    await ensureTierJobsConsumers(jsm);
    await ensureTierJobsConsumers(jsm);
    expect(await consumerNames()).toEqual(TIERS.map(jobsConsumer).sort());
    for (const tier of TIERS) {
      expect((await jsm.consumers.info(JOBS_STREAM, jobsConsumer(tier))).config, tier).toMatchObject({
        filter_subject: jobSubject(tier), ack_policy: 'explicit', ack_wait: JOBS_ACK_WAIT_MS * 1e6, max_deliver: -1,
      });
    }
  });

  it('a worker brings a consumer the gateway made to its own ack wait; the gateway leaves a worker\'s ack wait alone', async () => {
    await ensureTierJobsConsumers(jsm);
    await ensureJobsConsumer(jsm, jobsConsumer('small'), jobSubject('small'), { ackWaitMs: 1_000 });
    expect((await jsm.consumers.info(JOBS_STREAM, jobsConsumer('small'))).config.ack_wait).toBe(1_000 * 1e6);
    await ensureTierJobsConsumers(jsm);
    expect((await jsm.consumers.info(JOBS_STREAM, jobsConsumer('small'))).config.ack_wait).toBe(1_000 * 1e6);
  });

  it('names the consumer that already holds a tier\'s subject, rather than the server\'s bare refusal', async () => {
    await jsm.consumers.add(JOBS_STREAM, { durable_name: 'workers', filter_subject: 'percolate.jobs.>', ack_policy: AckPolicy.Explicit });
    const refused = await ensureJobsConsumer(jsm, jobsConsumer('medium'), jobSubject('medium')).then(() => undefined, (err: Error) => err);
    expect(refused?.message).toMatch(/cannot create the job consumer workers-medium on percolate\.jobs\.medium: .* already taken by workers \(percolate\.jobs\.>\); delete it/);
    expect(refused?.cause).toBeDefined();
  });

  it('tells overlapping subject filters', () => {
    expect(subjectsOverlap('percolate.jobs.>', 'percolate.jobs.small')).toBe(true);
    expect(subjectsOverlap('percolate.jobs.*', 'percolate.jobs.small')).toBe(true);
    expect(subjectsOverlap('percolate.jobs.small', 'percolate.jobs.small')).toBe(true);
    expect(subjectsOverlap('percolate.jobs.small', 'percolate.jobs.medium')).toBe(false);
    expect(subjectsOverlap('percolate.jobs', 'percolate.jobs.small')).toBe(false);
    expect(subjectsOverlap('percolate.jobs.>', 'percolate.jobs')).toBe(false);
    expect(subjectsOverlap('>', 'percolate.jobs.large')).toBe(true);
  });
});
