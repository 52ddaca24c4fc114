import { RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { pollBound } from '../../lib/poll.ts';
import { scratchDir } from '../helpers/processes.ts';

// The three-server NATS of the local target says which server leads each stream, so T6.4
// can stop the one whose loss forces an election rather than whichever comes first.
const scratch = scratchDir('nats-cluster');
let nats: LocalNatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await LocalNatsCluster.start(scratch.dir, { replicas: 3 });
  // Every server, and no giving up: the one it is on is stopped below (the servers do not advertise each other to clients).
  nc = await connect({ servers: nats.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  await (await jetstreamManager(nc)).streams.add({ name: 'LEAD', subjects: ['lead.>'], storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: 3 });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  scratch.cleanup();
});

describe('local NATS cluster: stream leaders', () => {
  it('names the leader JetStream reports, and the new one after the leader is stopped', async () => {
    const jsm = await jetstreamManager(nc);
    const leader = (await jsm.streams.info('LEAD')).cluster?.leader;
    expect(leader).toMatch(/^nats-[012]$/);
    expect((await nats.streamLeaders()).LEAD).toBe(leader);

    await nats.stopNode(leader!, 0, 'SIGKILL');
    try {
      // Until its peers elect another (4-9 s without a leader), they still name the lost one.
      const others = ['nats-0', 'nats-1', 'nats-2'].filter((n) => n !== leader);
      await expect.poll(async () => others.includes((await nats.streamLeaders()).LEAD ?? 'none'), pollBound('another leader of LEAD elected', 30_000)).toBe(true);
      const next = (await nats.streamLeaders()).LEAD;
      // Our own client may have been on the stopped server: its requests wait for its reconnect.
      await expect.poll(async () => (await jsm.streams.info('LEAD').catch(() => undefined))?.cluster?.leader, pollBound(`JetStream naming ${next} the leader of LEAD`, 30_000)).toBe(next);
    } finally {
      await nats.startNode(leader!);
    }
  });
});
