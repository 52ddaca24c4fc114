import { describe, expect, it } from 'vitest';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { createDbMetrics } from '../../reference-services/db-node/metrics.ts';
import { HybridClock, type SyncMessage } from '../../reference-services/db-node/records.ts';
import { expectSteady } from '../../lib/poll.ts';
import { Replicator } from '../../reference-services/db-node/replication.ts';
import type { TenantStores } from '../../reference-services/db-node/tenant-stores.ts';
import type { Logger } from '../../reference-services/shared/logger.ts';

/** One stream message as a consumer hands it over. */
function message(seq: number) {
  const body: SyncMessage = { v: 1, op: 'resource.put', tenant: 'tenant-a', node: 'db-x', ts: seq, entries: [] };
  return { seq, json: () => body };
}

/**
 * A consumer that hands over `seqs`, then either ends or — `stall` — waits forever without
 * an error, as the ordered consumer did after NATS lost quorum.
 */
function consumerOf(seqs: number[], stall: boolean) {
  let release: () => void = () => {};
  const closed = new Promise<void>((resolve) => { release = resolve; });
  return {
    async consume() {
      return {
        async close() { release(); },
        async *status() { await closed; },
        async *[Symbol.asyncIterator]() {
          for (const seq of seqs) yield message(seq);
          if (stall) await closed;
        },
      };
    },
  };
}

/** The JetStream the Replicator sees: a stream that ends at `lastSeq`; each `consumers.get` answers with the next of `consumers`. */
function fakeJetStream(lastSeq: number, consumers: Array<ReturnType<typeof consumerOf>>) {
  const asked: Array<Record<string, unknown>> = [];
  const js = { consumers: { get: async (_stream: string, opts: Record<string, unknown>) => { asked.push(opts); return consumers.shift() ?? consumerOf([], true); } } };
  const jsm = { streams: { info: async () => ({ state: { last_seq: lastSeq } }) } };
  return { js: js as unknown as JetStreamClient, jsm: jsm as unknown as JetStreamManager, asked };
}

const logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const stores = { apply: async () => {} } as unknown as TenantStores;

describe('db-node replicator: a sync consumer that stalls is replaced', () => {
  it('starts again after the last sequence applied and catches up with the stream', async () => {
    const { js, jsm, asked } = fakeJetStream(6, [consumerOf([1, 2, 3], true), consumerOf([4, 5, 6], true)]);
    const replicator = new Replicator(js, jsm, stores, new HybridClock(), 'db-0', createDbMetrics(new Registry(), () => ({}), () => []), logger, 1_000,
      { stallMs: 300, stallCheckMs: 50 });
    try {
      await replicator.start();
      await expect.poll(() => replicator.appliedSeq, { message: 'applied up to the stream\'s end (6) within 5 s', timeout: 5_000 }).toBe(6);
      expect(asked).toEqual([{ deliver_policy: 'all' }, { deliver_policy: 'by_start_sequence', opt_start_seq: 4 }]);
    } finally {
      await replicator.stop();
    }
  });

  it('leaves a consumer alone while the stream is not ahead of it', async () => {
    const { js, jsm, asked } = fakeJetStream(3, [consumerOf([1, 2, 3], true)]);
    const replicator = new Replicator(js, jsm, stores, new HybridClock(), 'db-0', createDbMetrics(new Registry(), () => ({}), () => []), logger, 1_000,
      { stallMs: 100, stallCheckMs: 20 });
    try {
      await replicator.start();
      await expect.poll(() => replicator.appliedSeq, { timeout: 5_000 }).toBe(3);
      // Many checks' worth, each of which would have replaced a consumer judged stuck.
      await expectSteady('consumers made', () => asked.length, { forMs: 500, intervalMs: 20 });
      expect(asked).toHaveLength(1);
    } finally {
      await replicator.stop();
    }
  });
});
