import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { latencyHistogram, recordMs, summarize } from './hdr.ts';
import { atFixedRate } from './schedule.ts';

/**
 * The floor for replication lag: bare JetStream, awaited publish in one process and an
 * ordered consumer in another (as db-node A publishes and db-node B applies), at the
 * same rate and payload size. Lag = consume time − timestamp in the message taken
 * just before publishing. Both ends read CLOCK_MONOTONIC (process.hrtime), which is
 * one clock for every process on a machine, so the lag is exact to the microsecond.
 *
 *   consume: creates the stream, proves its consumer receives (a probe), prints
 *            "ready", then prints one JSON line with the lag summary after EXPECT
 *            measured messages (or IDLE_MS without one).
 *   publish: WARMUP unmeasured then COUNT measured messages at RATE per second,
 *            prints one JSON line with publish counts and ack latency.
 */
const env = process.env;
const role = process.argv[2];
const url = env.NATS_URL ?? 'nats://127.0.0.1:4222';
const stream = env.RAW_STREAM ?? 'BENCH_RAW';
const subject = env.RAW_SUBJECT ?? 'bench.raw.lag';
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function consume(): Promise<void> {
  const expect = Number(env.EXPECT ?? 1000);
  const idleMs = Number(env.IDLE_MS ?? 3000);
  const nc = await connect({ servers: url, name: 'bench-raw-consumer' });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File, retention: RetentionPolicy.Limits })
    .catch(async (err) => { await jsm.streams.info(stream).catch(() => { throw err; }); });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const lag = latencyHistogram();
  let ready = false;
  let measured = 0;
  let idle: NodeJS.Timeout | undefined;
  const finish = async () => {
    const s = summarize(lag);
    process.stdout.write(`${JSON.stringify({ count: measured, p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs })}\n`);
    await messages.close();
    await nc.drain();
  };
  const overall = setTimeout(() => { void messages.close(); }, Number(env.TIMEOUT_MS ?? 60_000));
  const probe = setInterval(() => { void js.publish(subject, JSON.stringify({ probe: true })).catch(() => {}); }, 200);
  void js.publish(subject, JSON.stringify({ probe: true }));
  for await (const m of messages) {
    const receivedAt = nowMs();
    const body = m.json<{ ts?: number; probe?: boolean; warmup?: boolean }>();
    if (body.probe) {
      if (!ready) { ready = true; clearInterval(probe); process.stdout.write('ready\n'); }
      continue;
    }
    if (idle) clearTimeout(idle);
    if (!body.warmup && typeof body.ts === 'number') {
      recordMs(lag, receivedAt - body.ts);
      if (++measured >= expect) break;
    }
    idle = setTimeout(() => { void messages.close(); }, idleMs);
  }
  if (idle) clearTimeout(idle);
  clearTimeout(overall);
  clearInterval(probe);
  await finish();
}

async function publish(): Promise<void> {
  const rate = Number(env.RATE ?? 500);
  const count = Number(env.COUNT ?? 1000);
  const warmup = Number(env.WARMUP ?? 0);
  // The JSON around the padding takes ~60 bytes.
  const pad = 'x'.repeat(Math.max(0, Number(env.PAYLOAD_BYTES ?? 512) - 60));
  const nc = await connect({ servers: url, name: 'bench-raw-publisher' });
  const js = jetstream(nc);
  const ack = latencyHistogram();
  let ok = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  const send = (seq: number, isWarmup: boolean) => {
    const started = performance.now();
    const p = js.publish(subject, JSON.stringify({ seq, warmup: isWarmup, pad, ts: nowMs() }))
      .then(() => { if (!isWarmup) { ok++; recordMs(ack, performance.now() - started); } }, () => { if (!isWarmup) errors++; })
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  if (warmup > 0) await atFixedRate(rate, warmup, (i) => send(i, true));
  await atFixedRate(rate, count, (i) => send(warmup + i, false));
  await Promise.all(pending);
  const s = summarize(ack);
  process.stdout.write(`${JSON.stringify({ published: ok, errors, ackP50Ms: s.p50Ms, ackP99Ms: s.p99Ms })}\n`);
  await nc.drain();
}

if (role === 'consume') await consume();
else if (role === 'publish') await publish();
else throw new Error('usage: raw-jetstream.ts consume|publish');
