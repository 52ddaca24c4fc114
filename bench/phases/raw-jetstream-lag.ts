import { join } from 'node:path';
import { spawnChild } from '../../cluster/local/process/child.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { Fatal, eventually } from '../../lib/poll.ts';
import { onTeardown } from '../teardown.ts';

export interface RawLagOptions { rate: number; count: number; warmup: number; payloadBytes: number }
export interface RawLagResult { count: number; p50Ms: number; p99Ms: number; maxMs: number; published: number; errors: number; ackP99Ms: number }

const script = join(REPO_ROOT, 'bench', 'raw-jetstream.ts');

/** Raw JetStream publish→consume lag, publisher and consumer each in their own process. */
export async function rawJetStreamLag(natsUrl: string, opts: RawLagOptions, logDir: string): Promise<RawLagResult> {
  const env = { NATS_URL: natsUrl, RAW_STREAM: 'BENCH_RAW', RAW_SUBJECT: 'bench.raw.lag' };
  const consumer = spawnChild('raw-consumer', process.execPath, ['--import', 'tsx', script, 'consume'],
    { ...process.env, ...env, EXPECT: String(opts.count) }, join(logDir, 'raw-consumer.log'));
  onTeardown('raw consumer', async () => { await consumer.stop(10_000); });
  await eventually('raw JetStream consumer ready', () => {
    if (!consumer.running) throw new Fatal(`raw consumer exited:\n${consumer.tail(1000)}`);
    return consumer.output.includes('ready\n');
  }, (ready) => ready, { timeoutMs: 15_000, intervalMs: 50 });
  const publisher = spawnChild('raw-publisher', process.execPath, ['--import', 'tsx', script, 'publish'], {
    ...process.env, ...env, RATE: String(opts.rate), COUNT: String(opts.count), WARMUP: String(opts.warmup), PAYLOAD_BYTES: String(opts.payloadBytes),
  }, join(logDir, 'raw-publisher.log'));
  onTeardown('raw publisher', async () => { await publisher.stop(10_000); });
  const bound = Math.ceil(((opts.count + opts.warmup) / opts.rate) * 1000) + 20_000;
  const timer = setTimeout(() => { void publisher.stop(10_000); void consumer.stop(10_000); }, bound);
  const [pub, con] = await Promise.all([publisher.exited, consumer.exited]);
  clearTimeout(timer);
  const last = (logs: Record<string, unknown>[]) => logs.at(-1);
  const p = last(publisher.jsonLogs());
  const c = last(consumer.jsonLogs());
  if (pub.code !== 0 || con.code !== 0 || !p || !c) {
    throw new Error(`raw JetStream baseline failed (publisher ${pub.code ?? pub.signal}, consumer ${con.code ?? con.signal}):\n${publisher.tail(800)}\n${consumer.tail(800)}`);
  }
  return {
    count: c.count as number, p50Ms: c.p50Ms as number, p99Ms: c.p99Ms as number, maxMs: c.maxMs as number,
    published: p.published as number, errors: p.errors as number, ackP99Ms: p.ackP99Ms as number,
  };
}
