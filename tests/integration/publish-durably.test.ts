import { type JetStreamClient, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalNatsCluster } from '../../cluster/local/components/nats.ts';
import { publishDurably } from '../../reference-services/shared/nats.ts';
import { scratchDir } from '../helpers/processes.ts';

// A write is acknowledged only once JetStream stored it; while a stream's leader is being
// re-elected (a NATS server lost) publishes fail for a few seconds. publishDurably rides
// that out inside its bound, and its retries never store a message twice.
const scratch = scratchDir('publish-durably');
let nats: LocalNatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await LocalNatsCluster.start(scratch.dir);
  nc = await connect({ servers: nats.url });
  await (await jetstreamManager(nc)).streams.add({
    name: 'DURABLE', subjects: ['durable.>'], storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: 120e9,
  });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  scratch.cleanup();
});

/**
 * The real client, whose first `failures` publishes fail as they do while no leader answers:
 * at once with "no responders", or (`unanswered`) never answered, so that the client's own
 * timer ends them (a request lost with a leader that died).
 */
function failingFirst(failures: number, how: 'no-responders' | 'unanswered' = 'no-responders'): { js: JetStreamClient; attempts: () => number } {
  const real = jetstream(nc);
  let attempts = 0;
  const js = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'publish') return Reflect.get(target, prop, receiver);
      return (...args: Parameters<JetStreamClient['publish']>) => {
        attempts += 1;
        if (attempts > failures) return target.publish(...args);
        if (how === 'no-responders') return Promise.reject(new Error('jetstream is not enabled: no responders'));
        return new Promise((_, reject) => setTimeout(() => reject(new Error('TimeoutError: timeout')), args[2]?.timeout ?? 0));
      };
    },
  });
  return { js, attempts: () => attempts };
}

describe('publishDurably', () => {
  it('retries a publish that found no responder until JetStream stores it, once', async () => {
    const { js, attempts } = failingFirst(3);
    const ack = await publishDurably(js, 'durable.a', 'one', { msgID: 'a-1', timeoutMs: 5_000 });
    expect(attempts()).toBe(4);
    expect(ack.duplicate).toBe(false);
    const again = await publishDurably(jetstream(nc), 'durable.a', 'one', { msgID: 'a-1', timeoutMs: 5_000 });
    expect(again, 'a retry of a stored message is its duplicate, same sequence').toMatchObject({ duplicate: true, seq: ack.seq });
    const info = await (await jetstreamManager(nc)).streams.info('DURABLE');
    expect(info.state.messages).toBe(1);
  });

  it('retries a publish that was never answered (lost with a dead leader) after one attempt\'s bound, not the whole bound', async () => {
    const { js, attempts } = failingFirst(1, 'unanswered');
    const started = Date.now();
    const ack = await publishDurably(js, 'durable.c', 'three', { msgID: 'c-1', timeoutMs: 10_000, attemptTimeoutMs: 300 });
    expect(attempts()).toBe(2);
    expect(ack.duplicate).toBe(false);
    expect(Date.now() - started, 'the lost attempt given up after its 300 ms, far inside the 10 s bound').toBeLessThan(3_000);
  });

  it('gives up near its bound and throws the last attempt\'s error', async () => {
    const started = Date.now();
    // No stream takes this subject: every attempt finds no responder.
    const failed = await publishDurably(jetstream(nc), 'nowhere.b', 'two', { msgID: 'b-1', timeoutMs: 800 }).then(() => undefined, (err: unknown) => err);
    const took = Date.now() - started;
    expect(String(failed), 'the last attempt\'s error').toMatch(/jetstream is not enabled/);
    expect(took, 'retried for most of its 800 ms bound, and stopped near it').toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(800 + 1_000);
  });
});
