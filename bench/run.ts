/**
 * `npm run bench`: latency and lag of the reference services on loopback, each beside
 * its floor (bare node:http, raw JetStream), every service driven at a fixed request
 * rate (an open model) and measured with HDR histograms. Progress goes to stderr; the
 * figures go to stdout as `name: value` lines, then one line per target.
 *
 * The exit code is 0 whether targets pass or fail: the figures are for people to read
 * (and this 2-core machine shares its cores between generator and servers), not a
 * gate. It is 1 only when the bench itself could not run.
 *
 * Knobs (environment): BENCH_RATE, BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_ROUNDS
 * (cached reads); BENCH_COLD_TENANTS, BENCH_COLD_RATE, BENCH_COLD_OPEN_MS; BENCH_WRITE_RATE,
 * BENCH_WRITE_SECONDS (replication and its raw baseline); BENCH_JOB_RATE, BENCH_JOB_SECONDS,
 * BENCH_JOB_WARMUP; BENCH_SEARCH_QUERIES (search at 1k/10k/100k records per tenant);
 * BENCH_CLUSTER_RATE, BENCH_CLUSTER_SECONDS (seed000: a local cluster's load
 * balancer beside its pod, cold reads, worker cold start, scaling decision);
 * BENCH_MESH_CONNECTIONS, BENCH_MESH_TENANTS, BENCH_MESH_SECONDS, BENCH_MESH_ROUNDS (mesh:
 * the most reads per second through the load balancer beside the container alone);
 * BENCH_PHASES=cached,cold,replication,raw,jobs,search,seed000,mesh to run a subset;
 * BENCH_KEEP=1 to keep the scratch dir with every process's log.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { ServiceProcess } from '../tests/helpers/processes.ts';
import { type BenchEnv, progress, startBenchEnv, startDbNode } from './cluster.ts';
import { type Figures, TARGETS, formatFigure, targetLine } from './report.ts';
import { cachedRead } from './phases/cached-read.ts';
import { coldOpen } from './phases/cold-open.ts';
import { jobDelivery } from './phases/job-delivery.ts';
import { rawJetStreamLag } from './phases/raw-jetstream-lag.ts';
import { replication } from './phases/replication.ts';
import { searchScaling } from './phases/search-index.ts';
import { loadProfile } from '../lib/time.ts';
import { SEED000_TARGETS, seed000Cluster } from './phases/seed-000-cluster.ts';
import { meshPath } from './phases/mesh-path.ts';
import { teardown, teardownOnSignals } from './teardown.ts';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
};

const config = {
  readRate: num('BENCH_RATE', 2000),
  readSeconds: num('BENCH_SECONDS', 10),
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 3),
  rounds: num('BENCH_ROUNDS', 10),
  coldTenants: num('BENCH_COLD_TENANTS', 40),
  coldRate: num('BENCH_COLD_RATE', 10),
  coldOpenMs: num('BENCH_COLD_OPEN_MS', 80),
  writeRate: num('BENCH_WRITE_RATE', 500),
  writeSeconds: num('BENCH_WRITE_SECONDS', 10),
  jobRate: num('BENCH_JOB_RATE', 50),
  jobSeconds: num('BENCH_JOB_SECONDS', 20),
  jobWarmup: num('BENCH_JOB_WARMUP', 20),
  searchQueries: num('BENCH_SEARCH_QUERIES', 2000),
  clusterRate: num('BENCH_CLUSTER_RATE', 50),
  clusterSeconds: num('BENCH_CLUSTER_SECONDS', 10),
  meshConnections: num('BENCH_MESH_CONNECTIONS', 32),
  meshTenants: num('BENCH_MESH_TENANTS', 40),
  meshSeconds: num('BENCH_MESH_SECONDS', 20),
  meshRounds: num('BENCH_MESH_ROUNDS', 4),
};
const ALL_PHASES = ['cached', 'cold', 'replication', 'raw', 'jobs', 'search', 'seed000', 'mesh'] as const;
type Phase = (typeof ALL_PHASES)[number];
const phases = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()) as Phase[]);
for (const p of phases) if (!ALL_PHASES.includes(p)) throw new Error(`BENCH_PHASES: unknown phase "${p}" (known: ${ALL_PHASES.join(', ')})`);

const figures: Figures = new Map([
  'db_read_cached_p50_ms', 'db_read_cached_p99_ms', 'db_read_rps', 'bare_http_rps', 'db_read_cached_p99_ratio_vs_bare',
  'db_cold_open_p50_ms', 'replication_lag_p50_ms', 'replication_lag_p99_ms', 'replication_lag_p99_ratio_vs_raw',
  'job_delivery_p99_ms',
  'search_1k_p99_ms', 'search_10k_p99_ms', 'search_100k_p99_ms', 'search_cached_read_p99_ms', 'search_p99_ratio_100k_vs_1k',
  'lb_read_cached_p99_ms', 'direct_read_cached_p99_ms', 'lb_read_cached_p99_ratio_vs_direct',
  'lb_cold_read_p50_ms', 'lb_cold_read_p99_ms', 'lb_cold_read_p99_ratio_vs_cold_open', 'worker_cold_start_ms', 'scaling_decision_ms',
  'lb_throughput_rps', 'direct_throughput_rps', 'lb_throughput_ratio_vs_direct', 'lb_closed_loop_p99_ms', 'direct_closed_loop_p99_ms', 'lb_closed_loop_p99_ratio_vs_direct',
].map((name) => [name, undefined]));

const ms = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(3)} ms`);

async function main(): Promise<void> {
  const started = Date.now();
  const [load1] = loadavg();
  progress(`load average ${load1!.toFixed(2)} on ${availableParallelism()} cores before start` +
    (load1! > 0.5 ? ': other work on this machine will show in the p99s' : ''));
  const env: BenchEnv = await startBenchEnv();
  progress(`nats-server on ${env.nats.url}, scratch ${env.dir}`);
  const needsDb = phases.has('cached') || phases.has('cold') || phases.has('replication') || phases.has('jobs');
  let nodeA: ServiceProcess | undefined;
  let nodeB: ServiceProcess | undefined;
  if (needsDb) {
    progress('starting db-node-0 and db-node-1');
    // Node A also serves the cold-open phase: a small cache so tenants really get evicted.
    [nodeA, nodeB] = await Promise.all([
      startDbNode(env, 'db-node-0', { COLD_OPEN_MS: String(config.coldOpenMs), TENANT_CACHE_SIZE: '8', ZONE: 'zone-a' }),
      startDbNode(env, 'db-node-1', { ZONE: 'zone-b' }),
    ]);
  }

  if (phases.has('cached') && nodeA) {
    const { db, bare } = await cachedRead(env, nodeA, {
      rate: config.readRate, seconds: config.readSeconds, warmupSeconds: config.warmupSeconds, rounds: config.rounds,
    });
    for (const [name, r] of [['db-node', db], ['bare', bare]] as const) {
      const service = r.service;
      progress(`cached read ${name}: ${r.ok}/${r.sent} ok, p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, max ${ms(r.maxMs)}, ` +
        `${r.achievedRps.toFixed(0)} req/s; from issue p50 ${ms(service.getValueAtPercentile(50) / 1000)}, ` +
        `p99 ${ms(service.getValueAtPercentile(99) / 1000)}; generator send lag p99 ${ms(r.sendLagP99Ms)}` +
        (r.errors ? `; errors ${JSON.stringify(r.errorReasons)}` : ''));
    }
    figures.set('db_read_cached_p50_ms', db.p50Ms);
    figures.set('db_read_cached_p99_ms', db.p99Ms);
    figures.set('db_read_rps', db.achievedRps);
    figures.set('bare_http_rps', bare.achievedRps);
    figures.set('db_read_cached_p99_ratio_vs_bare', db.p99Ms / bare.p99Ms);
  }

  if (phases.has('cold') && nodeA) {
    const { result, misses } = await coldOpen(env, nodeA, { tenants: config.coldTenants, rate: config.coldRate });
    progress(`cold open: ${result.ok}/${result.sent} ok, p50 ${ms(result.p50Ms)}, p99 ${ms(result.p99Ms)}, ` +
      `cache misses counted by the node: ${misses ?? 'n/a'} (COLD_OPEN_MS=${config.coldOpenMs})` +
      (result.errors ? `; errors ${JSON.stringify(result.errorReasons)}` : ''));
    if (misses !== undefined && misses < result.ok) progress(`cold open: WARNING only ${misses} of ${result.ok} first requests were cache misses`);
    figures.set('db_cold_open_p50_ms', result.p50Ms);
  }

  let payloadBytes = 700;
  if (phases.has('replication') && nodeA && nodeB) {
    const r = await replication(env, nodeA, nodeB, { rate: config.writeRate, seconds: config.writeSeconds, tenants: 4, contentBytes: 256 });
    progress(`replication: lag on ${nodeB.name} p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)} (Summary over its last minute), ` +
      `${r.applied ?? 'n/a'} writes applied during the phase, sync message ${r.syncMessageBytes ?? 'n/a'} bytes` +
      (r.writes.errors ? `; write errors ${JSON.stringify(r.writes.errorReasons)}` : ''));
    if (r.p99Ms === undefined) progress('replication: node B exports no percolate_replication_lag_quantile_seconds{quantile="0.99"}');
    payloadBytes = r.syncMessageBytes ?? payloadBytes;
    figures.set('replication_lag_p50_ms', r.p50Ms);
    figures.set('replication_lag_p99_ms', r.p99Ms);
  }

  if (phases.has('raw')) {
    progress(`raw JetStream: ${config.writeRate} msg/s of ${payloadBytes} bytes for ${config.writeSeconds}s, publisher and consumer in their own processes`);
    const raw = await rawJetStreamLag(env.nats.url, {
      rate: config.writeRate, count: config.writeRate * config.writeSeconds, warmup: config.writeRate, payloadBytes,
    }, env.dir);
    progress(`raw JetStream: ${raw.count} consumed of ${raw.published} published (${raw.errors} publish errors), ` +
      `lag p50 ${ms(raw.p50Ms)}, p99 ${ms(raw.p99Ms)}, max ${ms(raw.maxMs)}; publish ack p99 ${ms(raw.ackP99Ms)}`);
    const dbP99 = figures.get('replication_lag_p99_ms');
    if (dbP99 !== undefined) figures.set('replication_lag_p99_ratio_vs_raw', dbP99 / raw.p99Ms);
  }

  if (phases.has('jobs') && nodeA) {
    const r = await jobDelivery(env, nodeA, { rate: config.jobRate, seconds: config.jobSeconds, warmupJobs: config.jobWarmup });
    figures.set('job_delivery_p99_ms', r.p99Ms);
  }
  if (phases.has('search')) {
    const { sizes } = await searchScaling([1_000, 10_000, 100_000], config.searchQueries, progress);
    for (const s of sizes) figures.set(`search_${s.records / 1000}k_p99_ms`, s.searchP99Ms);
    figures.set('search_cached_read_p99_ms', sizes.at(-1)!.readP99Ms);
    figures.set('search_p99_ratio_100k_vs_1k', sizes.at(-1)!.searchP99Ms / sizes[0]!.searchP99Ms);
  }
  if (phases.has('seed000')) {
    const r = await seed000Cluster({ rate: config.clusterRate, seconds: config.clusterSeconds, coldTenants: config.coldTenants, coldRate: config.coldRate });
    for (const [name, x] of [['load balancer', r.lb], ['direct', r.direct], ['cold via load balancer', r.cold]] as const) {
      progress(`seed 000 ${name}: ${x.ok}/${x.sent} ok, p50 ${ms(x.p50Ms)}, p99 ${ms(x.p99Ms)}, max ${ms(x.maxMs)}` + (x.errors ? `; errors ${JSON.stringify(x.errorReasons)}` : ''));
    }
    figures.set('lb_read_cached_p99_ms', r.lb.p99Ms);
    figures.set('direct_read_cached_p99_ms', r.direct.p99Ms);
    figures.set('lb_read_cached_p99_ratio_vs_direct', r.lb.p99Ms / r.direct.p99Ms);
    figures.set('lb_cold_read_p50_ms', r.cold.p50Ms);
    figures.set('lb_cold_read_p99_ms', r.cold.p99Ms);
    // Beside the fast profile's stand-in for opening a tenant's store, the floor of a cold read.
    figures.set('lb_cold_read_p99_ratio_vs_cold_open', r.cold.p99Ms / loadProfile('fast').coldOpenMs);
    figures.set('worker_cold_start_ms', r.workerColdStartMs);
    figures.set('scaling_decision_ms', r.scalingDecisionMs);
  }
  if (phases.has('mesh')) {
    const r = await meshPath({ connections: config.meshConnections, tenants: config.meshTenants, seconds: config.meshSeconds, rounds: config.meshRounds });
    for (const [name, x] of [['load balancer', r.lb], ['container', r.direct]] as const) {
      progress(`mesh path ${name}: ${x.rps.toFixed(0)} req/s, p50 ${ms(x.p50Ms)}, p99 ${ms(x.p99Ms)}` + (x.errors ? `; errors ${JSON.stringify(x.errorReasons)}` : ''));
    }
    figures.set('lb_throughput_rps', r.lb.rps);
    figures.set('direct_throughput_rps', r.direct.rps);
    figures.set('lb_throughput_ratio_vs_direct', r.lb.rps / r.direct.rps);
    figures.set('lb_closed_loop_p99_ms', r.lb.p99Ms);
    figures.set('direct_closed_loop_p99_ms', r.direct.p99Ms);
    figures.set('lb_closed_loop_p99_ratio_vs_direct', r.lb.p99Ms / r.direct.p99Ms);
  }
  progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

teardownOnSignals();
let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  progress(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
} finally {
  progress('stopping everything');
  await teardown();
}
for (const [name, value] of figures) process.stdout.write(`${formatFigure(name, value)}\n`);
process.stdout.write('\n');
for (const target of [...TARGETS, ...SEED000_TARGETS]) process.stdout.write(`${targetLine(target, figures.get(target.figure))}\n`);
process.exitCode = failed ? 1 : 0;
