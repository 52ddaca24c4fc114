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
  const jsm = { streams: { info: async () => ({ state: { last_seq: lastSeq, first_seq: 1, messages: lastSeq } }) } };
  return { js: js as unknown as JetStreamClient, jsm: jsm as unknown as JetStreamManager, asked };
}

const logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const stores = { apply: async () => {} } as unknown as TenantStores;

describe('db-node replicator: where it starts', () => {
  it('from a snapshot: its state applied, then the stream from the sequence after it', async () => {
    const { js, jsm, asked } = fakeJetStream(12, [consumerOf([11, 12], true)]);
    const applied: Array<[string, number]> = [];
    const counting = { apply: async (tenant: string, entries: unknown[]) => { applied.push([tenant, entries.length]); return entries.length; } } as unknown as TenantStores;
    const clock = new HybridClock();
    const replicator = new Replicator(js, jsm, counting, clock, 'db-0', createDbMetrics(new Registry(), () => ({}), () => []), logger, 1_000);
    try {
      const entry = (ts: number) => ({ key: `r!${ts}`, ts, node: 'db-1', kv: 1, ct: '' });
      await replicator.start({ v: 1, seq: 10, node: 'db-1', takenAt: '', tenants: { 'tenant-a': [entry(5), entry(9e15)], 'tenant-b': [entry(7)] } });
      expect(asked).toEqual([{ deliver_policy: 'by_start_sequence', opt_start_seq: 11 }]);
      expect(applied.slice(0, 2)).toEqual([['tenant-a', 2], ['tenant-b', 1]]);
      await expect.poll(() => replicator.appliedSeq, { message: 'applied up to 12 within 5 s', timeout: 5_000 }).toBe(12);
      expect(replicator.isCaughtUp()).toBe(true);
      // The clock moved past every write the snapshot held: a later local write wins over them.
      expect(clock.now()).toBeGreaterThan(9e15);
    } finally {
      await replicator.stop();
    }
  });

  it('a snapshot ahead of the stream (taken of a stream made again since) is ignored: the whole stream is replayed', async () => {
    const { js, jsm, asked } = fakeJetStream(3, [consumerOf([1, 2, 3], true)]);
    const replicator = new Replicator(js, jsm, stores, new HybridClock(), 'db-0', createDbMetrics(new Registry(), () => ({}), () => []), logger, 1_000);
    try {
      await replicator.start({ v: 1, seq: 50, node: 'db-1', takenAt: '', tenants: {} });
      expect(asked).toEqual([{ deliver_policy: 'all' }]);
      await expect.poll(() => replicator.appliedSeq, { timeout: 5_000 }).toBe(3);
    } finally {
      await replicator.stop();
    }
  });
});

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
