import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceProcess } from '../../tests/helpers/processes.ts';
import { type BenchEnv, progress, startBareServer, tenantHeaders } from '../cluster.ts';
import { OpenModelGenerator, type OpenModelResult, combine } from '../open-model.ts';

export interface CachedReadOptions { rate: number; seconds: number; warmupSeconds: number; rounds: number }
export interface CachedReadResult { db: OpenModelResult; bare: OpenModelResult }

const TENANT = 'bench-cached';

/**
 * One resource, read at a fixed rate from the db-node and, in the same run, the same
 * bytes from a bare node:http server. The measuring time is split into rounds that
 * alternate which server goes first, so that drift on the machine (another process
 * waking, thermal, GC of the generator) falls on both alike.
 */
export async function cachedRead(env: BenchEnv, node: ServiceProcess, opts: CachedReadOptions): Promise<CachedReadResult> {
  const headers = await tenantHeaders(env, TENANT);
  const created = await fetch(`${node.url}/api/v1/resources`, {
    method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'bench resource', content: 'cached read benchmark body '.repeat(10) }),
  });
  if (created.status !== 201) throw new Error(`create resource: HTTP ${created.status} ${await created.text()}`);
  const { id } = await created.json() as { id: string };
  const path = `/api/v1/resources/${id}`;
  const read = await fetch(`${node.url}${path}`, { headers });
  if (!read.ok) throw new Error(`read resource: HTTP ${read.status}`);
  const bodyFile = join(env.dir, 'cached-read-body.json');
  writeFileSync(bodyFile, Buffer.from(await read.arrayBuffer()));
  const bare = await startBareServer(env, bodyFile);

  const targets: Array<{ name: 'db' | 'bare'; gen: OpenModelGenerator }> = [
    { name: 'db', gen: new OpenModelGenerator(node.url) },
    { name: 'bare', gen: new OpenModelGenerator(bare.url) },
  ];
  const spec = (seconds: number) => ({ rate: opts.rate, durationMs: seconds * 1000, request: () => ({ path, headers }) });
  try {
    for (const { name, gen } of targets) {
      progress(`cached read: warm-up ${name} ${opts.warmupSeconds}s at ${opts.rate} req/s`);
      await gen.run(spec(opts.warmupSeconds));
    }
    const results: Record<'db' | 'bare', OpenModelResult[]> = { db: [], bare: [] };
    const roundSeconds = opts.seconds / opts.rounds;
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const { name, gen } of order) {
        const r = await gen.run(spec(roundSeconds));
        progress(`cached read: round ${round + 1}/${opts.rounds} ${name}: p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, ${r.achievedRps.toFixed(0)} req/s, ${r.errors} errors`);
        results[name].push(r);
      }
    }
    return { db: combine(results.db), bare: combine(results.bare) };
  } finally {
    for (const { gen } of targets) await gen.close();
    await bare.process.stop(10_000);
  }
}
